"""A run's backtest for the Mage charts: stored and read back, baselines, the chart views."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from hourcast.training.backtest_report import (
    evaluate,
    forecast_window,
    load_backtest,
    log_backtest,
    metrics_table,
    step_metrics,
    with_baselines,
)

CHICAGO = "America/Chicago"
HORIZON = 24


def _history(sid: str = "s1", days: int = 21, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2018-06-01 05:00", periods=24 * days, freq="h", tz="UTC")
    return pd.DataFrame(
        {"series_id": sid, "ts": ts, "value": rng.normal(100, 10, len(ts)), "timezone": CHICAGO}
    )


def _backtest(history: pd.DataFrame, origins: pd.DatetimeIndex, seed: int = 7) -> pd.DataFrame:
    """A backtest frame as ``hourcast.training.backtest`` returns it (forecast = actual + noise)."""
    rng = np.random.default_rng(seed)
    parts = []
    for sid, group in history.groupby("series_id"):
        values = pd.Series(group["value"].to_numpy(), index=pd.DatetimeIndex(group["ts"]))
        for origin in origins:
            hours = pd.date_range(origin, periods=HORIZON, freq="h")
            actual = values.reindex(hours).to_numpy()
            forecast = actual + rng.normal(0, 5, HORIZON)
            parts.append(
                pd.DataFrame(
                    {
                        "series_id": sid,
                        "origin": origin,
                        "ts": hours,
                        "step": np.arange(1, HORIZON + 1),
                        "actual": actual,
                        "forecast": forecast,
                        "lo_80": forecast - 6,
                        "hi_80": forecast + 6,
                        "lo_95": forecast - 10,
                        "hi_95": forecast + 10,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


# local midnights in Chicago (CDT, UTC-5)
ORIGINS = pd.DatetimeIndex(["2018-06-19 05:00", "2018-06-20 05:00"], tz="UTC")


def test_baselines_repeat_the_same_hour_one_season_back() -> None:
    history = _history()
    frame = with_baselines(_backtest(history, ORIGINS).sample(frac=1, random_state=1), history)
    values = pd.Series(history["value"].to_numpy(), index=pd.DatetimeIndex(history["ts"]))
    day = values.reindex(frame["ts"] - pd.Timedelta(hours=24)).to_numpy()
    assert_allclose(frame["seasonal_naive_24"], day)
    # 168 h back from the first origin's window lies inside the 18 days of history
    week = values.reindex(frame["ts"] - pd.Timedelta(hours=168)).to_numpy()
    assert_allclose(frame["seasonal_naive_168"], week)
    assert list(frame["step"].iloc[:3]) == [1, 2, 3]  # sorted back into series/origin/step
    assert frame["ts_local"].iloc[0] == pd.Timestamp("2018-06-19 00:00")
    assert frame["ts_local"].dt.tz is None


def test_baselines_see_only_hours_before_the_origin() -> None:
    history = _history()
    origin = ORIGINS[1]
    # the day before the second origin is missing: the 24 h baseline must reach two days back
    missing = (history["ts"] >= origin - pd.Timedelta(hours=24)) & (history["ts"] < origin)
    history.loc[missing, "value"] = np.nan
    frame = with_baselines(_backtest(history, ORIGINS[1:]), history, seasons=(24,))
    values = pd.Series(history["value"].to_numpy(), index=pd.DatetimeIndex(history["ts"]))
    two_days = values.reindex(frame["ts"] - pd.Timedelta(hours=48)).to_numpy()
    assert_allclose(frame["seasonal_naive_24"], two_days)
    assert "seasonal_naive_168" not in frame


def test_baselines_need_a_backtest_and_its_history() -> None:
    history = _history()
    backtest = _backtest(history, ORIGINS)
    with pytest.raises(ValueError, match="missing columns"):
        with_baselines(backtest.drop(columns=["step"]), history)
    with pytest.raises(ValueError, match="no history for series"):
        with_baselines(backtest, history.assign(series_id="other"))


def test_forecast_window_is_one_series_by_local_hour() -> None:
    history = pd.concat([_history("a"), _history("b", seed=6)], ignore_index=True)
    backtest = _backtest(history, ORIGINS)
    backtest.loc[backtest["series_id"].eq("a") & backtest["step"].eq(5), "actual"] = np.nan
    window = forecast_window(with_baselines(backtest, history))
    assert len(window) == 2 * HORIZON - 2  # series "a", two hours without an actual left out
    assert window["local_time"].is_monotonic_increasing
    first = pd.Timestamp("2018-06-19 00:00")
    assert window["ts_local"].iloc[0] == first
    assert window["local_time"].iloc[0] == int(first.timestamp()) * 1000
    assert (window["lo_80"] < window["forecast"]).all()
    assert (window["forecast"] < window["hi_80"]).all()
    other = forecast_window(with_baselines(backtest, history), series_id="b")
    assert len(other) == 2 * HORIZON
    with pytest.raises(ValueError, match="no observed hour"):
        forecast_window(with_baselines(backtest, history), series_id="c")


def test_forecast_window_without_intervals_collapses_onto_the_forecast() -> None:
    history = _history()
    backtest = _backtest(history, ORIGINS).drop(columns=["lo_80", "hi_80", "lo_95", "hi_95"])
    window = forecast_window(with_baselines(backtest, history))
    assert_allclose(window["lo_80"], window["forecast"])
    assert_allclose(window["hi_80"], window["forecast"])


def test_step_metrics_per_step_for_model_baselines_and_intervals() -> None:
    history = _history()
    backtest = with_baselines(_backtest(history, ORIGINS), history)
    backtest.loc[backtest["step"].eq(24), "actual"] = np.nan  # never observed: left out
    steps = step_metrics(backtest)
    assert list(steps.columns) == [
        "step",
        "mae",
        "seasonal_naive_24_mae",
        "seasonal_naive_168_mae",
        "coverage_80",
        "coverage_95",
    ]
    assert list(steps["step"]) == list(range(1, 24))
    first = backtest[backtest["step"] == 1]
    assert steps["mae"].iloc[0] == pytest.approx((first["actual"] - first["forecast"]).abs().mean())
    naive = (first["actual"] - first["seasonal_naive_24"]).abs().mean()
    assert steps["seasonal_naive_24_mae"].iloc[0] == pytest.approx(naive)
    inside = (first["actual"] - first["forecast"]).abs() <= 6
    assert steps["coverage_80"].iloc[0] == pytest.approx(100 * inside.mean())
    assert ((steps["coverage_80"] <= steps["coverage_95"]) & (steps["coverage_95"] <= 100)).all()
    # a bare backtest (no baselines, no intervals) still gives the model's MAE per step
    bare = step_metrics(backtest[["series_id", "origin", "ts", "step", "actual", "forecast"]])
    assert list(bare.columns) == ["step", "mae"]


def test_metrics_table_keeps_the_logged_order() -> None:
    table = metrics_table({"holdout_mae": 159.123456, "holdout_coverage_80": 0.8962})
    assert table.to_dict("list") == {
        "metric": ["holdout_mae", "holdout_coverage_80"],
        "value": [159.1235, 0.8962],
    }


def test_backtest_round_trips_through_an_mlflow_run(tmp_path: Path) -> None:
    history = _history()
    backtest = _backtest(history, ORIGINS)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment(
        "backtest-report", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment) as run:
        log_backtest(backtest)
    loaded = load_backtest(run.info.run_id, tracking_uri=tracking_uri)
    pd.testing.assert_frame_equal(loaded, backtest)


def test_training_scores_the_same_baselines_the_charts_draw() -> None:
    history = _history()
    # the day before the second origin is missing: both must skip it, not shift the forecast
    missing = (history["ts"] >= ORIGINS[1] - pd.Timedelta(hours=24)) & (history["ts"] < ORIGINS[1])
    history.loc[missing, "value"] = np.nan
    backtest = _backtest(history, ORIGINS)
    series = {"s1": pd.Series(history["value"].to_numpy(), index=pd.DatetimeIndex(history["ts"]))}
    metrics, _, _ = evaluate(backtest, series)
    charted = with_baselines(backtest, history)
    for season in (24, 168):
        error = (charted["actual"] - charted[f"seasonal_naive_{season}"]).abs().mean()
        assert metrics[f"holdout_seasonal_naive_{season}_mae"] == pytest.approx(error)
