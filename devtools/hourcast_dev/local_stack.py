"""Start and stop the local stack (MLflow, moto, the API, Mage) as background processes.

Development tooling for ``make demo``, ``hourcast stack`` and the integration tests (not part
of the ``hourcast`` package the images install): each service runs in its own
process group, with its PID in ``<run_dir>/<name>.pid`` and its output in
``<run_dir>/<name>.log``; ``stop`` ends the whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "MOTO_AWS_ENV",
    "ROOT",
    "Service",
    "ServiceError",
    "StackSettings",
    "api_service",
    "free_port",
    "mage_service",
    "mlflow_service",
    "moto_service",
    "running",
    "start",
    "stop",
    "wait_healthy",
]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: services run there (``inference_api``, ``orchestration``)."""


class StackSettings(BaseSettings):
    """Ports, folders and stores of the local stack (``HOURCAST_`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="HOURCAST_", env_file=".env", extra="ignore")

    run_dir: Path = Field(default=Path(".hourcast/run"), description="PID files and logs.")
    mlflow_port: int = 5000
    api_port: int = 8000
    mage_port: int = 6789
    moto_port: int = 5055
    mlflow_backend_store_uri: str = Field(
        default="", description="MLflow metadata store; empty means SQLite under .hourcast/mlflow."
    )
    mlflow_artifacts_destination: str = Field(
        default="", description="Where the server stores artifacts (a folder or s3://bucket/path)."
    )
    mage_python: Path = Field(
        default=Path(".venv-mage/bin/python"), description="Python of the Mage environment."
    )

    def backend_store_uri(self) -> str:
        """The MLflow backend store, defaulting to a SQLite file."""
        if self.mlflow_backend_store_uri:
            return self.mlflow_backend_store_uri
        path = Path(".hourcast/mlflow/mlflow.db").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    def artifacts_destination(self) -> str:
        """The MLflow artifact destination, defaulting to a local folder."""
        if self.mlflow_artifacts_destination:
            return self.mlflow_artifacts_destination
        path = Path(".hourcast/mlflow/artifacts").resolve()
        path.mkdir(parents=True, exist_ok=True)
        return str(path)


class ServiceError(RuntimeError):
    """A service did not come up; the message holds the end of its log."""


@dataclass(frozen=True)
class Service:
    """A background process and how to tell that it is up."""

    name: str
    command: list[str]
    health_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    start_timeout: float = 180.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin(name: str) -> str:
    # Console scripts live beside the running interpreter (the project's virtualenv).
    return str(Path(sys.executable).parent / name)


# MLflow 3's server otherwise starts a job runner and seven huey consumers (GenAI jobs Hourcast
# never submits), each importing mlflow: 23 s to /health on an idle laptop instead of 11 s, and
# minutes when the machine is busy. Telemetry would only try to reach the internet.
MLFLOW_QUIET_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def mlflow_service(
    *, port: int, backend_store_uri: str, artifacts_destination: str, env: Mapping[str, str]
) -> Service:
    """``mlflow server`` with proxied artifact serving (clients need no storage credentials)."""
    command = [
        _bin("mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_destination,
        "--serve-artifacts",
        "--workers",
        "1",
    ]
    return Service(
        "mlflow", command, f"http://127.0.0.1:{port}/health", {**MLFLOW_QUIET_ENV, **env}
    )


# moto accepts any credentials; boto3 and MLflow only need some ("test" is moto's documented
# dummy).
MOTO_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def moto_service(*, port: int, env: Mapping[str, str]) -> Service:
    """A moto server: S3 and Secrets Manager on one local endpoint."""
    command = [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    return Service("moto", command, f"http://127.0.0.1:{port}/moto-api/", env, start_timeout=180)


def api_service(*, port: int, env: Mapping[str, str]) -> Service:
    """The inference API as the image runs it (``HOURCAST_API_WORKERS`` uvicorn workers)."""
    command = [sys.executable, "-m", "inference_api", "--host", "127.0.0.1", "--port", str(port)]
    return Service("api", command, f"http://127.0.0.1:{port}/health", env)


def mage_service(*, port: int, mage_python: Path, env: Mapping[str, str]) -> Service:
    """The Mage UI and scheduler for ``orchestration/``."""
    mage = str(Path(mage_python).parent / "mage")
    command = [mage, "start", "orchestration", "--host", "127.0.0.1", "--port", str(port)]
    return Service("mage", command, f"http://127.0.0.1:{port}/api/status", env, start_timeout=240)


def _pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(run_dir: Path) -> dict[str, int]:
    """Services with a PID file whose process is alive."""
    found: dict[str, int] = {}
    for pid_file in sorted(run_dir.glob("*.pid")):
        pid = int(pid_file.read_text().strip() or 0)
        if pid and _alive(pid):
            found[pid_file.stem] = pid
    return found


def _log_tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_healthy(
    url: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``url`` until it answers 2xx/3xx/401; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"exited with code {process.returncode} before {url} answered")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code < 400 or response.status_code == 401:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServiceError(f"{url} did not answer within {timeout:.0f} s")


def start(service: Service, run_dir: Path) -> int:
    """Start ``service`` unless it already runs; wait until healthy; return its PID."""
    run_dir.mkdir(parents=True, exist_ok=True)
    already = running(run_dir).get(service.name)
    if already:
        wait_healthy(service.health_url, timeout=service.start_timeout)
        return already
    log_path = run_dir / f"{service.name}.log"
    env = {**os.environ, **service.env}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            service.command,
            cwd=service.cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stop() ends its children too
        )
    _pid_file(run_dir, service.name).write_text(str(process.pid))
    try:
        wait_healthy(service.health_url, timeout=service.start_timeout, process=process)
    except ServiceError as exc:
        stop(run_dir, service.name)
        raise ServiceError(
            f"{service.name} failed: {exc}\n--- {log_path} ---\n{_log_tail(log_path)}"
        ) from exc
    return process.pid


def stop(run_dir: Path, name: str, *, grace: float = 15.0) -> bool:
    """Stop one service's process group; True if something was running."""
    pid_file = _pid_file(run_dir, name)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    was_running = bool(pid) and _alive(pid)
    if was_running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
            with contextlib.suppress(ChildProcessError):  # reap it if it is our own child
                os.waitpid(pid, os.WNOHANG)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return was_running
