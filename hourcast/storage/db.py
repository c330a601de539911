"""Engines and schema migrations (Alembic, run programmatically by ``hourcast db upgrade``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import Connection, Engine, create_engine, event

if TYPE_CHECKING:
    # Alembic is imported where it is used: reading and writing rows never needs it.
    from alembic.config import Config
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

__all__ = [
    "alembic_config",
    "compared_name",
    "connected",
    "create_db_engine",
    "current_revision",
    "head_revision",
    "upgrade",
    "upgrade_database",
]

_MIGRATIONS = Path(__file__).parent / "migrations"
_PARTITION = re.compile(r"observations_(y\d{4}|default)")


def _json_text(value: object) -> str:
    # JSON columns (the prediction log's forecasts and intervals): orjson encodes them about
    # ten times faster than the standard library, which took a fifth of a 1,000-series batch.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url`` with settings that suit the dialect.

    SQLite gets foreign keys switched on and a busy timeout so that the API can read while an
    ingestion writes.
    """
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, json_serializer=_json_text)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, json_serializer=_json_text
    )


def compared_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    """Whether Alembic compares a schema object with ``schema.metadata`` (``include_name``).

    Not the partitions of ``observations`` (``observations_y<year>``, ``observations_default``):
    migration 0006 creates them and the metadata describes only their parent table.
    """
    return not (type_ == "table" and name is not None and _PARTITION.fullmatch(name))


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; returns the revision the database is at."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)
    return current_revision(engine)


def upgrade_database(url: str, revision: str = "head") -> str | None:
    """Apply migrations to the database at ``url``; returns the revision it is at.

    For a step that only migrates (the Mage pipelines' first block): its engine is disposed of.
    """
    engine = create_db_engine(url)
    try:
        return upgrade(engine, revision)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The migration revision the database is at (None before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest migration revision shipped with this package."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


@contextmanager
def connected(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection for ``bind``, so read helpers accept an engine or a connection.

    A new connection from an engine, or the caller's own (inside its transaction).
    """
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            yield connection
    else:
        yield bind
