"""The ``hourcast`` command line: one module per command group.

``db`` (:mod:`.db`), ``ingest`` (:mod:`.ingest`), ``train`` (:mod:`.train`), ``models``
(:mod:`.models`), ``forecast`` (:mod:`.forecast`), and the API's callers: ``users``
(:mod:`.users`) and ``keys`` (:mod:`.keys`). Development tools add their own groups
through the ``hourcast.cli`` entry-point group: the development package ``hourcast-dev``
(``devtools/``) adds ``stack``, the local MLflow/API/Mage processes.

Options use ``Optional[X]``, not ``X | None``: mage-ai pins typer 0.9, which cannot parse
PEP 604 unions (and needs real, not postponed, annotations).
"""

import os
from importlib.metadata import entry_points

import typer

from hourcast.cli.db import db_app
from hourcast.cli.forecast import forecast_command
from hourcast.cli.ingest import ingest_app
from hourcast.cli.keys import keys_app
from hourcast.cli.models import models_app
from hourcast.cli.train import train_app
from hourcast.cli.users import users_app

__all__ = ["PLUGIN_GROUP", "app"]

PLUGIN_GROUP = "hourcast.cli"
"""Entry-point group of command groups added by other installed packages."""

app = typer.Typer(
    help="Hourcast: hourly forecasts of air quality and traffic.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")
app.add_typer(train_app, name="train")
app.add_typer(models_app, name="models")
app.command("forecast")(forecast_command)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
for _plugin in entry_points(group=PLUGIN_GROUP):
    app.add_typer(_plugin.load(), name=_plugin.name)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
