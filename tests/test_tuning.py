"""Optuna search: bounded by trials and time, nested MLflow runs, kept before the holdout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from hourcast.settings import Settings
from hourcast.training import tuning
from hourcast.training.backtest import HORIZON, backtest_window
from hourcast.training.tuning import tune, tuning_window


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


def _hours(origins: pd.DatetimeIndex) -> set[pd.Timestamp]:
    return {o + pd.Timedelta(hours=step) for o in origins for step in range(HORIZON)}


def test_tuning_window_ends_before_the_holdout() -> None:
    # Chicago springs forward on 2024-03-10: that local day has 23 hours, so the 24 hours from
    # its midnight reach into 2024-03-11, the holdout's first day, and it must not be scored.
    ts = pd.date_range("2024-01-01", "2024-03-24 23:00", freq="h", tz="America/Chicago")
    frame = pd.DataFrame(
        {
            "series_id": "traffic",
            "ts": ts.tz_convert("UTC"),
            "value": np.arange(len(ts), dtype=float),
            "timezone": "America/Chicago",
        }
    )
    holdout = backtest_window(frame, 14).origins["traffic"]
    assert holdout[0] == pd.Timestamp("2024-03-11", tz="America/Chicago")

    series_map, timezones, by_series = tuning_window(frame, 3, holdout_days=14)
    origins = by_series["traffic"]

    assert timezones == {"traffic": "America/Chicago"}
    assert list(origins.tz_convert("America/Chicago").strftime("%m-%d")) == [
        "03-07",
        "03-08",
        "03-09",
    ]
    assert _hours(origins).isdisjoint(_hours(holdout))
    assert max(_hours(origins)) < holdout[0]
    assert series_map["traffic"].index.max() < holdout[0]


def test_no_room_before_the_holdout_is_an_error(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no daily origin fits before the 75-day holdout"):
        tuning_window(frame, 7, holdout_days=75)


@pytest.mark.slow
def test_trials_fit_and_score_only_before_the_holdout(
    frame: pd.DataFrame, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[pd.Timestamp, dict[str, pd.DatetimeIndex]]] = []
    real = tuning.backtest_forecaster

    def spy(forecaster, series_map, origins, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((max(s.index.max() for s in series_map.values()), origins))
        return real(forecaster, series_map, origins, **kwargs)

    monkeypatch.setattr(tuning, "backtest_forecaster", spy)
    result = tune(
        frame, target="pm25", settings=settings, n_trials=2, tuning_days=3, holdout_days=10
    )

    holdout = backtest_window(frame, 10).all_origins  # the window fit_and_log and the gate score
    assert len(seen) == result.trials == 2
    for last_hour_seen, by_series in seen:
        origins = by_series["openaq:1"]
        assert len(origins) == 3
        assert last_hour_seen < holdout[0]
        assert _hours(origins).isdisjoint(_hours(holdout))
    logged = MlflowClient(tracking_uri=settings.mlflow_tracking_uri).get_run(result.parent_run_id)
    first = seen[0][1]["openaq:1"]
    assert logged.data.tags["tuning_origins"] == ",".join(o.isoformat() for o in first)
    assert logged.data.params["holdout_days"] == "10"
