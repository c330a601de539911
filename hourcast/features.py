"""Features for hourly forecasting: one code path for training and serving.

Every feature at hour ``t`` is computed from values strictly before ``t`` (lags >= 1, rolling
windows over lagged values) or from the calendar of ``t`` itself, so a row never sees the
value it predicts. Training builds the frame over the whole history; serving builds it over
the history extended by the hours being forecast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hourcast.calendars import holiday_dates

__all__ = ["FeatureConfig", "build_features", "regularize"]

HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to build.

    Attributes:
        lags: Lags in hours (each >= 1).
        rolling_means: (lag, window) pairs: mean of ``window`` values ending at ``t - lag``.
        rolling_stds: (lag, window) pairs: standard deviation, likewise.
        timezone: IANA zone for calendar features.
        holiday_calendar: Key for ``hourcast.calendars.holiday_dates``, or None.
    """

    lags: tuple[int, ...] = (1, 2, 3, 24, 48, 168)
    rolling_means: tuple[tuple[int, int], ...] = ((1, 24), (24, 168))
    rolling_stds: tuple[tuple[int, int], ...] = ((1, 24),)
    timezone: str = "UTC"
    holiday_calendar: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if any(lag < 1 for lag in self.lags):
            raise ValueError("lags must be >= 1: lag 0 is the value being predicted")
        for lag, window in (*self.rolling_means, *self.rolling_stds):
            if lag < 1 or window < 2:
                raise ValueError("rolling features need lag >= 1 and window >= 2")

    @property
    def lookback(self) -> int:
        """Hours of history one feature row needs."""
        spans = [*self.lags, *(lag + window - 1 for lag, window in self.rolling_means)]
        spans += [lag + window - 1 for lag, window in self.rolling_stds]
        return max(spans)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(
            lags=tuple(data["lags"]),
            rolling_means=tuple(tuple(p) for p in data["rolling_means"]),  # type: ignore[misc]
            rolling_stds=tuple(tuple(p) for p in data["rolling_stds"]),  # type: ignore[misc]
            timezone=data["timezone"],
            holiday_calendar=data.get("holiday_calendar"),
            extra=dict(data.get("extra", {})),
        )


def regularize(values: pd.Series, end: pd.Timestamp | None = None) -> pd.Series:
    """An hourly series on a gap-free UTC index; missing hours become NaN (never invented).

    Args:
        values: Float values indexed by UTC-aware hour starts, unique.
        end: Extend the index to this hour (NaN-filled) if later than the last value.
    """
    if values.empty:
        raise ValueError("no observations")
    index = pd.DatetimeIndex(values.index)
    if index.tz is None:
        raise ValueError("timestamps must be time-zone aware")
    if index.has_duplicates:
        raise ValueError("timestamps must be unique")
    series = pd.Series(values.to_numpy(dtype=float), index=index.tz_convert("UTC")).sort_index()
    last = series.index[-1] if end is None else max(series.index[-1], end)
    full = pd.date_range(series.index[0], last, freq="h")
    return series.reindex(full)


def _calendar(index: pd.DatetimeIndex, config: FeatureConfig) -> dict[str, np.ndarray]:
    local = index.tz_convert(config.timezone)
    columns: dict[str, np.ndarray] = {
        "hour": local.hour.to_numpy(),
        "dayofweek": local.dayofweek.to_numpy(),
        "month": local.month.to_numpy(),
        "dayofyear": local.dayofyear.to_numpy(),
    }
    if config.holiday_calendar:
        dates = local.date
        public, events = holiday_dates(config.holiday_calendar, sorted(set(local.year)))
        columns["is_holiday"] = np.fromiter((d in public for d in dates), bool, len(dates))
        columns["is_event_day"] = np.fromiter((d in events for d in dates), bool, len(dates))
    return columns


def build_features(series: pd.Series, config: FeatureConfig) -> pd.DataFrame:
    """Feature rows for every hour of a regular hourly series.

    Args:
        series: Output of :func:`regularize` (NaN where the value is unknown or to forecast).
        config: The feature configuration.

    Returns:
        pd.DataFrame: One row per hour of ``series``, columns in a fixed order.
    """
    columns: dict[str, Any] = {}
    for lag in config.lags:
        columns[f"lag_{lag}"] = series.shift(lag).to_numpy()
    for lag, window in config.rolling_means:
        shifted = series.shift(lag).rolling(window, min_periods=max(2, window // 2))
        columns[f"rolling_mean_{window}_lag_{lag}"] = shifted.mean().to_numpy()
    for lag, window in config.rolling_stds:
        shifted = series.shift(lag).rolling(window, min_periods=max(2, window // 2))
        columns[f"rolling_std_{window}_lag_{lag}"] = shifted.std().to_numpy()
    columns.update(_calendar(pd.DatetimeIndex(series.index), config))
    return pd.DataFrame(columns, index=series.index).astype(float)
