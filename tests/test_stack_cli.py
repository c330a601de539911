"""``hourcast stack``: added to the console script by the development package hourcast-dev."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # each call starts the CLI (imports MLflow): ~10 s


def _hourcast(*args: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOURCAST_RUN_DIR": str(run_dir), "COLUMNS": "120"}
    script = Path(sys.executable).parent / "hourcast"
    return subprocess.run(
        [str(script), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_the_stack_group_comes_from_the_entry_point(tmp_path: Path) -> None:
    help_text = _hourcast("--help", run_dir=tmp_path).stdout
    for group in ("db", "ingest", "train", "models", "forecast", "stack"):
        assert f" {group} " in help_text
    stack_help = _hourcast("stack", "--help", run_dir=tmp_path)
    assert stack_help.returncode == 0
    assert all(command in stack_help.stdout for command in ("up", "status", "restart", "down"))


def test_status_and_down_with_nothing_running(tmp_path: Path) -> None:
    status = _hourcast("stack", "status", run_dir=tmp_path)
    assert status.returncode == 0
    assert "nothing running" in status.stdout
    assert "nothing to stop" in _hourcast("stack", "down", run_dir=tmp_path).stdout


def test_restart_names_the_services_it_knows(tmp_path: Path) -> None:
    result = _hourcast("stack", "restart", "postgres", run_dir=tmp_path)
    assert result.returncode == 2
    assert "mlflow" in result.stderr
    assert "api" in result.stderr


def test_python_m_hourcast_cli_is_the_console_script(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hourcast.cli", "train", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert "traffic" in result.stdout
    assert "pm25" in result.stdout
