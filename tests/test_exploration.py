"""Descriptive views of a series (hourcast.forecasting.exploration) on series with known answers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.exploration import (
    clock_change_days,
    gap_runs,
    holiday_effects,
    local_profile,
    monthly_coverage,
)

CHICAGO = "America/Chicago"


def _hours(start: str, periods: int, tz: str = "UTC") -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(start, tz=tz), periods=periods, freq="h").tz_convert("UTC")


def test_local_profile_is_by_local_weekday_and_hour() -> None:
    index = _hours("2018-06-04 00:00", 21 * 24, tz=CHICAGO)  # three weeks from a Monday
    local = index.tz_convert(CHICAGO)
    values = pd.Series(100.0 * local.dayofweek + local.hour, index=index)
    values[(local.dayofweek == 6) & (local.hour == 5)] = np.nan  # never seen: NaN in the table

    profile = local_profile(values, CHICAGO)

    assert profile.shape == (7, 24)
    assert (profile.index.name, profile.columns.name) == ("weekday", "hour")
    assert profile.loc[0, 0] == 0.0
    assert profile.loc[2, 17] == 217.0
    assert np.isnan(profile.loc[6, 5])
    assert profile.loc[6, 4] == 604.0


def test_gap_runs_are_the_missing_stretches_inside_the_span() -> None:
    index = _hours("2020-01-01 00:00", 10)
    values = pd.Series(np.arange(10.0), index=index)
    values.iloc[7] = np.nan  # a NaN hour
    values.iloc[0] = np.nan  # before the first observed hour: not a gap
    values = values.drop(index[[3, 4]])  # absent hours

    runs = gap_runs(values)

    assert runs["hours"].tolist() == [2, 1]
    assert runs["start"].tolist() == [index[3], index[7]]
    assert runs["end"].tolist() == [index[4], index[7]]
    assert gap_runs(pd.Series([1.0, 2.0], index=index[:2])).empty
    with pytest.raises(ValueError, match="no observed value"):
        gap_runs(pd.Series([np.nan], index=index[:1]))


def test_clock_change_days_find_both_daylight_saving_changes() -> None:
    # 2018-03-11 (spring forward) to 2018-11-04 (fall back) in Chicago, every UTC hour
    start, end = (
        pd.Timestamp("2018-03-10", tz=CHICAGO),
        pd.Timestamp("2018-11-05 23:00", tz=CHICAGO),
    )
    index = pd.date_range(start, end, freq="h").tz_convert("UTC")
    values = pd.Series(1.0, index=index)
    local = index.tz_convert(CHICAGO)
    values[(local.normalize().tz_localize(None) == "2018-03-11") & (local.hour == 9)] = np.nan

    days = clock_change_days(values, CHICAGO)

    assert days["date"].tolist() == [pd.Timestamp("2018-03-11"), pd.Timestamp("2018-11-04")]
    assert days["clock_hours"].tolist() == [23, 25]
    assert days["observed_hours"].tolist() == [22, 25]
    assert clock_change_days(values, "UTC").empty


def test_holiday_effects_compare_with_the_same_weekday_around_it() -> None:
    index = _hours("2018-06-01 00:00", 61 * 24)
    values = pd.Series(100.0, index=index)
    july_4 = (index >= pd.Timestamp("2018-07-04", tz="UTC")) & (
        index < pd.Timestamp("2018-07-05", tz="UTC")
    )
    values[july_4] = 50.0
    values[index.normalize() == pd.Timestamp("2018-06-27", tz="UTC")] = 130.0  # a Wednesday

    effects = holiday_effects(values, "UTC", "US")

    assert effects["holiday"].tolist() == ["Independence Day"]
    row = effects.iloc[0]
    assert row["date"] == dt.date(2018, 7, 4)
    assert row["weekday"] == 2
    assert (row["day_mean"], row["usual_mean"], row["ratio"]) == (50.0, 100.0, 0.5)

    too_few = values.drop(index[july_4][:10])  # 14 observed hours on the holiday
    assert holiday_effects(too_few, "UTC", "US").empty
    assert holiday_effects(too_few, "UTC", "US", min_hours=14)["ratio"].tolist() == [0.5]


def test_monthly_coverage_counts_the_span_only() -> None:
    index = _hours("2020-01-31 22:00", 4)  # 22:00, 23:00, Feb 00:00, 01:00
    values = pd.Series([1.0, 2.0, np.nan, 4.0], index=index)

    coverage = monthly_coverage(values)

    assert coverage.index.tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01")]
    assert coverage.tolist() == [1.0, 0.5]
    assert coverage.name == "coverage"
