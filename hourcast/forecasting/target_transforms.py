"""Target transforms: how values are put on the booster's scale, and taken back.

``scale`` (default) divides the target and every lag feature by the level of the series at
the origin, the mean of the 168 hours before it, so the booster learns relative patterns and
one model serves series of different levels (a global model over many sensors). ``log1p``
and ``none`` are the alternatives measured (see :mod:`hourcast.forecasting.forecaster`).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from hourcast.forecasting.arrays import BoolArray, FloatArray, IntArray
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


def origin_levels(values: FloatArray, rows: IntArray) -> FloatArray:
    """Level of the series at each of ``rows``, from values before the row only.

    The mean of the 168 hours before the row; if they are mostly missing, the mean of
    everything before it; else 1.

    Args:
        values (np.ndarray): A regular hourly array, NaN where unknown; or one series per row
            (time along the last axis).
        rows (np.ndarray): Positions in ``values`` (in each series).

    Returns:
        np.ndarray: One positive level per row (per series and row).
    """
    level = _LEVEL.transform(values)[..., rows]
    observed = ~np.isnan(values)
    zero = np.zeros((*values.shape[:-1], 1))
    filled = np.where(observed, np.abs(values), 0.0)
    sums = np.concatenate([zero, np.cumsum(filled, axis=-1)], axis=-1)
    counts = np.concatenate([zero, np.cumsum(observed, axis=-1)], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = sums[..., rows] / counts[..., rows]
    level = np.where(np.isfinite(level) & (level > 0), level, before)
    return np.where(np.isfinite(level) & (level > 0), level, 1.0)


def encode_features(
    matrix: FloatArray, value_columns: BoolArray, scales: FloatArray, transform: TargetTransform
) -> FloatArray:
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


def encode_target(target: FloatArray, scales: FloatArray, transform: TargetTransform) -> FloatArray:
    """The training label on the booster's scale."""
    if transform == "scale":
        return target / scales
    if transform == "log1p":
        label: FloatArray = np.log1p(np.maximum(target, 0.0))  # numpy types ufuncs as Any
        return label
    return target


def decode(
    raw: FloatArray, scales: FloatArray, transform: TargetTransform, *, nonnegative: bool
) -> FloatArray:
    """Booster outputs back on the series' scale; clipped at 0 for a non-negative series."""
    if transform == "scale":
        out = raw * scales
    elif transform == "log1p":
        out = np.expm1(raw)
    else:
        out = raw
    return np.maximum(out, 0.0) if nonnegative else out
