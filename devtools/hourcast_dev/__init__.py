"""Hourcast development tools, kept out of the ``hourcast`` package the images install.

- :mod:`hourcast_dev.local_stack`: start and stop MLflow, moto, the API and Mage as local
  background processes; :mod:`hourcast_dev.stack_cli` makes it ``hourcast stack``.
- :mod:`hourcast_dev.openaq_fake`: a local fake of the OpenAQ v3 API serving the sample data
  in ``data/`` (``python -m hourcast_dev.openaq_fake --port 8089``).
"""

__all__: list[str] = []
