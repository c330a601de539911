"""``python -m hourcast.cli``: the same as the ``hourcast`` console script."""

import os

from hourcast.cli.main import app

os.environ.setdefault("PYTHONUNBUFFERED", "1")
app()
