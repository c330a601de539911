"""Data-quality checks of hourly observations, as plain functions.

The Mage ``@test`` functions of the ingestion pipelines call these on what a run stored; the
ingestion itself uses :func:`accepted_range` (the plausible range, widened below zero by the
parameter's near-zero noise) to reject impossible values and sentinels before they are stored.

A frame here has a ``ts`` column (UTC-aware hour starts) and a ``value`` column (float, NaN
for hours the source reported without a value).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

__all__ = [
    "NEAR_ZERO_NOISE",
    "PLAUSIBLE_RANGES",
    "QualityError",
    "QualityIssue",
    "accepted_range",
    "assert_quality",
    "check_observations",
    "duplicate_hours",
    "future_timestamps",
    "null_ratio",
    "out_of_range",
    "plausible_range",
]

Range = tuple[float, float]

# (parameter, units) → inclusive bounds a real reading can take. Generous on purpose: they
# catch sentinels (-999, 9999) and unit mix-ups, not pollution episodes (Beijing's PM2.5
# reached ~1000 µg/m³ in January 2013).
PLAUSIBLE_RANGES: dict[tuple[str, str], Range] = {
    ("pm25", "µg/m³"): (0.0, 1000.0),
    ("pm1", "µg/m³"): (0.0, 1000.0),
    ("pm10", "µg/m³"): (0.0, 2000.0),
    ("o3", "ppm"): (0.0, 0.5),
    ("o3", "ppb"): (0.0, 500.0),
    ("o3", "µg/m³"): (0.0, 1000.0),
    ("no2", "ppm"): (0.0, 2.0),
    ("no2", "ppb"): (0.0, 2000.0),
    ("no2", "µg/m³"): (0.0, 4000.0),
    ("so2", "ppm"): (0.0, 2.0),
    ("so2", "ppb"): (0.0, 2000.0),
    ("so2", "µg/m³"): (0.0, 5000.0),
    ("co", "ppm"): (0.0, 100.0),
    ("co", "ppb"): (0.0, 100_000.0),
    ("co", "µg/m³"): (0.0, 120_000.0),
    ("temperature", "°C"): (-90.0, 60.0),
    ("relativehumidity", "%"): (0.0, 100.0),
    ("pressure", "hPa"): (850.0, 1100.0),
    ("wind_speed", "m/s"): (0.0, 120.0),
    ("um003", "particles/cm³"): (0.0, 100_000.0),
    ("traffic_volume", "vehicles/h"): (0.0, 10_000.0),
}


# (parameter, units) → how far below zero an hourly mean may read and still be a real, near-zero
# reading: instrument noise, which regulators' archives keep (the recorded OpenAQ page of sensor
# 1502 holds PM2.5 means of -1.1, -0.3, -0.6 and -1.1 µg/m³). The floor is about the noise of an
# hourly mean of the instruments that report the parameter: a beta-attenuation PM monitor's
# hourly mean scatters by a few µg/m³ around a clean-air zero, so -5 µg/m³ keeps that noise;
# gas analysers' hourly zero drift is a few ppb (a few thousandths of a ppm). Sentinels such
# as -999 and -9999 are orders of magnitude beyond every floor here, so they stay rejected.
# Parameters without an entry accept nothing below their plausible range.
NEAR_ZERO_NOISE: dict[tuple[str, str], float] = {
    ("pm25", "µg/m³"): 5.0,
    ("pm1", "µg/m³"): 5.0,
    ("pm10", "µg/m³"): 5.0,
    ("o3", "ppm"): 0.005,
    ("o3", "ppb"): 5.0,
    ("o3", "µg/m³"): 10.0,
    ("no2", "ppm"): 0.005,
    ("no2", "ppb"): 5.0,
    ("no2", "µg/m³"): 10.0,
    ("so2", "ppm"): 0.005,
    ("so2", "ppb"): 5.0,
    ("so2", "µg/m³"): 10.0,
    ("co", "ppm"): 0.1,
    ("co", "ppb"): 100.0,
    ("co", "µg/m³"): 100.0,
}


@dataclass(frozen=True)
class QualityIssue:
    """One failed check.

    Attributes:
        check: Name of the check (``future``, ``duplicates``, ``range``, ``nulls``).
        detail: What was found, for a human.
        count: Offending rows (0 for the null ratio).
    """

    check: str
    detail: str
    count: int = 0


class QualityError(AssertionError):
    """Observations failed one or more checks (an AssertionError, so Mage tests fail)."""

    def __init__(self, issues: list[QualityIssue]) -> None:
        super().__init__("; ".join(f"{i.check}: {i.detail}" for i in issues))
        self.issues = issues


def plausible_range(parameter: str, units: str | None) -> Range | None:
    """The physically plausible bounds of a parameter in given units, or None if unknown."""
    if units is None:
        return None
    return PLAUSIBLE_RANGES.get((parameter.lower(), units))


def accepted_range(parameter: str, units: str | None) -> Range | None:
    """The bounds an ingested hourly mean must lie in, or None if unknown.

    The plausible range (:func:`plausible_range`), its lower end lowered by the parameter's
    near-zero noise (:data:`NEAR_ZERO_NOISE`): a slightly negative mean is noise around a
    clean-air zero and is kept; a sentinel such as -999 is not.

    Args:
        parameter: Parameter name, e.g. ``pm25`` (any case).
        units: Canonical units.

    Returns:
        ``(low, high)``, inclusive, or None when the parameter is not known in these units.
    """
    bounds = plausible_range(parameter, units)
    if bounds is None or units is None:
        return bounds
    low, high = bounds
    return low - NEAR_ZERO_NOISE.get((parameter.lower(), units), 0.0), high


def _stamps(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["ts"], utc=True)


def future_timestamps(frame: pd.DataFrame, *, now: datetime | pd.Timestamp | None = None) -> int:
    """Rows whose hour starts after ``now`` (default: the current instant)."""
    if frame.empty:
        return 0
    limit = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    return int((_stamps(frame) > limit).sum())


def duplicate_hours(frame: pd.DataFrame, *, by: str | None = None) -> int:
    """Rows repeating an hour already present (per ``by`` column, e.g. ``series_id``)."""
    if frame.empty:
        return 0
    keys = frame.assign(ts=_stamps(frame))
    columns = ["ts"] if by is None else [by, "ts"]
    return int(keys.duplicated(subset=columns).sum())


def out_of_range(frame: pd.DataFrame, *, parameter: str, units: str | None) -> int:
    """Non-null values outside the accepted range (0 when the range is unknown)."""
    bounds = accepted_range(parameter, units)
    if bounds is None or frame.empty:
        return 0
    values = pd.to_numeric(frame["value"], errors="coerce").dropna()
    return int((~values.between(*bounds)).sum())


def null_ratio(frame: pd.DataFrame) -> float:
    """Share of rows without a value (0.0 for an empty frame)."""
    if frame.empty:
        return 0.0
    return float(pd.to_numeric(frame["value"], errors="coerce").isna().mean())


def check_observations(
    frame: pd.DataFrame,
    *,
    parameter: str,
    units: str | None,
    max_null_ratio: float = 0.5,
    now: datetime | pd.Timestamp | None = None,
) -> list[QualityIssue]:
    """Run every check on the observations of one series.

    Args:
        frame (pd.DataFrame): ``ts`` and ``value`` columns of one series.
        parameter (str): Measured parameter, e.g. ``pm25``.
        units (str | None): Units of the values.
        max_null_ratio (float): Largest acceptable share of null values. Defaults to 0.5.
        now (datetime | None): The present, for the future check. Defaults to the clock.

    Returns:
        list[QualityIssue]: Failed checks; empty when all pass.
    """
    issues: list[QualityIssue] = []
    if count := future_timestamps(frame, now=now):
        issues.append(QualityIssue("future", f"{count} hour(s) after now", count))
    if count := duplicate_hours(frame):
        issues.append(QualityIssue("duplicates", f"{count} repeated hour(s)", count))
    if count := out_of_range(frame, parameter=parameter, units=units):
        low, high = accepted_range(parameter, units) or (0.0, 0.0)
        detail = f"{count} {parameter} value(s) outside {low:g}–{high:g} {units}"
        issues.append(QualityIssue("range", detail, count))
    ratio = null_ratio(frame)
    if ratio > max_null_ratio:
        detail = f"{ratio:.0%} of hours have no value (limit {max_null_ratio:.0%})"
        issues.append(QualityIssue("nulls", detail))
    return issues


def assert_quality(
    frame: pd.DataFrame,
    *,
    parameter: str,
    units: str | None,
    max_null_ratio: float = 0.5,
    now: datetime | pd.Timestamp | None = None,
) -> None:
    """Raise :class:`QualityError` listing every failed check (see :func:`check_observations`)."""
    issues = check_observations(
        frame, parameter=parameter, units=units, max_null_ratio=max_null_ratio, now=now
    )
    if issues:
        raise QualityError(issues)
