"""Descriptive views of one hourly series, for exploring data (the notebooks in ``notebooks/``).

Every function takes observed values indexed by UTC-aware hour starts, with missing hours
absent or NaN, as the sources and the store give them. Local views (weekday, hour, day)
are in the series' time zone, as the calendar features are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hourcast.forecasting.calendars import holiday_dates, holiday_names
from hourcast.forecasting.features import observed_history

__all__ = ["clock_change_days", "gap_runs", "holiday_effects", "local_profile", "monthly_coverage"]

_HOUR = pd.Timedelta(hours=1)


def _local_dates(index: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """Local calendar day (naive midnight) of each UTC hour."""
    return index.tz_convert(timezone).tz_localize(None).normalize()


def local_profile(values: pd.Series, timezone: str) -> pd.DataFrame:
    """Mean value by local weekday and local hour: the weekly shape of a series.

    Args:
        values: Observed values (UTC-aware index).
        timezone: IANA zone of the series.

    Returns:
        pd.DataFrame: 7 rows (``weekday``, 0 = Monday) by 24 columns (``hour``, 0-23); NaN
        where no value was observed.
    """
    observed = values.dropna()
    local = pd.DatetimeIndex(observed.index).tz_convert(timezone)
    table = observed.groupby([local.dayofweek, local.hour]).mean().unstack()
    table = table.reindex(index=range(7), columns=range(24))
    table.index.name, table.columns.name = "weekday", "hour"
    return table


def gap_runs(values: pd.Series) -> pd.DataFrame:
    """Runs of missing hours between the first and the last observed hour, in time order.

    Args:
        values: Observed values (UTC-aware index).

    Returns:
        pd.DataFrame: ``start`` (first missing hour, UTC), ``end`` (last missing hour) and
        ``hours`` (length of the run), one row per run.

    Raises:
        ValueError: No value is observed.
    """
    regular = observed_history(values)
    missing = regular.isna().to_numpy().astype(np.int8)
    edges = np.diff(np.r_[0, missing, 0])
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return pd.DataFrame(
        {
            "start": regular.index[starts],
            "end": regular.index[ends],
            "hours": (ends - starts + 1).astype(int),
        }
    )


def clock_change_days(values: pd.Series, timezone: str) -> pd.DataFrame:
    """The local days, from the first to the last observed one, that do not last 24 hours.

    Where daylight saving time starts a local day has 23 hours, where it ends 25; a source
    that stamps hours in local time loses the skipped hour and may hold only one of the two
    repeated ones.

    Args:
        values: Observed values (UTC-aware index).
        timezone: IANA zone of the series.

    Returns:
        pd.DataFrame: ``date`` (local day), ``clock_hours`` (23 or 25, or other lengths where
        a zone changed its offset otherwise) and ``observed_hours`` that day.

    Raises:
        ValueError: No value is observed.
    """
    regular = observed_history(values)
    local = _local_dates(pd.DatetimeIndex(regular.index), timezone)
    days = pd.date_range(local[0], local[-1], freq="D")
    # Midnight of the next day minus midnight of this one, in the zone; a zone that skips
    # midnight itself starts that day at the first hour that exists.
    first_occurrence = np.ones(len(days), dtype=bool)  # a repeated midnight: the first one
    begins = days.tz_localize(timezone, nonexistent="shift_forward", ambiguous=first_occurrence)
    ends = (days + pd.Timedelta(days=1)).tz_localize(
        timezone, nonexistent="shift_forward", ambiguous=first_occurrence
    )
    clock = pd.Series(((ends - begins) / _HOUR).to_numpy(), index=days)
    observed = pd.Series(regular.notna().to_numpy(), index=local).groupby(level=0).sum()
    odd = clock[clock != 24]
    return pd.DataFrame(
        {
            "date": odd.index,
            "clock_hours": odd.to_numpy().round().astype(int),
            "observed_hours": observed.reindex(odd.index, fill_value=0).to_numpy().astype(int),
        }
    )


def holiday_effects(
    values: pd.Series, timezone: str, calendar: str, *, min_hours: int = 20, weeks: int = 4
) -> pd.DataFrame:
    """Each public holiday's daily mean against the same weekday on usual days around it.

    A day counts only with at least ``min_hours`` observed hours. The usual level is the
    median daily mean of the same weekday in the ``weeks`` weeks before and after the
    holiday, leaving out holidays and special-event days.

    Args:
        values: Observed values (UTC-aware index).
        timezone: IANA zone of the series.
        calendar: A key of ``hourcast.forecasting.calendars.CALENDARS``.
        min_hours: Observed hours a day needs to be scored. Defaults to 20.
        weeks: Weeks either side to compare with. Defaults to 4.

    Returns:
        pd.DataFrame: ``date``, ``holiday`` (name), ``weekday`` (0 = Monday), ``day_mean``,
        ``usual_mean`` and ``ratio`` (``day_mean / usual_mean``), one row per holiday with
        both means, in date order.
    """
    observed = values.dropna()
    local = _local_dates(pd.DatetimeIndex(observed.index), timezone)
    by_day = observed.groupby(local).agg(["mean", "count"])
    daily = by_day.loc[by_day["count"] >= min_hours, "mean"]
    columns = ["date", "holiday", "weekday", "day_mean", "usual_mean", "ratio"]
    if daily.empty:
        return pd.DataFrame(columns=columns)
    day_index = pd.DatetimeIndex(daily.index)
    years = range(int(day_index.year.min()), int(day_index.year.max()) + 1)
    names = holiday_names(calendar, years)
    public, events = holiday_dates(calendar, years)
    unusual = {pd.Timestamp(day) for day in public | events}
    rows = []
    for day, name in sorted(names.items()):
        stamp = pd.Timestamp(day)
        if stamp not in daily.index:
            continue
        around = [stamp + pd.Timedelta(weeks=k) for k in range(-weeks, weeks + 1) if k != 0]
        usual = daily.reindex([d for d in around if d not in unusual]).dropna()
        if usual.empty:
            continue
        usual_mean = float(usual.median())
        rows.append(
            {
                "date": stamp.date(),
                "holiday": name,
                "weekday": stamp.dayofweek,
                "day_mean": float(daily[stamp]),
                "usual_mean": usual_mean,
                "ratio": float(daily[stamp]) / usual_mean if usual_mean else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def monthly_coverage(values: pd.Series) -> pd.Series:
    """Share of hours observed in each UTC calendar month of the series' span.

    The first and the last month count only the hours from the first and up to the last
    observed hour.

    Args:
        values: Observed values (UTC-aware index).

    Returns:
        pd.Series: ``coverage`` (0-1) indexed by the month's first day (naive, UTC).

    Raises:
        ValueError: No value is observed.
    """
    regular = observed_history(values)
    months = pd.DatetimeIndex(regular.index).tz_localize(None).to_period("M")
    coverage = regular.notna().groupby(months).mean()
    coverage.index = pd.PeriodIndex(coverage.index).to_timestamp()
    coverage.index.name = "month"
    return coverage.rename("coverage").astype(float)
