"""What the monitor computes: logged forecasts against the actuals, and input drift (PSI).

Pure functions on frames, so each is tested on numbers with a known answer:

- :func:`forecast_hours` turns logged forecasts (one row per forecast, the values as lists)
  into one row per forecast hour; :func:`with_actuals` adds the observed value of that hour;
- :func:`rolling_scores` gives MAE and interval coverage per model version, series and
  horizon step, and the same over every step, every series, and both;
- :func:`psi` compares two samples of a series' values (the population stability index).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "HOUR_COLUMNS",
    "SCORE_COLUMNS",
    "coverage_by_level",
    "forecast_hours",
    "psi",
    "rolling_scores",
    "with_actuals",
]

HOUR_COLUMNS = ("model_version", "series_id", "origin", "step", "ts", "forecast")
"""The columns of :func:`forecast_hours`, before the ``lo_<level>``/``hi_<level>`` columns."""
SCORE_COLUMNS = ("model_version", "series_id", "step", "scored_hours", "mae", "coverage")
"""The columns of :func:`rolling_scores`."""

_HOUR = pd.Timedelta(hours=1)


def _bound(intervals: Any, level: str, side: str, steps: int) -> list[float]:
    values = ((intervals or {}).get(level) or {}).get(side) or []
    numbers = [np.nan if v is None else float(v) for v in values[:steps]]
    return numbers + [np.nan] * (steps - len(numbers))


def forecast_hours(forecasts: pd.DataFrame) -> pd.DataFrame:
    """One row per forecast hour of logged forecasts.

    Args:
        forecasts (pd.DataFrame): ``model_version``, ``series_id``, ``origin`` (the last
            observed hour), ``forecast`` (the point forecasts, hour 1 first; None where not
            finite) and ``intervals`` (``{"80": {"lower": [...], "upper": [...]}}``), as
            :func:`hourcast.storage.monitoring.served_forecasts` reads them.

    Returns:
        pd.DataFrame: :data:`HOUR_COLUMNS` (``step`` i is the hour ``ts`` = origin + i hours)
        and ``lo_<level>``, ``hi_<level>`` for every interval level logged (NaN where a
        forecast lacks that level).
    """
    levels = sorted(
        {str(level) for intervals in forecasts.get("intervals", []) for level in intervals or {}},
        key=int,
    )
    columns: dict[str, list[Any]] = {name: [] for name in HOUR_COLUMNS}
    for level in levels:
        columns[f"lo_{level}"], columns[f"hi_{level}"] = [], []
    for row in forecasts.to_dict("records"):
        values = [np.nan if v is None else float(v) for v in row["forecast"]]
        steps = len(values)
        origin = pd.Timestamp(row["origin"])
        columns["model_version"] += [str(row["model_version"])] * steps
        columns["series_id"] += [str(row["series_id"])] * steps
        columns["origin"] += [origin] * steps
        columns["step"] += list(range(1, steps + 1))
        columns["ts"] += [origin + i * _HOUR for i in range(1, steps + 1)]
        columns["forecast"] += values
        for level in levels:
            columns[f"lo_{level}"] += _bound(row.get("intervals"), level, "lower", steps)
            columns[f"hi_{level}"] += _bound(row.get("intervals"), level, "upper", steps)
    frame = pd.DataFrame(columns)
    frame["step"] = frame["step"].astype(int)
    frame["forecast"] = frame["forecast"].astype(float)
    for column in ("origin", "ts"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def with_actuals(hours: pd.DataFrame, actuals: Mapping[str, pd.Series]) -> pd.DataFrame:
    """``hours`` with ``actual``: the observed value of each forecast hour (NaN if none yet).

    Args:
        hours (pd.DataFrame): Output of :func:`forecast_hours`.
        actuals (Mapping[str, pd.Series]): Observed values by series id, indexed by UTC hour.
    """
    actual = np.full(len(hours), np.nan)
    for sid, rows in hours.groupby("series_id", sort=False).indices.items():
        observed = actuals.get(str(sid))
        if observed is not None and len(observed):
            index = pd.DatetimeIndex(observed.index).tz_convert("UTC")
            lookup = pd.Series(observed.to_numpy(float), index=index)
            lookup = lookup[~lookup.index.duplicated(keep="last")]
            stamps = pd.DatetimeIndex(hours["ts"]).take(np.asarray(rows))
            actual[rows] = lookup.reindex(stamps).to_numpy()
    return hours.assign(actual=actual)


def _levels(frame: pd.DataFrame) -> list[str]:
    return [c.removeprefix("lo_") for c in frame.columns if c.startswith("lo_")]


def coverage_by_level(frame: pd.DataFrame) -> dict[str, float]:
    """Share of actuals inside each interval, by level (hours without the bounds left out)."""
    coverage = {}
    for level in _levels(frame):
        lower, upper = frame[f"lo_{level}"], frame[f"hi_{level}"]
        bounded = lower.notna() & upper.notna()
        if bounded.any():
            inside = frame["actual"][bounded].between(lower[bounded], upper[bounded])
            coverage[level] = float(inside.mean())
    return coverage


def rolling_scores(scored: pd.DataFrame) -> pd.DataFrame:
    """MAE and interval coverage per model version, series and step, and rolled up.

    Args:
        scored (pd.DataFrame): Output of :func:`with_actuals`; hours without an actual (or
            without a finite forecast) are left out.

    Returns:
        pd.DataFrame: :data:`SCORE_COLUMNS`, one row per version and (series, step), (series,
        every step), (every series, step) and (every series, every step), where "every" is
        None. ``coverage`` is :func:`coverage_by_level` of the row's hours. Groups without a
        scored hour are left out.
    """
    usable = scored[scored["actual"].notna() & scored["forecast"].notna()]
    rows = []
    for keys in (["series_id", "step"], ["series_id"], ["step"], []):
        for key, group in usable.groupby(["model_version", *keys], sort=True):
            values = key if isinstance(key, tuple) else (key,)
            named: dict[str, Any] = dict(zip(["model_version", *keys], values, strict=True))
            rows.append(
                {
                    "model_version": str(named["model_version"]),
                    "series_id": str(named["series_id"]) if "series_id" in named else None,
                    "step": int(named["step"]) if "step" in named else None,
                    "scored_hours": len(group),
                    "mae": float((group["actual"] - group["forecast"]).abs().mean()),
                    "coverage": coverage_by_level(group),
                }
            )
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def psi(
    reference: Iterable[float], recent: Iterable[float], *, bins: int = 10, floor: float = 1e-4
) -> float:
    """The population stability index of ``recent`` against ``reference``.

    ``sum((q - p) * ln(q / p))`` over bins cut at the deciles (``bins`` quantiles) of the
    reference, the outer bins open-ended, where ``p`` and ``q`` are the shares of the
    reference and of the recent values in each bin (each at least ``floor``, so an empty bin
    counts without dividing by zero). Repeated quantiles (many equal values) merge bins.
    0 for the same distribution; below 0.1 is usually read as stable, above 0.25 as a shift.

    Args:
        reference (Iterable[float]): Values of the reference period (the training window).
        recent (Iterable[float]): Values of the recent period. NaNs are left out of both.
        bins (int): Quantile bins of the reference. Defaults to 10.
        floor (float): Smallest share of a bin. Defaults to 1e-4.

    Returns:
        float: The index; NaN when either sample is empty after dropping NaNs.
    """
    if bins < 2:
        raise ValueError("psi needs at least 2 bins")
    expected = np.asarray(list(reference), dtype=float)
    actual = np.asarray(list(recent), dtype=float)
    expected, actual = expected[np.isfinite(expected)], actual[np.isfinite(actual)]
    if not len(expected) or not len(actual):
        return float("nan")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.maximum(counts / len(values), floor)

    p, q = shares(expected), shares(actual)
    return float(np.sum((q - p) * np.log(q / p)))
