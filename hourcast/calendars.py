"""Holiday calendars for calendar features, keyed by a short name (e.g. ``US-MN``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache

import holidays

__all__ = ["holiday_dates", "minnesota_state_fair_days"]


def minnesota_state_fair_days(year: int) -> set[dt.date]:
    """The twelve days of the Minnesota State Fair: they end on Labor Day."""
    september_first = dt.date(year, 9, 1)
    labor_day = september_first + dt.timedelta(days=(7 - september_first.weekday()) % 7)
    return {labor_day - dt.timedelta(days=offset) for offset in range(12)}


@lru_cache(maxsize=32)
def _dates_for(calendar: str, year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    if calendar != "US-MN":
        raise ValueError(f"unknown holiday calendar {calendar!r}; known: US-MN")
    public = frozenset(holidays.US(subdiv="MN", years=year).keys())
    return public, frozenset(minnesota_state_fair_days(year))


def holiday_dates(calendar: str, years: Iterable[int]) -> tuple[set[dt.date], set[dt.date]]:
    """Public holidays and special-event days of ``calendar`` in ``years``.

    Returns:
        tuple[set[date], set[date]]: (public holidays, event days such as the State Fair).
    """
    public: set[dt.date] = set()
    events: set[dt.date] = set()
    for year in years:
        year_public, year_events = _dates_for(calendar, year)
        public |= year_public
        events |= year_events
    return public, events
