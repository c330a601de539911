"""Throwaway databases on a PostgreSQL server, for the integration tests and the benchmarks.

``admin_url`` is a SQLAlchemy URL of a role that may create databases (the local server at
127.0.0.1:5432 with trust auth, or ``HOURCAST_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import os
import uuid

import sqlalchemy as sa

__all__ = ["DEFAULT_ADMIN_URL", "admin_url", "create_database", "drop_database", "reachable"]

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """``HOURCAST_TEST_DATABASE_URL``, else the local server's ``postgres`` database."""
    return os.environ.get("HOURCAST_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)


def _run(admin: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def reachable(admin: str) -> None:
    """Connect once.

    Raises:
        sqlalchemy.exc.OperationalError: The server does not answer.
    """
    _run(admin, "SELECT 1")


def create_database(admin: str, prefix: str) -> str:
    """Create an empty database ``<prefix>_<random hex>``; returns its URL (same role)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _run(admin, f'CREATE DATABASE "{name}"')
    return sa.make_url(admin).set(database=name).render_as_string(hide_password=False)


def drop_database(admin: str, url: str) -> None:
    """Drop the database of ``url``, ending its open connections."""
    name = sa.make_url(url).database
    _run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
