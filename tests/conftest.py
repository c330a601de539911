"""Shared fixtures: a throwaway PostgreSQL database, and real moto, MLflow and API servers.

Integration fixtures start real processes on free loopback ports (via ``hourcast_dev.local_stack``)
and stop them at the end of the session. PostgreSQL is the one at 127.0.0.1:5432 or
``HOURCAST_TEST_DATABASE_URL``; each session creates and drops its own databases.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn

from hourcast.storage.db import create_db_engine, upgrade
from hourcast_dev import local_stack

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "HOURCAST_TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _admin_engine() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


@dataclass(frozen=True)
class PostgresDatabases:
    """Creates throwaway databases on the test server and drops them at the end."""

    admin_url: str

    def create(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        engine = _admin_engine()
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return str(sa.make_url(self.admin_url).set(database=name))

    @staticmethod
    def drop(url: str) -> None:
        name = sa.make_url(url).database
        engine = _admin_engine()
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    """The PostgreSQL test server; fails (never skips) with a hint when it is down."""
    engine = _admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {ADMIN_URL} ({exc.orig}). Start it (see README, "
            "'PostgreSQL') or set HOURCAST_TEST_DATABASE_URL.",
            pytrace=False,
        )
    finally:
        engine.dispose()
    return PostgresDatabases(ADMIN_URL)


@pytest.fixture
def pg_url(postgres: PostgresDatabases) -> Iterator[str]:
    """A fresh, empty database for one test."""
    url = postgres.create("hourcast_test")
    yield url
    postgres.drop(url)


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    """The observation store in a fresh PostgreSQL database, migrated to head.

    Modules that test on SQLite define their own ``engine``.
    """
    engine = create_db_engine(pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PID files and logs of the servers this session starts."""
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="session")
def moto_endpoint(run_dir: Path) -> Iterator[str]:
    """A moto server (S3 + Secrets Manager); the AWS variables point boto3 at fake keys."""
    os.environ.update(AWS_ENV)
    port = local_stack.free_port()
    local_stack.start(local_stack.moto_service(port=port, env=AWS_ENV), run_dir)
    yield f"http://127.0.0.1:{port}"
    local_stack.stop(run_dir, "moto")


@dataclass(frozen=True)
class MlflowServer:
    """A running tracking server with a PostgreSQL backend store and S3 (moto) artifacts."""

    tracking_uri: str
    backend_store_uri: str
    bucket: str
    prefix: str
    s3_endpoint: str


@pytest.fixture(scope="session")
def mlflow_server(
    postgres: PostgresDatabases, moto_endpoint: str, run_dir: Path
) -> Iterator[MlflowServer]:
    import boto3

    bucket, prefix = "hourcast-mlflow", "mlartifacts"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    backend = postgres.create("mlflow_test")
    port = local_stack.free_port()
    env = {**AWS_ENV, "MLFLOW_S3_ENDPOINT_URL": moto_endpoint}
    service = local_stack.mlflow_service(
        port=port,
        backend_store_uri=backend,
        artifacts_destination=f"s3://{bucket}/{prefix}",
        env=env,
    )
    local_stack.start(service, run_dir)
    yield MlflowServer(f"http://127.0.0.1:{port}", backend, bucket, prefix, moto_endpoint)
    local_stack.stop(run_dir, "mlflow")
    postgres.drop(backend)


@pytest.fixture(scope="session")
def mage_python() -> Path:
    """Python of the Mage virtualenv (built by `make setup`)."""
    path = ROOT / os.environ.get("HOURCAST_MAGE_PYTHON", ".venv-mage/bin/python")
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make setup` first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def python_bin() -> Path:
    """Folder of the running interpreter's console scripts (hourcast, uvicorn, mlflow)."""
    return Path(sys.executable).parent


class ApiServer:
    """An ASGI app under uvicorn in a thread: ``with ApiServer(app) as url``."""

    def __init__(self, app: Any) -> None:
        self.port = local_stack.free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
