"""A global model over sensors in three time zones (DST included): each keeps its own calendar.

Beijing (Asia/Shanghai, no DST), Los Angeles (DST from 2024-03-10) and Berlin (DST from
2024-03-31). Also: the holdout's local midnights, interval hour cells, the saved model's
zones, per-series metrics, a sensor with no hour before the window, and the promotion gate
with a champion that lacks a sensor (against a real MLflow tracking server).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from hourcast.forecasting.fast_path import DirectPredictor, SeriesInput, recent_observed
from hourcast.forecasting.forecaster import Forecaster
from hourcast.forecasting.scoring import aggregate_series, score_by_series
from hourcast.series import openaq_sensor_spec
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import register_series, upsert_observations
from hourcast.targets import get_target
from hourcast.training.backtest import backtest_forecaster, backtest_window
from hourcast.training.backtest_report import evaluate
from hourcast.training.data import load_training_frame, prepare_training_frame
from hourcast.training.fit import fit_and_log
from hourcast.training.register import register_trained
from hourcast.training.registry import CHALLENGER, CHAMPION
from tests.conftest import MlflowServer

ZONES = {
    "openaq:1": "Asia/Shanghai",
    "openaq:2": "America/Los_Angeles",
    "openaq:3": "Europe/Berlin",
}
START, END = "2024-02-01", "2024-04-10 23:00"


def _sensor(sid: str, zone: str, start: str = START, seed: int = 0) -> pd.DataFrame:
    """PM2.5-like hours with a peak at 08:00 local time, so the local hour matters."""
    ts = pd.date_range(start, END, freq="h", tz="UTC")
    local = ts.tz_convert(zone).hour.to_numpy()
    level = 30 + 10 * seed
    rng = np.random.default_rng(seed)
    value = level + 25 * np.exp(-(((local - 8) % 24) ** 2) / 6) + rng.normal(0, 2, len(ts))
    return pd.DataFrame({"series_id": sid, "ts": ts, "value": value, "timezone": zone})


def _frame(zones: dict[str, str]) -> pd.DataFrame:
    parts = [_sensor(sid, zone, seed=i) for i, (sid, zone) in enumerate(sorted(zones.items()))]
    return prepare_training_frame(pd.concat(parts, ignore_index=True))


def _calendar(forecaster: Forecaster, sid: str, series: pd.Series) -> pd.DataFrame:
    """The calendar columns of the training rows the model builds for ``sid``."""
    matrix, _ = forecaster._engine.series_training_rows(sid, series, {}, {sid: 0}, number=0, seed=7)
    names = forecaster.feature_names
    return pd.DataFrame(matrix, columns=names)[["step", "hour", "dayofweek", "month"]]


def test_beijing_and_los_angeles_trained_together_get_the_hours_they_get_alone() -> None:
    together = _frame(ZONES)
    window = backtest_window(together, 14)
    goal = get_target("pm25")
    joint = goal.new_forecaster(timezone=window.timezone, series_timezones=window.timezones)
    for sid in ("openaq:1", "openaq:2"):
        alone_frame = _frame({sid: ZONES[sid]})
        alone_window = backtest_window(alone_frame, 14)
        alone = goal.new_forecaster(
            timezone=alone_window.timezone, series_timezones=alone_window.timezones
        )
        series = window.series_map[sid]
        pd.testing.assert_frame_equal(_calendar(joint, sid, series), _calendar(alone, sid, series))
        # And they are the sensor's local hours.
        first_hours = pd.DatetimeIndex(series.index[:3])
        assert joint._engine.for_series(sid).local_hours(first_hours).tolist() == list(
            first_hours.tz_convert(ZONES[sid]).hour
        )
    # Without its own zone the Los Angeles sensor would get Beijing's hours (the old bug).
    beijing_only = goal.new_forecaster(timezone="Asia/Shanghai")
    la = window.series_map["openaq:2"]
    assert not _calendar(beijing_only, "openaq:2", la)["hour"].equals(
        _calendar(joint, "openaq:2", la)["hour"]
    )


def test_the_holdout_days_start_at_each_sensors_own_midnight_across_dst() -> None:
    window = backtest_window(_frame(ZONES), 14)

    assert window.dates[0] == "2024-03-27"  # the 14 last local days every zone has whole
    assert window.dates[-1] == "2024-04-09"
    for sid, zone in ZONES.items():
        local = window.origins[sid].tz_convert(zone)
        assert (local.hour == 0).all(), sid
        assert [d.isoformat() for d in local.date] == window.dates
    utc_hours = {sid: set(window.origins[sid].hour) for sid in ZONES}
    assert utc_hours == {
        "openaq:1": {16},  # UTC+8 all year
        "openaq:2": {7},  # PDT (from 03-10)
        "openaq:3": {23, 22},  # CET, then CEST from 03-31
    }
    assert window.first == pd.Timestamp("2024-03-26 16:00", tz="UTC")


@pytest.fixture(scope="module")
def fitted() -> tuple[Forecaster, dict[str, pd.Series]]:
    window = backtest_window(_frame(ZONES), 14)
    forecaster = (
        get_target("pm25")
        .new_forecaster(
            timezone=window.timezone,
            series_timezones=window.timezones,
            num_boost_round=30,
        )
        .clone(calibration_days=21, calibration="recent")
    )
    return forecaster.fit(window.series_map), window.series_map


def test_the_saved_model_forecasts_each_sensor_in_its_own_zone(
    fitted: tuple[Forecaster, dict[str, pd.Series]], tmp_path: Path
) -> None:
    forecaster, series_map = fitted
    loaded = Forecaster.load(forecaster.save(tmp_path / "model"))

    assert loaded.series_timezones == ZONES
    assert loaded.interval_levels == (80, 95)
    inputs = []
    for sid, series in series_map.items():
        hours = pd.DatetimeIndex(series.index).to_numpy("datetime64[h]").astype(np.int64)
        first, values = recent_observed(hours, series.to_numpy(float), loaded.config.lookback)
        inputs.append(SeriesInput(first_hour=first, values=values, horizon=24, series_id=sid))
        # The calendar behind the forecast and the interval hour cells is the sensor's own.
        slow = loaded.predict_intervals(series, 24, (80,), series_id=sid)
        same = forecaster.predict_intervals(series, 24, (80,), series_id=sid)
        pd.testing.assert_frame_equal(slow, same)
    for item, forecast in zip(inputs, DirectPredictor(loaded).predict(inputs), strict=True):
        index = pd.date_range(series_map[str(item.series_id)].index[-1], periods=25, freq="h")[1:]
        expected = index.tz_convert(ZONES[str(item.series_id)]).hour.to_numpy()
        assert forecast.local_hours.tolist() == expected.tolist()


def test_a_model_saved_before_per_series_zones_loads_with_one_zone(
    fitted: tuple[Forecaster, dict[str, pd.Series]], tmp_path: Path
) -> None:
    forecaster, _ = fitted
    folder = forecaster.save(tmp_path / "model")
    data = json.loads((folder / "forecaster.json").read_text())
    del data["config"]["series_timezones"]
    (folder / "forecaster.json").write_text(json.dumps(data))

    old = Forecaster.load(folder)
    assert old.series_timezones == dict.fromkeys(ZONES, "Asia/Shanghai")


def test_a_sensor_with_no_hour_before_the_window_is_left_out_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    late = _sensor("openaq:9", "Europe/Berlin", start="2024-04-05")
    frame = prepare_training_frame(pd.concat([_frame(ZONES), late], ignore_index=True))
    window = backtest_window(frame, 7)
    forecaster = (
        get_target("pm25")
        .new_forecaster(
            timezone=window.timezone,
            series_timezones=window.timezones,
            num_boost_round=10,
        )
        .clone(calibration_days=0)
    )
    with caplog.at_level(logging.WARNING):
        backtest = backtest_forecaster(forecaster, window.series_map, window.origins)

    assert set(backtest["series_id"]) == set(ZONES)
    assert "openaq:9 left out of the backtest: no observed hour before" in caplog.text
    metrics, _, by_series = evaluate(backtest, window.series_map)
    assert list(by_series.index) == sorted(ZONES)
    assert metrics["holdout_series_scored"] == 3


def test_metrics_are_per_series_then_aggregated() -> None:
    frame = pd.DataFrame(
        {
            "series_id": ["a"] * 4 + ["b"] * 2,
            "actual": [10.0, 10.0, 10.0, np.nan, 100.0, 100.0],
            "forecast": [12.0, 8.0, 10.0, 5.0, 90.0, 130.0],
        }
    )
    table = score_by_series(frame, scales={"a": 2.0, "b": 40.0})

    assert table.loc["a", "mae"] == pytest.approx(4 / 3)
    assert table.loc["b", "mae"] == pytest.approx(20.0)
    assert table.loc["a", "mase"] == pytest.approx(2 / 3)
    assert table.loc["b", "mase"] == pytest.approx(0.5)
    summary = aggregate_series(table)
    assert summary["mase_series_mean"] == pytest.approx((2 / 3 + 0.5) / 2)
    # Volume weights: scored hours x mean actual = 30 for a, 200 for b.
    assert summary["mae_volume_weighted"] == pytest.approx((30 * 4 / 3 + 200 * 20) / 230)
    # MASE over the concatenated series (the old way) would be another number.
    pooled = np.nanmean(np.abs(frame["forecast"] - frame["actual"])) / 2.0
    assert summary["mase_series_mean"] != pytest.approx(pooled)


# -- the promotion gate, against a real tracking server ---------------------------------------


def _store(url: str, zones: dict[str, str], frames: dict[str, pd.DataFrame]) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        for sid, zone in zones.items():
            spec = openaq_sensor_spec(
                sensor_id=int(sid.split(":")[1]),
                location=sid,
                parameter="pm25",
                units="µg/m³",
                timezone=zone,
            )
            register_series(connection, spec=spec)
            upsert_observations(connection, series_id=sid, frame=frames[sid][["ts", "value"]])
    engine.dispose()


def _train_and_register(settings: Settings) -> tuple[str, str, str]:
    frame = prepare_training_frame(
        load_training_frame(settings=settings, train_end=None, target="pm25")
    )
    trained = fit_and_log(
        frame, target="pm25", settings=settings, train_end=None, num_boost_round=20, holdout_days=5
    )
    registered = register_trained(trained, settings=settings)
    return registered.version, registered.alias, trained.run_id


@pytest.mark.slow
@pytest.mark.integration
def test_the_gate_with_a_champion_missing_a_sensor_decides_and_tags_why(
    mlflow_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tracking = mlflow_server.tracking_uri
    store = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(database_url=store, mlflow_tracking_uri=tracking, home=tmp_path)
    frames = {sid: _sensor(sid, zone, seed=i) for i, (sid, zone) in enumerate(ZONES.items())}
    frames["openaq:4"] = _sensor("openaq:4", "America/Los_Angeles", start="2024-04-08")

    # The champion knows Beijing and Los Angeles only.
    _store(store, {sid: ZONES[sid] for sid in ("openaq:1", "openaq:2")}, frames)
    champion, alias, _ = _train_and_register(settings)
    assert alias == CHAMPION

    # Then Berlin is stored, and a sensor that has no hour before the window.
    _store(store, {**ZONES, "openaq:4": "America/Los_Angeles"}, frames)
    version, alias, run_id = _train_and_register(settings)

    client = MlflowClient(tracking_uri=tracking)
    name = get_target("pm25").model_name
    tags = client.get_model_version(name, version).tags
    assert alias in (CHAMPION, CHALLENGER)
    assert client.get_model_version_by_alias(name, alias).version == version
    assert tags["promotion"].startswith(("champion: ", "rejected: "))
    assert (
        "on the 2 series the champion knows (1 not scored: new to the champion)"
        in (tags["promotion"])
    )
    assert tags["gate_series_compared"] == "2"
    assert tags["gate_series_not_in_champion"] == "openaq:3"
    assert tags["gate_series_not_in_challenger"] == "none"
    assert tags["gate_champion_version"] == champion
    assert float(tags["gate_champion_mae"]) > 0
    run = client.get_run(run_id).data
    assert run.tags["holdout_left_out"] == "openaq:4 (no observed hour before the window)"
    assert run.params["timezones"] == "America/Los_Angeles,Asia/Shanghai,Europe/Berlin"
    assert {"holdout_mase_series_mean", "holdout_mae_volume_weighted"} <= set(run.metrics)
