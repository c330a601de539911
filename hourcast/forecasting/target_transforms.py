"""Target transforms: how values are put on the booster's scale, and taken back.

``scale`` (default) divides the target and every lag feature by the level of the series at
the origin, the mean of the 168 hours before it, so the booster learns relative patterns and
one model serves series of different levels (a global model over many sensors). ``log1p``
and ``none`` are the alternatives measured (see :mod:`hourcast.forecasting.forecaster`).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from hourcast.forecasting.lag_transforms import RollingMean

__all__ = [
    "TARGET_TRANSFORMS",
    "TargetTransform",
    "decode",
    "encode_features",
    "encode_target",
    "origin_levels",
]

TargetTransform = Literal["none", "log1p", "scale"]
TARGET_TRANSFORMS: tuple[str, ...] = get_args(TargetTransform)
_LEVEL = RollingMean(1, 168)


def origin_levels(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Level of the series at each of ``rows``, from values before the row only.

    The mean of the 168 hours before the row; if they are mostly missing, the mean of
    everything before it; else 1.

    Args:
        values (np.ndarray): A regular hourly array, NaN where unknown.
        rows (np.ndarray): Positions in ``values``.

    Returns:
        np.ndarray: One positive level per row.
    """
    level = _LEVEL.transform(values)[rows]
    observed = ~np.isnan(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(observed, np.abs(values), 0.0))])
    counts = np.concatenate([[0], np.cumsum(observed)])
    with np.errstate(invalid="ignore", divide="ignore"):
        before = sums[rows] / counts[rows]
    level = np.where(np.isfinite(level) & (level > 0), level, before)
    return np.where(np.isfinite(level) & (level > 0), level, 1.0)


def encode_features(
    matrix: np.ndarray, value_columns: np.ndarray, scales: np.ndarray, transform: TargetTransform
) -> np.ndarray:
    """Put the columns holding series values (``value_columns``, a mask) on the target's scale.

    Args:
        matrix (np.ndarray): Feature rows; changed in place and returned.
        value_columns (np.ndarray): Boolean mask of the lag-transform columns.
        scales (np.ndarray): Level at each row's origin (:func:`origin_levels`).
        transform (str): The target transform.
    """
    if transform == "scale":
        matrix[:, value_columns] = matrix[:, value_columns] / scales[:, None]
    elif transform == "log1p":
        matrix[:, value_columns] = np.log1p(np.maximum(matrix[:, value_columns], 0.0))
    return matrix


def encode_target(target: np.ndarray, scales: np.ndarray, transform: TargetTransform) -> np.ndarray:
    """The training label on the booster's scale."""
    if transform == "scale":
        return target / scales
    if transform == "log1p":
        return np.log1p(np.maximum(target, 0.0))
    return target


def decode(
    raw: np.ndarray, scales: np.ndarray, transform: TargetTransform, *, nonnegative: bool
) -> np.ndarray:
    """Booster outputs back on the series' scale; clipped at 0 for a non-negative series."""
    if transform == "scale":
        out = raw * scales
    elif transform == "log1p":
        out = np.expm1(raw)
    else:
        out = raw
    return np.maximum(out, 0.0) if nonnegative else out
