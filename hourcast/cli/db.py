"""``hourcast db``: the observation store."""

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from hourcast.settings import get_settings

__all__ = ["db_app", "migrated_store"]

db_app = typer.Typer(help="The observation store.", no_args_is_help=True)
console = Console()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply schema migrations to HOURCAST_DATABASE_URL (SQLite under .hourcast by default)."""
    from hourcast.storage.db import create_db_engine, upgrade

    settings = get_settings()
    engine = create_db_engine(settings.resolved_database_url)
    reached = upgrade(engine, revision)
    console.print(f"database at revision [bold]{reached}[/bold] ({engine.url.render_as_string()})")


def migrated_store() -> Engine:
    """An engine on the store of HOURCAST_DATABASE_URL, migrated to the newest revision."""
    from hourcast.storage.db import create_db_engine, upgrade

    engine = create_db_engine(get_settings().resolved_database_url)
    upgrade(engine)
    return engine
