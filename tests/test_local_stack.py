"""The local stack's MLflow server: the processes it starts."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from hourcast_dev import local_stack

pytestmark = pytest.mark.integration


def test_the_tracking_server_starts_no_job_runner(tmp_path: Path) -> None:
    """MLflow's GenAI job runner and its huey consumers are off: Hourcast submits no jobs."""
    run_dir = tmp_path / "run"
    service = local_stack.mlflow_service(
        port=local_stack.free_port(),
        backend_store_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        env={},
    )
    pid = local_stack.start(service, run_dir)
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        command_lines = [" ".join(process.cmdline()) for process in tree]
    finally:
        local_stack.stop(run_dir, "mlflow")
    assert any("uvicorn" in line for line in command_lines), command_lines
    assert not [line for line in command_lines if "huey" in line or "jobs." in line]
