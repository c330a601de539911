"""Accuracy metrics that never score a missing actual.

Every metric takes ``actual`` and ``forecast`` arrays of one shape; positions where the actual
is NaN are left out (an hour that was never observed cannot be scored), while a NaN forecast
for an observed hour is an error (every model must forecast every hour it is scored on).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hourcast.forecasting.arrays import FloatArray

__all__ = [
    "METRICS",
    "Values",
    "aggregate_series",
    "mae",
    "mase",
    "mase_scale",
    "rmse",
    "score",
    "score_by_series",
    "score_by_step",
    "smape",
]

METRICS = ("mae", "rmse", "smape", "mase")
Values = Sequence[float] | FloatArray | pd.Series
"""Anything ``np.asarray`` turns into a float vector."""


def _pairs(actual: Values, forecast: Values) -> tuple[FloatArray, FloatArray]:
    a = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if a.shape != f.shape:
        raise ValueError(f"actual {a.shape} and forecast {f.shape} differ in shape")
    scored = ~np.isnan(a)
    if np.isnan(f[scored]).any():
        raise ValueError("a forecast is missing for an observed hour")
    if not scored.any():
        raise ValueError("no observed actual to score")
    return a[scored], f[scored]


def mae(actual: Values, forecast: Values) -> float:
    """Mean absolute error over observed actuals."""
    a, f = _pairs(actual, forecast)
    return float(np.mean(np.abs(f - a)))


def rmse(actual: Values, forecast: Values) -> float:
    """Root mean squared error over observed actuals."""
    a, f = _pairs(actual, forecast)
    return float(np.sqrt(np.mean((f - a) ** 2)))


def smape(actual: Values, forecast: Values) -> float:
    """Symmetric MAPE in percent (0..200); a pair of zeros counts as a perfect forecast."""
    a, f = _pairs(actual, forecast)
    denominator = np.abs(a) + np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(denominator > 0, 2 * np.abs(f - a) / denominator, 0.0)
    return float(100 * np.mean(ratio))


def mase_scale(insample: Values, season: int = 168) -> float:
    """In-sample MAE of the seasonal naive forecast (pairs with a missing value are skipped).

    Args:
        insample: Regular hourly training values, NaN for missing hours.
        season: Seasonal period in hours.

    Returns:
        float: The MASE denominator.
    """
    values = np.asarray(insample, dtype=float)
    if len(values) <= season:
        raise ValueError("the in-sample series is not longer than one season")
    diffs = np.abs(values[season:] - values[:-season])
    diffs = diffs[~np.isnan(diffs)]
    if not len(diffs) or np.mean(diffs) == 0:
        raise ValueError("no usable seasonal difference in the in-sample series")
    return float(np.mean(diffs))


def mase(actual: Values, forecast: Values, scale: float) -> float:
    """Mean absolute scaled error: MAE divided by :func:`mase_scale` of the training data."""
    if not scale > 0:
        raise ValueError("scale must be positive")
    return mae(actual, forecast) / scale


def score(
    actual: Values,
    forecast: Values,
    *,
    scale: float | None = None,
) -> dict[str, float]:
    """MAE, RMSE, sMAPE and (with ``scale``) MASE, plus the number of scored hours."""
    a, f = _pairs(actual, forecast)
    out = {"mae": mae(a, f), "rmse": rmse(a, f), "smape": smape(a, f)}
    if scale is not None:
        out["mase"] = mase(a, f, scale)
    out["hours"] = float(len(a))
    return out


def score_by_step(
    frame: pd.DataFrame,
    *,
    forecast: str = "forecast",
    actual: str = "actual",
    step: str = "step",
    scale: float | None = None,
) -> pd.DataFrame:
    """Metrics per forecast step plus an ``overall`` row.

    Args:
        frame: One row per forecast hour, with actual, forecast and step columns.
        forecast: Forecast column. Defaults to "forecast".
        actual: Actual column. Defaults to "actual".
        step: Step column. Defaults to "step".
        scale: MASE denominator, or None to leave MASE out.

    Returns:
        pd.DataFrame: Indexed by step (steps with no observed actual are left out), then
        ``overall``.
    """
    rows: dict[object, dict[str, float]] = {}
    for key, group in frame.groupby(step, sort=True):
        if group[actual].notna().any():
            rows[key] = score(group[actual], group[forecast], scale=scale)
    rows["overall"] = score(frame[actual], frame[forecast], scale=scale)
    return pd.DataFrame.from_dict(rows, orient="index")


def score_by_series(
    frame: pd.DataFrame,
    *,
    scales: Mapping[str, float] | None = None,
    series: str = "series_id",
    forecast: str = "forecast",
    actual: str = "actual",
) -> pd.DataFrame:
    """Metrics of each series on its own hours (MASE with its own scale).

    Args:
        frame: One row per forecast hour, with series, actual and forecast columns.
        scales: MASE denominator of each series (:func:`mase_scale` of its own training
            data); a series without one gets NaN MASE. None leaves MASE out.
        series: Series column. Defaults to "series_id".
        forecast: Forecast column. Defaults to "forecast".
        actual: Actual column. Defaults to "actual".

    Returns:
        pd.DataFrame: Indexed by series id (series with no observed actual are left out):
        ``mae``, ``rmse``, ``smape``, ``mase`` (with ``scales``), ``hours`` and ``level``
        (mean absolute actual of the scored hours).
    """
    rows: dict[str, dict[str, float]] = {}
    for key, group in frame.groupby(series, sort=True):
        if not group[actual].notna().any():
            continue
        sid = str(key)
        row = score(group[actual], group[forecast])
        if scales is not None:
            scale = scales.get(sid)
            row["mase"] = row["mae"] / scale if scale else float("nan")
        row["level"] = float(group[actual].abs().mean())
        rows[sid] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def aggregate_series(table: pd.DataFrame) -> dict[str, float]:
    """Per-series metrics aggregated two ways: the mean over series, and volume-weighted.

    The volume weight of a series is its scored hours times its mean absolute actual (the
    ``level`` column), i.e. the sum of its scored actuals: a sensor in a polluted city, or
    one with more scored hours, counts more than a clean or sparse one. A metric a series
    lacks (NaN MASE: no scale) is left out of both.

    Args:
        table: Output of :func:`score_by_series`.

    Returns:
        dict: ``<metric>_series_mean`` and ``<metric>_volume_weighted`` for each metric column,
        and ``series_scored``.
    """
    out = {"series_scored": float(len(table))}
    volume = (table["hours"] * table["level"]).to_numpy(float)
    for metric in [c for c in table.columns if c in METRICS]:
        values = table[metric].to_numpy(float)
        known = ~np.isnan(values)
        out[f"{metric}_series_mean"] = float(values[known].mean()) if known.any() else math.nan
        weights = volume[known]
        weighted = (
            float(np.dot(values[known], weights) / weights.sum()) if weights.sum() else math.nan
        )
        out[f"{metric}_volume_weighted"] = weighted
    return out
