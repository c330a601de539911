"""Shared fixtures: a throwaway PostgreSQL database, and real moto, MLflow and API servers.

Integration fixtures start real processes on free loopback ports (via ``hourcast_dev.local_stack``)
and stop them at the end of the session. PostgreSQL is the one at 127.0.0.1:5432 or
``HOURCAST_TEST_DATABASE_URL``; each session creates and drops its own databases.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn

from hourcast.storage.db import create_db_engine, upgrade
from hourcast.training.retrain_trigger import write_trigger_tokens
from hourcast_dev import local_stack, postgres

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = postgres.admin_url()
AWS_ENV = local_stack.MOTO_AWS_ENV
# MLflow's telemetry thread writes os.environ while other threads read it (a KeyError from
# os.environ.items() in a notebook test's fixture); nothing is sent from here anyway.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Every API the tests start (in process or as a subprocess, which inherits the environment)
# signs its tokens with this key, so a token from `signed_in_headers` is valid on all of them.
os.environ.setdefault("HOURCAST_JWT_SECRET_KEY", secrets.token_urlsafe(32))


# The slowest test modules, slowest first (serial `--durations`, setup included). `make test`
# runs the suite on two workers, a module per work unit in collection order
# (`--dist loadfile --no-loadscope-reorder`); starting the long modules first keeps one worker
# from finishing a long module alone at the end.
SLOWEST_MODULES = (
    "test_e2e",
    "test_model_lifecycle",
    "test_notebooks",
    "test_monitor_retrain",
    "test_ingest_pipelines",
    "test_training_charts",
    "test_mage_ui",
    "test_ingestion_openaq",
    "test_api_pm25",
    "test_stack_cli",
    "test_api_schema",
    "test_openaq_archive",
    "test_ingestion_traffic",
    "test_champion_uis",
    "test_api_prediction_log",
    "test_workflows",
    "test_cli_auth",
    "test_tuning",
    "test_admin_retrain",
    "test_policy",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slowest modules first; the order inside a module, and of the rest, is kept."""
    rank = {name: position for position, name in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


@dataclass(frozen=True)
class PostgresDatabases:
    """Creates throwaway databases on the test server and drops them at the end."""

    admin_url: str

    def create(self, prefix: str) -> str:
        return postgres.create_database(self.admin_url, prefix)

    def drop(self, url: str) -> None:
        postgres.drop_database(self.admin_url, url)


@pytest.fixture(scope="session", name="postgres")
def postgres_server() -> PostgresDatabases:
    """The PostgreSQL test server; fails (never skips) with a hint when it is down."""
    try:
        postgres.reachable(ADMIN_URL)
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {ADMIN_URL} ({exc.orig}). Start it (see README, "
            "'PostgreSQL') or set HOURCAST_TEST_DATABASE_URL.",
            pytrace=False,
        )
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


@contextmanager
def sqlite_mlflow_server(root: Path) -> Iterator[str]:
    """A tracking server of one module's own: SQLite backend and artifacts under ``root``.

    Yields:
        str: Its tracking URI; the server stops when the block ends.
    """
    port = local_stack.free_port()
    service = local_stack.mlflow_service(
        port=port,
        backend_store_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifacts_destination=str(root / "artifacts"),
        env={},
    )
    run_dir = root / "run"
    local_stack.start(service, run_dir)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        local_stack.stop(run_dir, "mlflow")


@pytest.fixture(scope="session")
def mage_python() -> Path:
    """Python of the Mage virtualenv (built by `make setup`)."""
    path = ROOT / os.environ.get("HOURCAST_MAGE_PYTHON", ".venv-mage/bin/python")
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make setup` first", pytrace=False)
    return path


@dataclass(frozen=True)
class MageServer:
    """A headless ``mage start`` on a copy of orchestration/, with its own databases."""

    url: str
    metadata_url: str  # Mage's own database
    store_url: str  # the observation store its pipelines write to
    trigger_token: str  # of every API trigger, written into triggers.yaml as in production
    log: Path  # its mage.log, for a test's failure message

    def runs_report(self) -> str:
        """Mage's pipeline runs and their block runs, and the end of its log: why a run waits."""
        engine = sa.create_engine(self.metadata_url)
        try:
            with engine.connect() as connection:
                runs = connection.execute(
                    sa.text(
                        "SELECT r.id, r.pipeline_uuid, r.status, r.created_at, "
                        "string_agg(b.block_uuid || ':' || b.status, ', ') "
                        "FROM pipeline_run r LEFT JOIN block_run b ON b.pipeline_run_id = r.id "
                        "GROUP BY r.id ORDER BY r.id"
                    )
                ).all()
        finally:
            engine.dispose()
        lines = [" | ".join(str(part) for part in run) for run in runs]
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"
        return "\n".join(["pipeline runs:", *lines, f"--- {self.log} ---", tail])


def scalar(url: str, query: str, **params: object) -> object:
    """The first column of the first row of ``query`` on the database at ``url``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query), params).scalar()
    finally:
        engine.dispose()


def wait_for(probe: Callable[[], object], what: str, timeout: float) -> object:
    """Poll ``probe`` every second until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def mage_server(
    postgres: PostgresDatabases, mage_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MageServer]:
    """One headless Mage server for the session (it takes about a minute to start).

    Tests that share it count Mage's runs before and after, never from zero.
    """
    metadata_url = postgres.create("mage_meta")
    store_url = postgres.create("mage_store")
    home = tmp_path_factory.mktemp("mage")
    port = local_stack.free_port()
    env = {
        "MAGE_DATABASE_CONNECTION_URL": metadata_url,
        "MAGE_DATA_DIR": str(home / "mage_data"),
        "HOURCAST_DATABASE_URL": store_url,
        "HOURCAST_HOME": str(home / "hourcast_home"),
    }
    # On a copy: Mage writes the synced triggers back into triggers.yaml.
    project = home / "project" / "orchestration"
    shutil.copytree(
        ROOT / "orchestration",
        project,
        ignore=shutil.ignore_patterns(".file_versions", ".ssh_tunnel", "__pycache__"),
    )
    token = secrets.token_hex(16)
    write_trigger_tokens(project, token)  # as orchestration/entrypoint.sh does in production
    service = local_stack.mage_service(port=port, mage_python=mage_python, env=env)
    command = [*service.command[:2], str(project), *service.command[3:]]
    run_dir = home / "run"  # its own PID file and mage.log: the browser tests start another Mage
    local_stack.start(replace(service, command=command, cwd=project.parent), run_dir)
    try:
        yield MageServer(
            f"http://127.0.0.1:{port}", metadata_url, store_url, token, run_dir / "mage.log"
        )
    finally:
        local_stack.stop(run_dir, "mage")
        postgres.drop(metadata_url)
        postgres.drop(store_url)


@pytest.fixture(scope="session")
def python_bin() -> Path:
    """Folder of the running interpreter's console scripts (hourcast, uvicorn, mlflow)."""
    return Path(sys.executable).parent


@contextmanager
def database_outage(url: str) -> Iterator[None]:
    """No connection to the database of ``url`` (open ones are ended) until the block ends."""
    name = sa.make_url(url).database
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def signed_in_headers(role: str = "admin", username: str = "tester") -> dict[str, str]:
    """A bearer token of a ``role`` user for any API the tests start (a day long)."""
    from hourcast.auth.tokens import issue_token

    key = os.environ["HOURCAST_JWT_SECRET_KEY"]
    token = issue_token(username=username, role=role, key=key, minutes=24 * 60).token
    return {"Authorization": f"Bearer {token}"}


def signed_in_client(role: str = "admin") -> Any:
    """An ``httpx.Client`` that sends a ``role`` user's token (see ``signed_in_headers``).

    Without keep-alive, like ``httpx.get``: the servers of one module come and go on ports
    that are reused, and a pooled connection to a stopped one would be reset.
    """
    import httpx

    no_pool = httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(headers=signed_in_headers(role), limits=no_pool)


def api_headers(
    url: str, engine: sa.Engine, *, role: str = "admin", username: str = ""
) -> dict[str, str]:
    """A user with ``role`` in the API's store, and a token for it from POST /v1/auth/token."""
    import httpx

    from hourcast.auth.store import add_user

    username = username or f"{role}-tester"
    password = secrets.token_urlsafe(16)
    add_user(engine, username=username, password=password, role=role, replace=True)
    answer = httpx.post(f"{url}/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


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
