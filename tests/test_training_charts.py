"""The backtest charts of the Mage training pipeline: stored as the Mage UI stores them, and
rendered by Mage's own chart code path from a real headless run of `train` (target traffic)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pytest
import yaml

from hourcast.settings import BUNDLED_TRAFFIC_CSV
from hourcast.training.backtest_report import BACKTEST_COLUMNS
from tests.conftest import ROOT, MlflowServer
from tests.test_ingest_pipelines import _dsn, _env, _mage_run

ORCHESTRATION = ROOT / "orchestration"
CHARTS = {
    "backtest_forecast_vs_actual": ("line chart", ["backtest_results"]),
    "backtest_mae_by_step": ("line chart", ["backtest_results"]),
    "backtest_coverage_by_step": ("line chart", ["backtest_results"]),
    "backtest_metrics": ("table", ["train_forecaster"]),
}
HOLDOUT_DAYS = 3


def test_training_pipeline_carries_the_backtest_charts() -> None:
    path = ORCHESTRATION / "pipelines" / "train" / "metadata.yaml"
    metadata = yaml.safe_load(path.read_text())
    blocks = {block["uuid"]: block for block in metadata["blocks"]}
    widgets = {widget["uuid"]: widget for widget in metadata["widgets"]}
    assert blocks["backtest_results"]["type"] == "transformer"
    assert blocks["backtest_results"]["upstream_blocks"] == ["train_forecaster", "prepare_series"]
    assert {
        uuid: (w["configuration"]["chart_type"], w["upstream_blocks"])
        for uuid, w in widgets.items()
    } == CHARTS
    for uuid, widget in widgets.items():
        assert widget["type"] == "chart"
        # Mage lists a chart among its upstream block's downstream blocks.
        for upstream in widget["upstream_blocks"]:
            assert uuid in blocks[upstream]["downstream_blocks"]
        # The chart's code assigns the variables its configuration names.
        source = (ORCHESTRATION / "charts" / f"{uuid}.py").read_text()
        for variable in ("x", "y"):
            assert f"\n{widget['configuration'][variable]} = " in source
    # Mage writes its data folder here when it saves a pipeline: it must stay unset.
    assert metadata["variables_dir"] is None


def _ingest_traffic_since(start: str, env: dict[str, str], tmp_path: Path) -> None:
    raw = pd.read_csv(BUNDLED_TRAFFIC_CSV)
    csv = tmp_path / "traffic.csv"
    raw[raw["date_time"] >= start].to_csv(csv, index=False)
    hourcast = str(Path(sys.executable).parent / "hourcast")
    for command in (["db", "upgrade"], ["ingest", "traffic", "--source", str(csv)]):
        subprocess.run([hourcast, *command], cwd=ROOT, env=env, check=True, timeout=300)


def _render_charts(mage_python: Path, env: dict[str, str]) -> dict:
    script = str(ROOT / "tests" / "mage_charts.py")
    command = [str(mage_python), script, str(ORCHESTRATION), "train", "backtest_results"]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _logged_holdout_mae(mlflow_server: MlflowServer) -> float:
    with psycopg2.connect(_dsn(mlflow_server.backend_store_uri)) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT m.value FROM metrics m JOIN model_versions v ON v.run_id = m.run_uuid "
            "WHERE v.name = 'hourcast-traffic-volume' AND m.key = 'holdout_mae' "
            "ORDER BY v.version DESC LIMIT 1"  # the version this test registered: the newest
        )
        return float(cursor.fetchone()[0])


@pytest.mark.integration
@pytest.mark.slow
def test_mage_train_renders_the_backtest_charts(
    mage_python: Path, pg_url: str, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    env = _env(
        pg_url,
        tmp_path,
        HOURCAST_MLFLOW_TRACKING_URI=mlflow_server.tracking_uri,
        MLFLOW_S3_ENDPOINT_URL=mlflow_server.s3_endpoint,
    )
    # A year and a lookback: the intervals calibrate on the same weeks a year before the end.
    _ingest_traffic_since("2017-06-01", env, tmp_path)
    variables = {"target": "traffic", "num_boost_round": 40, "holdout_days": HOLDOUT_DAYS}
    output = _mage_run(mage_python, "train", variables, env)
    # Other tests share the tracking server: the version number depends on which ran first.
    assert re.search(r"registered hourcast-traffic-volume v\d+ as @(champion|challenger)", output)

    rendered = _render_charts(mage_python, env)
    hours = HOLDOUT_DAYS * 24
    block = rendered["block"]
    assert set(BACKTEST_COLUMNS) <= set(block["columns"])
    assert {"lo_80", "hi_80", "seasonal_naive_24", "seasonal_naive_168"} <= set(block["columns"])
    assert block["rows"] == hours  # one series, 3 origins, 24 steps
    charts = rendered["charts"]
    assert {uuid: (c["chart_type"], c["upstream_blocks"]) for uuid, c in charts.items()} == CHARTS

    # Forecast against actual with the 80 % interval, by local hour over the window.
    window = charts["backtest_forecast_vs_actual"]["data"]
    x = np.asarray(window["x"])
    lo_80, forecast, actual, hi_80 = (np.asarray(line, dtype=float) for line in window["y"])
    assert hours - 6 <= len(x) <= hours
    assert all(len(line) == len(x) for line in window["y"])
    assert x[0] % 86_400_000 == 0  # the first origin: a local midnight, in milliseconds
    assert (np.diff(x) > 0).all()
    assert (lo_80 <= hi_80).all()  # (conformal: not always around the point forecast)
    assert (lo_80 < hi_80).any()
    assert np.abs(actual - forecast).mean() < 1000

    # MAE per horizon step: the model and the two seasonal-naive baselines.
    mae = charts["backtest_mae_by_step"]["data"]
    assert mae["x"] == list(range(1, 25))
    assert [len(line) for line in mae["y"]] == [24, 24, 24]
    assert min(min(line) for line in mae["y"]) > 0

    # Interval coverage per step, in percent, with the 80 and 95 targets.
    coverage = charts["backtest_coverage_by_step"]["data"]
    assert coverage["x"] == list(range(1, 25))
    assert all(0 <= value <= 100 for line in coverage["y"][:2] for value in line)
    assert coverage["y"][2:] == [[80] * 24, [95] * 24]

    # The run's metrics as logged to MLflow.
    table = charts["backtest_metrics"]["data"]
    assert table["x"] == ["metric", "value"]
    logged = dict(table["y"])
    assert logged["holdout_mae"] == pytest.approx(_logged_holdout_mae(mlflow_server), abs=1e-4)
    assert {"holdout_coverage_80", "holdout_seasonal_naive_168_mae"} <= set(logged)
