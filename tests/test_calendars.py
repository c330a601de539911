"""Holiday calendars: federal holidays, the State Fair, day features of local dates."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.calendars import (
    DAY_FEATURES,
    US_FEDERAL_HOLIDAYS,
    day_features,
    holiday_dates,
    holiday_names,
    minnesota_state_fair_days,
)


def _column(name: str) -> int:
    return DAY_FEATURES.index(name)


def test_state_fair_is_twelve_days_ending_on_labor_day() -> None:
    fair = sorted(minnesota_state_fair_days(2018))
    assert len(fair) == 12
    assert fair[-1] == dt.date(2018, 9, 3)  # Labor Day 2018
    assert fair[0] == dt.date(2018, 8, 23)


def test_observed_holidays_share_the_code_of_the_holiday() -> None:
    dates = pd.DatetimeIndex(["2021-12-24", "2021-12-25", "2021-12-27"])
    rows = day_features("US", dates)
    christmas = US_FEDERAL_HOLIDAYS.index("Christmas Day") + 1
    assert rows[:, _column("is_holiday")].tolist() == [1.0, 1.0, 0.0]
    assert rows[:, _column("holiday_code")].tolist() == [christmas, christmas, 0.0]
    assert "(observed)" in holiday_names("US", [2021])[dt.date(2021, 12, 24)]


def test_only_the_minnesota_calendar_has_event_days() -> None:
    public, events = holiday_dates("US", [2018])
    assert dt.date(2018, 7, 4) in public
    assert events == set()
    _, fair = holiday_dates("US-MN", [2018])
    assert fair == minnesota_state_fair_days(2018)


def test_day_features_rows_follow_the_dates_in_any_order() -> None:
    dates = pd.DatetimeIndex(["2018-07-05", "2018-07-04", "2018-07-04", "2018-07-03"])
    rows = day_features("US-MN", dates)
    assert rows.shape == (4, len(DAY_FEATURES))
    assert rows[:, _column("is_holiday")].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert rows[:, _column("days_from_holiday")].tolist() == [1.0, 0.0, 0.0, 7.0]
    assert rows[:, _column("days_to_holiday")].tolist() == [7.0, 0.0, 0.0, 1.0]
    assert day_features("US", pd.DatetimeIndex([])).shape == (0, len(DAY_FEATURES))


def test_bad_calendar_or_dates_are_refused() -> None:
    with pytest.raises(ValueError, match="known: US, US-MN"):
        day_features("FR", pd.DatetimeIndex(["2018-07-04"]))
    with pytest.raises(ValueError, match="midnights"):
        day_features("US", pd.DatetimeIndex(["2018-07-04 13:00"]))
    assert np.isfinite(day_features("US", pd.DatetimeIndex(["2018-01-01"]))).all()
