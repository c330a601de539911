"""Serving: routing a series to a target's model, interval levels, forecasts with notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import TRAFFIC_I94, UnknownSeriesError, openaq_sensor_spec
from hourcast.serving import (
    choose_levels,
    forecast_series,
    history_from_points,
    routable_series,
    route_series,
    served_targets,
    store_lookup,
    stored_history,
)
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import StoredSeries, register_series, upsert_observations
from hourcast.targets import TARGETS

PM25 = TARGETS["pm25"]
TRAFFIC = TARGETS["traffic"]
CONFIG = FeatureConfig(lags=(1, 2, 24), rolling_means=((1, 24),), rolling_stds=())
PARAMS = {"objective": "reg:absoluteerror", "eta": 0.3, "max_depth": 3, "nthread": 1, "seed": 1}


def _sensor(sensor_id: int, parameter: str = "pm25") -> StoredSeries:
    return StoredSeries(f"openaq:{sensor_id}", "openaq", parameter, "Asia/Shanghai", "µg/m³")


def _series(days: int, level: float, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=24 * days, freq="h", tz="UTC")
    daily = 1 + 0.4 * np.sin(2 * np.pi * index.hour.to_numpy() / 24)
    return pd.Series(level * daily * rng.lognormal(0, 0.1, len(index)), index=index)


@pytest.fixture(scope="module")
def global_model() -> Forecaster:
    series = {"openaq:1": _series(40, 50.0, 1), "openaq:2": _series(40, 200.0, 2)}
    forecaster = Forecaster(CONFIG, params=PARAMS, num_boost_round=15, calibration_days=10)
    return forecaster.fit(series)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    with engine.begin() as connection:
        for sensor_id, parameter in [(1, "pm25"), (2, "pm25"), (3917, "o3")]:
            spec = openaq_sensor_spec(
                sensor_id=sensor_id,
                location="somewhere",
                parameter=parameter,
                units="µg/m³",
                timezone="Asia/Shanghai",
            )
            register_series(connection, spec=spec)
        frame = pd.DataFrame(
            {
                "ts": pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"),
                "value": [1.0, np.nan, 3.0],
            }
        )
        upsert_observations(connection, series_id="openaq:1", frame=frame)
    return engine


def test_served_targets_in_order_and_unknown_names_the_setting() -> None:
    assert served_targets(["pm25", "traffic"]) == [PM25, TRAFFIC]
    with pytest.raises(ValueError, match=r"HOURCAST_API_MODELS .*'o3'.*known: traffic, pm25"):
        served_targets(["traffic", "o3"])


def test_known_series_route_without_the_store() -> None:
    def no_store(series_id: str) -> StoredSeries | None:
        raise AssertionError("the store must not be read for a known series")

    route = route_series(TRAFFIC_I94.series_id, targets=[TRAFFIC, PM25], lookup=no_store)
    assert route is not None
    assert route.target == TRAFFIC
    assert (route.series.units, route.series.timezone) == ("vehicles/h", "America/Chicago")
    # Not served: no route.
    assert route_series(TRAFFIC_I94.series_id, targets=[PM25], lookup=no_store) is None


def test_stored_series_route_by_source_and_parameter() -> None:
    stored = {s.series_id: s for s in (_sensor(1), _sensor(3917, "o3"))}
    route = route_series("openaq:1", targets=[TRAFFIC, PM25], lookup=stored.get)
    assert route is not None
    assert route.target == PM25
    assert route.series == stored["openaq:1"]
    assert route_series("openaq:3917", targets=[TRAFFIC, PM25], lookup=stored.get) is None
    assert route_series("openaq:404", targets=[TRAFFIC, PM25], lookup=stored.get) is None


def test_store_lookup_and_routable_series(engine: Engine) -> None:
    described = store_lookup(engine)("openaq:1")
    assert described == StoredSeries(
        "openaq:1", "openaq", "pm25", "Asia/Shanghai", "µg/m³", "somewhere"
    )
    assert store_lookup(engine)("openaq:404") is None
    assert routable_series(engine, targets=[TRAFFIC, PM25]) == [
        "openaq:1",
        "openaq:2",
        TRAFFIC_I94.series_id,
    ]
    assert routable_series(engine, targets=[TRAFFIC]) == [TRAFFIC_I94.series_id]


def test_unknown_series_error_names_the_known_ones() -> None:
    assert "known series: a, b" in str(UnknownSeriesError("x", ["b", "a"]))
    many = str(UnknownSeriesError("x", [f"openaq:{i:03d}" for i in range(25)]))
    assert "openaq:019 and 5 more (GET /v1/models lists them)" in many
    assert "known series: none" in str(UnknownSeriesError("x", []))


def test_history_from_points_and_from_the_store(engine: Engine) -> None:
    hours = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    sent = history_from_points([(hours[2], 3.0), (hours[0], None), (hours[1], 2.0)])
    assert list(sent.index) == list(hours)
    assert sent.isna().tolist() == [True, False, False]
    stored = stored_history(engine, series_id="openaq:1", hours=2)
    assert stored is not None
    assert stored.index[0] == hours[1]
    assert stored.isna().tolist() == [True, False]
    assert stored_history(engine, series_id="openaq:2", hours=24) is None


def test_choose_levels() -> None:
    assert choose_levels((80, 95), None) == (80, 95)
    assert choose_levels((80, 95), [95, 80]) == (80, 95)
    assert choose_levels((80, 95), []) == ()
    assert choose_levels((), None) == ()
    with pytest.raises(ValueError, match=r"no intervals at levels \[90\]; this model has: 80, 95"):
        choose_levels((80, 95), [90])
    with pytest.raises(ValueError, match="this model has: none"):
        choose_levels((), [80])


def test_fitted_series_forecast_with_intervals_and_no_note(global_model: Forecaster) -> None:
    assert global_model.interval_levels == (80, 95)
    history = _series(10, 200.0, 5)
    result = forecast_series(
        global_model, history, 24, series_id="openaq:2", levels=(80,), model_label="m v1"
    )
    assert list(result.frame.columns) == ["value", "lo_80", "hi_80"]
    assert result.levels == (80,)
    assert result.notes == []
    expected = global_model.predict_intervals(history, 24, (80,), series_id="openaq:2")
    pd.testing.assert_frame_equal(result.frame, expected)


def test_unfitted_series_is_forecast_with_a_note(global_model: Forecaster) -> None:
    history = _series(10, 120.0, 6)
    result = forecast_series(
        global_model, history, 30, series_id="openaq:3", levels=(80, 95), model_label="m v1"
    )
    assert len(result.frame) == 30
    assert np.isfinite(result.frame.to_numpy()).all()
    assert result.notes == [
        "m v1 was not fitted on openaq:3: it forecasts it from its recent values without a "
        "series code, and its intervals were calibrated on other series",
        "intervals after hour 24 reuse that hour's calibration and are too narrow",
    ]


def test_point_forecasts_without_levels(global_model: Forecaster) -> None:
    history = _series(10, 50.0, 7)
    result = forecast_series(
        global_model, history, 5, series_id="openaq:1", levels=(), model_label="m v1"
    )
    assert list(result.frame.columns) == ["value"]
    expected = global_model.predict(history, 5, series_id="openaq:1")
    np.testing.assert_allclose(result.frame["value"], expected)


def test_single_series_model_ignores_the_series_code() -> None:
    series = _series(40, 80.0, 8)
    single = Forecaster(CONFIG, params=PARAMS, num_boost_round=10, calibration_days=0)
    single.fit({"openaq:1": series})
    result = forecast_series(single, series, 6, series_id="openaq:9", levels=(), model_label="m v1")
    np.testing.assert_allclose(result.frame["value"], single.predict(series, 6))
    assert "not fitted on openaq:9" in result.notes[0]
