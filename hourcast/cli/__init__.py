"""The ``hourcast`` command line (console script ``hourcast = hourcast.cli:app``)."""

from hourcast.cli.main import app

__all__ = ["app"]
