"""Data-quality checks: future hours, repeated hours, plausible ranges, null ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hourcast.ingestion.quality import (
    QualityError,
    accepted_range,
    assert_quality,
    check_observations,
    duplicate_hours,
    future_timestamps,
    null_ratio,
    out_of_range,
    plausible_range,
)

NOW = pd.Timestamp("2024-05-01 12:30", tz="UTC")


def _frame(start: str, values: list[float | None]) -> pd.DataFrame:
    ts = pd.date_range(start, periods=len(values), freq="h", tz="UTC")
    return pd.DataFrame({"ts": ts, "value": values})


def test_future_hours_are_counted_against_now() -> None:
    frame = _frame("2024-05-01 10:00", [1.0, 2.0, 3.0, 4.0])  # 10:00 .. 13:00
    assert future_timestamps(frame, now=NOW) == 1
    assert future_timestamps(frame, now=NOW + pd.Timedelta(hours=1)) == 0
    assert future_timestamps(frame.iloc[:0], now=NOW) == 0


def test_duplicate_hours_per_series() -> None:
    frame = _frame("2024-05-01 00:00", [1.0, 2.0, 3.0])
    repeated = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    assert duplicate_hours(frame) == 0
    assert duplicate_hours(repeated) == 1
    two_series = pd.concat([frame.assign(series_id="a"), frame.assign(series_id="b")])
    assert duplicate_hours(two_series, by="series_id") == 0
    assert duplicate_hours(two_series) == 3


@pytest.mark.parametrize(
    ("parameter", "units", "values", "bad"),
    [
        # Beijing's PM2.5 reached ~1000 µg/m³: 994 and 1000 are real, 1001 is not; -1.1 is
        # noise near zero (kept), -6 is below the noise and -999 a sentinel.
        ("pm25", "µg/m³", [0.0, 994.0, 1000.0, None, -1.1, -5.0, -6.0, -999.0, 1001.0], 3),
        ("o3", "ppm", [0.0, 0.031, 0.5, 0.6, -0.002, -0.01], 2),
        ("o3", "ppb", [31.0, 0.6], 0),
        ("traffic_volume", "vehicles/h", [0.0, 7280.0, 10_000.0, 10_001.0, -5.0], 2),
        ("unknown_parameter", "µg/m³", [-1e9, 1e9], 0),
        ("pm25", None, [-1.0], 0),
    ],
)
def test_out_of_range(parameter: str, units: str | None, values: list, bad: int) -> None:
    frame = _frame("2024-05-01 00:00", values)
    assert out_of_range(frame, parameter=parameter, units=units) == bad


def test_plausible_range_is_case_insensitive_on_parameter_only() -> None:
    assert plausible_range("PM25", "µg/m³") == (0.0, 1000.0)
    assert plausible_range("pm25", "ug/m3") is None  # units are canonical before this check


def test_null_ratio() -> None:
    assert null_ratio(_frame("2024-05-01", [1.0, None, np.nan, 4.0])) == 0.5
    assert null_ratio(_frame("2024-05-01", [])) == 0.0


def test_check_observations_lists_every_failed_check() -> None:
    clean = _frame("2024-05-01 00:00", [10.0, 20.0, None, 30.0])
    assert check_observations(clean, parameter="pm25", units="µg/m³", now=NOW) == []

    dirty = pd.concat(
        [_frame("2024-05-01 10:00", [None, None, 5000.0, None]), clean.iloc[[0]]],
        ignore_index=True,
    )
    dirty.loc[4, "ts"] = dirty.loc[0, "ts"]  # repeat an hour
    issues = check_observations(dirty, parameter="pm25", units="µg/m³", now=NOW)
    assert [i.check for i in issues] == ["future", "duplicates", "range", "nulls"]
    assert [i.count for i in issues[:3]] == [1, 1, 1]
    with pytest.raises(QualityError) as raised:
        assert_quality(dirty, parameter="pm25", units="µg/m³", now=NOW)
    assert isinstance(raised.value, AssertionError)  # so Mage @test functions fail on it
    assert "5000" not in str(raised.value)  # counts, not values
    assert "outside -5–1000 µg/m³" in str(raised.value)


def test_near_zero_noise_is_accepted_but_the_plausible_range_is_unchanged() -> None:
    assert accepted_range("PM25", "µg/m³") == (-5.0, 1000.0)
    assert plausible_range("pm25", "µg/m³") == (0.0, 1000.0)  # what forecasts are held to
    assert accepted_range("traffic_volume", "vehicles/h") == (0.0, 10_000.0)  # no noise entry
    assert accepted_range("pm25", None) is None


def test_null_ratio_limit_is_configurable() -> None:
    frame = _frame("2024-05-01 00:00", [1.0, None, None, None])
    assert check_observations(frame, parameter="pm25", units="µg/m³", now=NOW)[0].check == "nulls"
    assert (
        check_observations(frame, parameter="pm25", units="µg/m³", max_null_ratio=0.8, now=NOW)
        == []
    )
