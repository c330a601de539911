"""Baseline forecasters that handle gaps natively: persistence and seasonal naive.

Each takes a history (values indexed by UTC-aware hour starts; missing hours may be absent or
NaN) and returns forecasts for the ``horizon`` hours after the last observed hour, like
``Forecaster.predict``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hourcast.forecasting.features import HOUR, observed_history

__all__ = ["persistence", "seasonal_naive"]


def _future_index(series: pd.Series, horizon: int) -> pd.DatetimeIndex:
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    return pd.date_range(series.index[-1] + HOUR, periods=horizon, freq="h")


def persistence(history: pd.Series, horizon: int) -> pd.Series:
    """The last observed value, for every hour ahead.

    Args:
        history: Observed values (UTC-aware index).
        horizon: Hours to forecast.

    Returns:
        pd.Series: Forecasts indexed by UTC hour start.
    """
    series = observed_history(history)
    return pd.Series(series.iloc[-1], index=_future_index(series, horizon), name="forecast")


def seasonal_naive(history: pd.Series, horizon: int, season: int = 24) -> pd.Series:
    """The value one season earlier; if that hour is missing, two seasons earlier, and so on.

    Args:
        history: Observed values (UTC-aware index).
        horizon: Hours to forecast.
        season: Season length in hours (24: same hour yesterday, 168: same hour last week).

    Returns:
        pd.Series: Forecasts indexed by UTC hour start; hours with no observed value at any
        whole number of seasons back fall back to persistence.
    """
    if season < 1:
        raise ValueError("season must be >= 1")
    series = observed_history(history)
    values = series.to_numpy()
    n = len(values)
    out = np.full(horizon, np.nan)
    for step in range(horizon):
        position = n + step - season
        while position >= 0 and (position >= n or np.isnan(values[position])):
            position -= season
        if position >= 0:
            out[step] = values[position]
    out[np.isnan(out)] = values[-1]
    return pd.Series(out, index=_future_index(series, horizon), name="forecast")
