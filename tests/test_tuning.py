"""Optuna search: bounded by trials and time, every trial a nested MLflow run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from hourcast.settings import Settings
from hourcast.training.tuning import tune


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ts = pd.date_range("2024-01-01", periods=24 * 75, freq="h", tz="UTC")
    daily = 50 + 20 * np.sin(2 * np.pi * ts.hour.to_numpy() / 24)
    values = daily + rng.normal(0, 3, len(ts))
    values[100:130] = np.nan  # a gap stays a gap
    return pd.DataFrame({"series_id": "openaq:1", "ts": ts, "value": values, "timezone": "UTC"})


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)  # the SQLite tracking store keeps artifacts under ./mlruns
    return Settings(mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.mark.slow
def test_trials_are_nested_runs_and_the_best_is_returned(
    frame: pd.DataFrame, settings: Settings
) -> None:
    result = tune(frame, target="pm25", settings=settings, n_trials=3, tuning_days=2)

    assert result.trials == 3
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    parent = client.get_run(result.parent_run_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    assert len(children) == 3
    maes = [run.data.metrics["tuning_mae"] for run in children]
    assert result.best_mae == pytest.approx(min(maes))
    assert parent.data.metrics["best_tuning_mae"] == pytest.approx(min(maes))
    assert set(result.best_params) >= {"max_depth", "eta", "num_boost_round"}
    assert 0 < result.best_mae < 20  # noise sd is 3 around a clean daily cycle


@pytest.mark.slow
def test_time_budget_stops_the_search(frame: pd.DataFrame, settings: Settings) -> None:
    result = tune(
        frame, target="pm25", settings=settings, n_trials=1000, timeout_s=3, tuning_days=2
    )
    assert 1 <= result.trials < 1000
    assert result.seconds < 60  # the trial running at the deadline finishes, then it stops
