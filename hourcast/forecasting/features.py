"""Features for hourly forecasting: one code path for training and serving.

Two kinds of feature rows are built from a regular hourly series (NaN = unknown hour):

- **One-step rows** (:func:`build_features`): the row of hour ``t`` holds lag transforms of
  values strictly before ``t`` (every transform has ``lag >= 1``), the calendar of ``t`` in the
  series' local time zone, known-future covariates at ``t`` and the series code.
- **Direct rows** (:func:`build_direct_features`): one row per (origin, step) pair. The origin
  is the first hour to forecast, ``f``; the row forecasts ``f + step - 1`` from values before
  ``f`` only. Transforms with ``lag < config.horizon`` are taken from the one-step row of ``f``
  (so ``lag_1`` is the last value before the origin, whatever the step); transforms with
  ``lag >= config.horizon`` are taken from the one-step row of the target hour (``lag_24`` is
  the same hour one day earlier), which only reaches back to ``f - 1`` or earlier because
  ``step <= horizon <= lag``. Calendar, covariates and series code belong to the target hour.

The lag transforms themselves are in :mod:`hourcast.forecasting.lag_transforms`, and which
features to build in :mod:`hourcast.forecasting.feature_config`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hourcast.forecasting.arrays import FloatArray, IntArray
from hourcast.forecasting.calendars import DAY_FEATURES, day_features
from hourcast.forecasting.feature_config import FeatureConfig
from hourcast.forecasting.lag_transforms import LagTransform

__all__ = [
    "CALENDAR_FEATURES",
    "HOUR",
    "SERIES_CODE",
    "STEP",
    "FeatureConfig",
    "build_direct_features",
    "build_features",
    "calendar_feature_names",
    "calendar_features",
    "direct_feature_names",
    "observed_history",
    "regularize",
]

HOUR = pd.Timedelta(hours=1)
# No day-of-year: with less than a year of history (a new sensor) it is extrapolated past
# the dates seen in training, and it gained traffic only ~1% MAE on the validation windows.
CALENDAR_FEATURES = ("hour", "dayofweek", "month")
SERIES_CODE = "series_code"
STEP = "step"


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


def observed_history(history: pd.Series) -> pd.Series:
    """The observed values of a history on a gap-free UTC index (what models forecast after).

    Raises:
        ValueError: No value is observed.
    """
    observed = history.dropna()
    if observed.empty:
        raise ValueError("the history has no observed value")
    return regularize(observed)


def calendar_feature_names(config: FeatureConfig) -> list[str]:
    """Names of the calendar columns ``config`` produces."""
    names = list(CALENDAR_FEATURES)
    if config.holiday_calendar:
        names += list(DAY_FEATURES)
    return names


def calendar_features(index: pd.DatetimeIndex, config: FeatureConfig) -> FloatArray:
    """Calendar of each hour in the series' local time.

    Hour, weekday, month and, with a holiday calendar, the whole-local-day holiday features of
    ``hourcast.forecasting.calendars``.

    Args:
        index: UTC-aware hour starts.
        config: Supplies the time zone and the holiday calendar.

    Returns:
        np.ndarray: Shape (len(index), len(calendar_feature_names(config))).
    """
    local = index.tz_convert(config.timezone)
    columns = [
        local.hour.to_numpy(float),
        local.dayofweek.to_numpy(float),
        local.month.to_numpy(float),
    ]
    base = np.column_stack(columns) if len(index) else np.empty((0, len(columns)))
    if not config.holiday_calendar:
        return base
    days = local.tz_localize(None).normalize()
    return np.hstack([base, day_features(config.holiday_calendar, days)])


def _covariate_matrix(
    index: pd.DatetimeIndex, config: FeatureConfig, covariates: pd.DataFrame | None
) -> FloatArray:
    if not config.known_future:
        return np.empty((len(index), 0))
    if covariates is None:
        raise ValueError(f"known-future covariates {list(config.known_future)} are required")
    missing = [c for c in config.known_future if c not in covariates.columns]
    if missing:
        raise ValueError(f"covariates lack columns: {', '.join(missing)}")
    frame = covariates[list(config.known_future)].copy()
    frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
    return frame.reindex(index).to_numpy(dtype=float)


def _one_step_matrix(
    series: pd.Series,
    config: FeatureConfig,
    transforms: list[LagTransform],
    covariates: pd.DataFrame | None,
    series_code: float,
) -> tuple[FloatArray, FloatArray]:
    """(lag-transform block, calendar + covariates + series code block) for every hour."""
    values = series.to_numpy(dtype=float)
    lagged = np.column_stack([t.transform(values) for t in transforms]) if transforms else None
    index = pd.DatetimeIndex(series.index)
    known = np.hstack(
        [
            calendar_features(index, config),
            _covariate_matrix(index, config, covariates),
            np.full((len(index), 1), float(series_code)),
        ]
    )
    return (lagged if lagged is not None else np.empty((len(values), 0))), known


def _known_names(config: FeatureConfig) -> list[str]:
    return [*calendar_feature_names(config), *config.known_future, SERIES_CODE]


def build_features(
    series: pd.Series,
    config: FeatureConfig,
    *,
    covariates: pd.DataFrame | None = None,
    series_code: float = 0.0,
) -> pd.DataFrame:
    """One-step feature rows for every hour of a regular hourly series.

    Args:
        series: Output of :func:`regularize` (NaN where the value is unknown or to forecast).
        config: The feature configuration.
        covariates: Known-future covariates indexed by UTC hour (columns ``config.known_future``).
        series_code: Numeric identifier of the series in a global (multi-series) model.

    Returns:
        pd.DataFrame: One row per hour of ``series``, columns in a fixed order.
    """
    transforms = config.transforms
    lagged, known = _one_step_matrix(series, config, transforms, covariates, series_code)
    names = [t.name for t in transforms] + _known_names(config)
    return pd.DataFrame(np.hstack([lagged, known]), index=series.index, columns=names)


def direct_feature_names(config: FeatureConfig) -> list[str]:
    """Columns of :func:`build_direct_features`, in order."""
    return [
        STEP,
        *(t.name for t in config.origin_transforms),
        *(t.name for t in config.target_transforms),
        *_known_names(config),
    ]


def build_direct_features(
    series: pd.Series,
    config: FeatureConfig,
    origins: IntArray,
    steps: IntArray,
    *,
    covariates: pd.DataFrame | None = None,
    series_code: float = 0.0,
) -> FloatArray:
    """Direct feature rows for (origin, step) pairs of a regular hourly series.

    Args:
        series: Output of :func:`regularize`, extended with NaN over the hours to forecast.
        config: The feature configuration.
        origins: Positions (in ``series``) of the first hour to forecast, one per row.
        steps: Steps ahead (1 = the origin hour itself), each ``<= config.horizon``.
        covariates: Known-future covariates indexed by UTC hour.
        series_code: Numeric identifier of the series.

    Returns:
        np.ndarray: Shape (len(origins), len(direct_feature_names(config))). Row ``r`` uses
        values before ``origins[r]`` only.
    """
    origins = np.asarray(origins, dtype=int)
    steps = np.asarray(steps, dtype=int)
    if len(origins) != len(steps):
        raise ValueError("origins and steps must have the same length")
    if len(steps) and (steps.min() < 1 or steps.max() > config.horizon):
        raise ValueError(f"steps must be in 1..{config.horizon}")
    targets = origins + steps - 1
    if len(targets) and (origins.min() < 0 or targets.max() >= len(series)):
        raise ValueError("origin or target outside the series")
    head = config.origin_transforms
    tail = config.target_transforms
    lagged, known = _one_step_matrix(series, config, head + tail, covariates, series_code)
    split = len(head)
    return np.hstack(
        [
            steps[:, None].astype(float),
            lagged[origins, :split],
            lagged[targets, split:],
            known[targets],
        ]
    )
