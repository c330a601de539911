"""Lag transforms: features of hour ``t`` computed from values at ``t - lag`` and earlier.

Small classes on one base, :class:`LagTransform` (``Lag``, ``RollingMean``, ``RollingStd``,
``SeasonalRollingMean``), in the manner of ``mlforecast.lag_transforms``. They are NaN-aware:
a rolling window with enough observed values is computed from those, so gaps are tolerated
without inventing values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from hourcast.forecasting.arrays import FloatArray

__all__ = ["Lag", "LagTransform", "RollingMean", "RollingStd", "SeasonalRollingMean"]


# Time runs along the last axis: a 1-D array is one series, a 2-D array one series per row
# (the serving fast path transforms the series of a batch together; each row's numbers are
# those of the row alone, as cumsum runs along the axis in order).


def _shift(values: FloatArray, lag: int, start: int = 0) -> FloatArray:
    """``out[..., t - start] = values[..., t - lag]`` for ``t >= start`` (NaN before the data)."""
    length = values.shape[-1]
    out = np.full((*values.shape[:-1], length - start), np.nan)
    first = max(start, lag)  # the first position with a value
    if first < length:
        out[..., first - start :] = values[..., first - lag : length - lag]
    return out


def _cumulative(values: FloatArray) -> FloatArray:
    """Cumulative sums along time with a leading 0: ``out[..., t]`` sums ``values[..., :t]``."""
    zero = np.zeros((*values.shape[:-1], 1))
    return np.concatenate([zero, np.cumsum(values, axis=-1)], axis=-1)


def _rolling_sums(
    values: FloatArray, window: int, start: int = 0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sum, sum of squares and count of the observed values in each trailing window.

    The windows ending at ``start`` and later; the cumulative sums still run from the first
    value, so that a window's numbers do not depend on ``start``.
    """
    observed = ~np.isnan(values)
    filled = np.where(observed, values, 0.0)
    sums = _cumulative(filled)
    squares = _cumulative(filled * filled)
    counts = _cumulative(observed.astype(float))
    end = np.arange(start + 1, values.shape[-1] + 1)
    begin = np.maximum(end - window, 0)
    return (
        sums[..., end] - sums[..., begin],
        squares[..., end] - squares[..., begin],
        counts[..., end] - counts[..., begin],
    )


class LagTransform(ABC):
    """A feature of hour ``t`` computed from values at ``t - lag`` and earlier.

    Args:
        lag (int): Hours between ``t`` and the newest value used (>= 1).
    """

    lag: int

    def __init__(self, lag: int) -> None:
        if lag < 1:
            raise ValueError("lag must be >= 1: lag 0 is the value being predicted")
        self.lag = lag

    @property
    @abstractmethod
    def span(self) -> int:
        """Hours between ``t`` and the oldest value used."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Column name."""

    @abstractmethod
    def _apply(self, values: FloatArray, start: int) -> FloatArray:
        """The feature at positions ``start`` and later of ``values`` (not yet shifted)."""

    def transform(self, values: FloatArray, start: int = 0) -> FloatArray:
        """The feature for every position of ``values`` (a regular hourly array, NaN = unknown).

        Args:
            values (np.ndarray): Float values, one per hour; or one series per row.
            start (int): The first position to return. The serving path forecasts from the
                end of a long history and needs its last few positions only; they are the
                same numbers, to the bit, as those of the whole array.

        Returns:
            np.ndarray: ``out[..., t - start]`` depends on ``values[..., t - span : t - lag + 1]``
            only.
        """
        return self._apply(np.asarray(values, dtype=float), start)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *sorted(vars(self).items())))


class Lag(LagTransform):
    """The value ``lag`` hours earlier."""

    @property
    def span(self) -> int:
        """``lag``: the one value read."""
        return self.lag

    @property
    def name(self) -> str:
        """``lag_<lag>``."""
        return f"lag_{self.lag}"

    def _apply(self, values: FloatArray, start: int) -> FloatArray:
        return _shift(values, self.lag, start)


class _Rolling(LagTransform):
    """Base of trailing-window statistics: ``window`` hours ending at ``t - lag``.

    Args:
        lag (int): Hours between ``t`` and the newest value of the window.
        window (int): Window length in hours (>= 2).
        min_samples (int | None): Observed values needed, else NaN. Defaults to half the window.
    """

    _stat = ""

    def __init__(self, lag: int, window: int, min_samples: int | None = None) -> None:
        super().__init__(lag)
        if window < 2:
            raise ValueError("window must be >= 2")
        self.window = window
        self.min_samples = max(2, window // 2) if min_samples is None else min_samples

    @property
    def span(self) -> int:
        return self.lag + self.window - 1

    @property
    def name(self) -> str:
        return f"rolling_{self._stat}_{self.window}_lag_{self.lag}"


class RollingMean(_Rolling):
    """Mean of the observed values in the window."""

    _stat = "mean"

    def _apply(self, values: FloatArray, start: int) -> FloatArray:
        sums, _, counts = _rolling_sums(_shift(values, self.lag), self.window, start)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts >= self.min_samples, sums / counts, np.nan)


class RollingStd(_Rolling):
    """Sample standard deviation of the observed values in the window."""

    _stat = "std"

    def _apply(self, values: FloatArray, start: int) -> FloatArray:
        sums, squares, counts = _rolling_sums(_shift(values, self.lag), self.window, start)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = (squares - sums * sums / counts) / (counts - 1)
            return np.where(counts >= self.min_samples, np.sqrt(np.maximum(variance, 0.0)), np.nan)


class SeasonalRollingMean(LagTransform):
    """Mean of ``window_size`` values one season apart: ``t - lag``, ``t - lag - season``, ...

    Args:
        lag (int): Hours between ``t`` and the newest value.
        season_length (int): Hours between the values (24: same hour on earlier days).
        window_size (int): Number of values (>= 2).
        min_samples (int | None): Observed values needed. Defaults to half, at least 1.
    """

    def __init__(
        self, lag: int, season_length: int, window_size: int, min_samples: int | None = None
    ) -> None:
        super().__init__(lag)
        if season_length < 1 or window_size < 2:
            raise ValueError("season_length must be >= 1 and window_size >= 2")
        self.season_length = season_length
        self.window_size = window_size
        self.min_samples = max(1, window_size // 2) if min_samples is None else min_samples

    @property
    def span(self) -> int:
        """``lag`` plus ``window_size - 1`` seasons."""
        return self.lag + self.season_length * (self.window_size - 1)

    @property
    def name(self) -> str:
        """``seasonal_rolling_mean_<season_length>x<window_size>_lag_<lag>``."""
        return f"seasonal_rolling_mean_{self.season_length}x{self.window_size}_lag_{self.lag}"

    def _apply(self, values: FloatArray, start: int) -> FloatArray:
        shape = (*values.shape[:-1], values.shape[-1] - start)
        sums = np.zeros(shape)
        counts = np.zeros(shape)
        for k in range(self.window_size):
            shifted = _shift(values, self.lag + k * self.season_length, start)
            observed = ~np.isnan(shifted)
            sums += np.where(observed, shifted, 0.0)
            counts += observed
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts >= self.min_samples, sums / counts, np.nan)
