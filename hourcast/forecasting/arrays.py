"""Named array types, so an annotation says what an array holds.

Series values, features, forecasts and levels are float arrays (NaN where unknown); positions,
steps and hours are integer arrays; column and row selections are boolean masks.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["BoolArray", "FloatArray", "IntArray"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
"""Values on the series' or the booster's scale; NaN where unknown."""

IntArray: TypeAlias = npt.NDArray[np.integer[Any]]
"""Positions in a series, steps ahead, or local hours (pandas gives hours as int32)."""

BoolArray: TypeAlias = npt.NDArray[np.bool_]
"""A mask over rows or columns."""
