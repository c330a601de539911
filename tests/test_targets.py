"""Targets: one table of what each registered model forecasts and how it is trained."""

import pytest

from hourcast.forecasting.presets import AIR_QUALITY, TRAFFIC
from hourcast.series import TRAFFIC_I94, openaq_sensor_spec
from hourcast.targets import PM25_TARGET, TARGETS, TRAFFIC_TARGET, Target, get_target


def test_one_row_per_target_with_its_own_model_name() -> None:
    assert list(TARGETS) == ["traffic", "pm25"]
    names = [target.model_name for target in TARGETS.values()]
    assert names == ["hourcast-traffic-volume", "hourcast-pm25"]
    assert get_target("pm25") is PM25_TARGET
    with pytest.raises(ValueError, match="unknown target 'o3'; known: traffic, pm25"):
        get_target("o3")


def test_a_target_measures_the_series_of_its_source_and_parameter() -> None:
    assert TRAFFIC_TARGET.measures(TRAFFIC_I94.source, TRAFFIC_I94.parameter)
    sensor = openaq_sensor_spec(
        sensor_id=7, location="x", parameter="pm25", units="µg/m³", timezone="UTC"
    )
    assert PM25_TARGET.measures(sensor.source, sensor.parameter)
    assert not PM25_TARGET.measures("openaq", "o3")
    with pytest.raises(ValueError, match="measures something else"):
        Target("bad", "m", "openaq", "pm25", "d", AIR_QUALITY, series=TRAFFIC_I94)


def test_new_forecaster_takes_the_preset_and_the_series_calendar() -> None:
    traffic = TRAFFIC_TARGET.new_forecaster(timezone="America/Chicago")
    assert traffic.config.holiday_calendar == "US-MN"
    assert traffic.config.lags == TRAFFIC.config.lags
    assert traffic.num_boost_round == TRAFFIC.num_boost_round
    tuned = PM25_TARGET.new_forecaster(
        timezone="Asia/Shanghai", num_boost_round=50, params={"max_depth": 3}
    )
    assert tuned.config.holiday_calendar is None
    assert tuned.config.timezone == "Asia/Shanghai"
    assert tuned.num_boost_round == 50
    assert tuned.params == {**AIR_QUALITY.params, "max_depth": 3}
    assert not tuned.is_fitted
