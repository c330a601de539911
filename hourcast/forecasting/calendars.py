"""Holiday calendars for calendar features, keyed by a short name (e.g. ``US-MN``).

A calendar is a set of public holidays (whole local days, with a name each) and a set of
special-event days. ``US-MN`` is the US federal holidays (observed days included) plus the
twelve days of the Minnesota State Fair; ``US`` is the federal holidays alone.
:func:`day_features` turns a calendar into one row of numbers per local date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

from hourcast.forecasting.arrays import BoolArray, FloatArray

__all__ = [
    "CALENDARS",
    "DAY_FEATURES",
    "US_FEDERAL_HOLIDAYS",
    "day_features",
    "holiday_dates",
    "holiday_names",
    "minnesota_state_fair_days",
]

CALENDARS = ("US", "US-MN")
# Federal holiday names as the ``holidays`` package spells them, "(observed)" stripped; the
# position + 1 is the ``holiday_code`` feature (0 = no holiday), so only append to this list.
US_FEDERAL_HOLIDAYS = (
    "New Year's Day",
    "Martin Luther King Jr. Day",
    "Washington's Birthday",
    "Memorial Day",
    "Juneteenth National Independence Day",
    "Independence Day",
    "Labor Day",
    "Columbus Day",
    "Veterans Day",
    "Thanksgiving Day",
    "Christmas Day",
)
DAY_FEATURES = (
    "is_holiday",
    "holiday_code",
    "is_event_day",
    "days_to_holiday",
    "days_from_holiday",
    "is_bridge_day",
    "holiday_last_week",
)
_MAX_DISTANCE = 7  # days_to/from_holiday are clipped here: "a week or more away"
_OBSERVED = " (observed)"


def minnesota_state_fair_days(year: int) -> set[dt.date]:
    """The twelve days of the Minnesota State Fair: they end on Labor Day."""
    september_first = dt.date(year, 9, 1)
    labor_day = september_first + dt.timedelta(days=(7 - september_first.weekday()) % 7)
    return {labor_day - dt.timedelta(days=offset) for offset in range(12)}


def _code(name: str) -> int:
    canonical = name.replace(_OBSERVED, "")
    try:
        return US_FEDERAL_HOLIDAYS.index(canonical) + 1
    except ValueError:
        return len(US_FEDERAL_HOLIDAYS) + 1  # a holiday this list does not know yet


@lru_cache(maxsize=64)
def _dates_for(calendar: str, year: int) -> tuple[dict[dt.date, str], frozenset[dt.date]]:
    if calendar not in CALENDARS:
        raise ValueError(f"unknown holiday calendar {calendar!r}; known: {', '.join(CALENDARS)}")
    public = {day: str(name) for day, name in holidays.country_holidays("US", years=year).items()}
    events = frozenset(minnesota_state_fair_days(year)) if calendar == "US-MN" else frozenset()
    return public, events


def holiday_names(calendar: str, years: Iterable[int]) -> dict[dt.date, str]:
    """Public holidays of ``calendar`` in ``years`` with their names."""
    names: dict[dt.date, str] = {}
    for year in years:
        names.update(_dates_for(calendar, year)[0])
    return names


def holiday_dates(calendar: str, years: Iterable[int]) -> tuple[set[dt.date], set[dt.date]]:
    """Public holidays and special-event days of ``calendar`` in ``years``.

    Returns:
        tuple[set[date], set[date]]: (public holidays, event days such as the State Fair).
    """
    public: set[dt.date] = set()
    events: set[dt.date] = set()
    for year in years:
        year_public, year_events = _dates_for(calendar, year)
        public |= set(year_public)
        events |= year_events
    return public, events


def _distance(flags: BoolArray, *, forward: bool) -> FloatArray:
    """Days to the next (forward) or since the last flagged day, clipped to _MAX_DISTANCE."""
    out = np.full(len(flags), _MAX_DISTANCE, dtype=float)
    last = None
    order = range(len(flags) - 1, -1, -1) if forward else range(len(flags))
    for position in order:
        if flags[position]:
            last = position
        if last is not None:
            out[position] = min(abs(last - position), _MAX_DISTANCE)
    return out


@lru_cache(maxsize=16)
def _day_table(calendar: str, first_year: int, last_year: int) -> pd.DataFrame:
    start = dt.date(first_year - 1, 12, 1)
    end = dt.date(last_year + 1, 1, 31)
    dates = pd.date_range(start, end, freq="D")
    names = holiday_names(calendar, range(first_year - 1, last_year + 2))
    _, events = holiday_dates(calendar, range(first_year - 1, last_year + 2))
    days = [d.date() for d in dates]
    is_holiday = np.array([d in names for d in days])
    weekday = dates.dayofweek.to_numpy()
    after_holiday = np.r_[False, is_holiday[:-1]]
    before_holiday = np.r_[is_holiday[1:], False]
    # A working day squeezed between a holiday and the weekend (Fri after a Thursday holiday,
    # Mon before a Tuesday one): many people take it off.
    bridge = ~is_holiday & (((weekday == 4) & after_holiday) | ((weekday == 0) & before_holiday))
    table = pd.DataFrame(
        {
            "is_holiday": is_holiday.astype(float),
            "holiday_code": [float(_code(names[d])) if d in names else 0.0 for d in days],
            "is_event_day": np.array([d in events for d in days], dtype=float),
            "days_to_holiday": _distance(is_holiday, forward=True),
            "days_from_holiday": _distance(is_holiday, forward=False),
            "is_bridge_day": bridge.astype(float),
            "holiday_last_week": np.r_[np.zeros(7, bool), is_holiday[:-7]].astype(float),
        },
        index=dates,
    )
    return table


def day_features(calendar: str, dates: pd.DatetimeIndex) -> FloatArray:
    """Holiday features of local calendar days, one row per entry of ``dates``.

    Args:
        calendar: A key of :data:`CALENDARS`.
        dates: Local dates (naive, normalized to midnight), any order, repeats allowed.

    Returns:
        np.ndarray: Shape (len(dates), len(DAY_FEATURES)), columns in :data:`DAY_FEATURES`
        order: holiday flag, holiday code (position in :data:`US_FEDERAL_HOLIDAYS` + 1),
        event-day flag, days to the next / since the last holiday (clipped to 7), bridge-day
        flag, and whether the same weekday a week earlier was a holiday.
    """
    if len(dates) == 0:
        return np.empty((0, len(DAY_FEATURES)))
    table = _day_table(calendar, int(dates.year.min()), int(dates.year.max()))
    positions = table.index.get_indexer(dates)
    if (positions < 0).any():
        raise ValueError("dates must be naive local midnights")
    return table.to_numpy()[positions]
