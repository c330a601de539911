"""Rolling-origin backtests: one origin per day at local midnight, a fixed horizon.

An *origin* is the first hour forecast (a local midnight, stored in UTC); the model sees only
hours strictly before it. Refit policy: by default the model is fitted once, on the data up to
``train_end`` (the hour before the first origin), and then only fed new observations at each
origin, like ``mlforecast``'s ``cross_validation(..., refit=False)``; ``refit_every=k`` refits
on all data before every k-th origin instead.

:func:`backtest_forecaster` is the backtest training logs and the promotion gate compares:
the last daily origins of the data (:func:`backtest_window`), 24 hours ahead, with the
forecaster's intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hourcast.forecasting.features import HOUR
from hourcast.forecasting.forecaster import Forecaster
from hourcast.training.data import series_by_id

__all__ = [
    "HORIZON",
    "FitFn",
    "ForecastFn",
    "backtest_forecaster",
    "backtest_window",
    "daily_origins",
    "forecast_from",
    "rolling_origin",
]

HORIZON = 24
"""Hours forecast from each origin of the training backtest."""

ForecastFn = Callable[[pd.Series, int], pd.Series]
"""``(history, horizon) -> forecasts`` for the hours after the last observed hour."""
FitFn = Callable[[pd.Series], ForecastFn]
"""``training series -> forecast function``."""


def daily_origins(
    index: pd.DatetimeIndex,
    *,
    timezone: str,
    n_origins: int,
    horizon: int = 24,
    train_end: pd.Timestamp | None = None,
) -> pd.DatetimeIndex:
    """Local midnights (as UTC) whose whole ``horizon`` lies inside ``index``.

    Args:
        index: UTC hour starts of the data.
        timezone: IANA zone whose midnights are the origins.
        n_origins: How many daily origins.
        horizon: Hours forecast from each origin. Defaults to 24.
        train_end: If given, the first ``n_origins`` midnights after it; else the last
            ``n_origins`` midnights of the data.

    Returns:
        pd.DatetimeIndex: Sorted UTC origins (fewer than ``n_origins`` if the data is short).
    """
    if n_origins < 1:
        raise ValueError("n_origins must be >= 1")
    index = pd.DatetimeIndex(index)
    first, last = index.min(), index.max()
    local_days = pd.date_range(
        first.tz_convert(timezone).normalize(),
        last.tz_convert(timezone).normalize(),
        freq="D",
    )
    midnights = pd.DatetimeIndex(local_days).tz_convert("UTC")
    fits = midnights[(midnights > first) & (midnights + (horizon - 1) * HOUR <= last)]
    if train_end is None:
        return fits[-n_origins:]
    cutoff = pd.Timestamp(train_end)
    if cutoff.tzinfo is None:
        raise ValueError("train_end must be time-zone aware")
    return fits[fits > cutoff][:n_origins]


def forecast_from(
    forecast: ForecastFn, history: pd.Series, origin: pd.Timestamp, horizon: int
) -> np.ndarray:
    """Forecasts for ``origin`` .. ``origin + horizon - 1`` h from the history before ``origin``.

    A forecaster forecasts the hours after the last *observed* hour; when the hours just before
    the origin are missing, it is asked for the extra hours and they are dropped.
    """
    observed = history[history.index < origin].dropna()
    if observed.empty:
        raise ValueError(f"no observation before origin {origin}")
    gap = int((origin - observed.index[-1]) / HOUR) - 1
    predicted = forecast(observed, horizon + gap)
    wanted = pd.date_range(origin, periods=horizon, freq="h")
    out = predicted.reindex(wanted).to_numpy(dtype=float)
    if np.isnan(out).any():
        raise ValueError(f"the forecast does not cover the {horizon} hours from {origin}")
    return out


def rolling_origin(
    series: pd.Series,
    fit: FitFn,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    *,
    horizon: int = 24,
    refit_every: int | None = None,
) -> pd.DataFrame:
    """Backtest a model over ``origins``.

    Args:
        series: Regular hourly series (UTC index, NaN for missing hours).
        fit: Fits on a training series and returns a forecast function.
        origins: First forecast hour of each window, sorted.
        horizon: Hours per window. Defaults to 24.
        refit_every: None fits once on the data before the first origin; k refits before
            every k-th origin on all data before it.

    Returns:
        pd.DataFrame: Columns ``origin``, ``ts``, ``step`` (1-based), ``actual`` (NaN where
        not observed) and ``forecast``; one row per origin and step.
    """
    origins = pd.DatetimeIndex(list(origins))
    if len(origins) == 0:
        raise ValueError("no origins")
    if not origins.is_monotonic_increasing:
        raise ValueError("origins must be sorted")
    if refit_every is not None and refit_every < 1:
        raise ValueError("refit_every must be >= 1")
    forecast: ForecastFn | None = None
    parts = []
    for number, origin in enumerate(origins):
        if forecast is None or (refit_every is not None and number % refit_every == 0):
            forecast = fit(series[series.index < origin])
        history = series[series.index < origin]
        predicted = forecast_from(forecast, history, origin, horizon)
        hours = pd.date_range(origin, periods=horizon, freq="h")
        parts.append(
            pd.DataFrame(
                {
                    "origin": origin,
                    "ts": hours,
                    "step": np.arange(1, horizon + 1),
                    "actual": series.reindex(hours).to_numpy(dtype=float),
                    "forecast": predicted,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def backtest_window(
    frame: pd.DataFrame, days: int
) -> tuple[dict[str, pd.Series], str, pd.DatetimeIndex]:
    """Series by id, the calendar time zone, and the last ``days`` local-midnight origins.

    Args:
        frame (pd.DataFrame): A prepared training frame (``series_id``, ``ts``, ``value``,
            ``timezone``).
        days (int): Daily origins.
    """
    series_map = series_by_id(frame)
    timezone = str(frame["timezone"].iloc[0])
    longest = max(series_map.values(), key=len)
    return series_map, timezone, daily_origins(longest.index, timezone=timezone, n_origins=days)


def backtest_forecaster(
    forecaster: Forecaster,
    series_map: Mapping[str, pd.Series],
    origins: pd.DatetimeIndex,
    *,
    fit: bool = True,
) -> pd.DataFrame:
    """Forecast 24 h with intervals from every origin for every series.

    Args:
        forecaster (Forecaster): Fitted here on the data before the first origin if ``fit``;
            else used as is (e.g. the champion).
        series_map (Mapping[str, pd.Series]): Regular hourly series by id.
        origins (pd.DatetimeIndex): First forecast hours.
        fit (bool): Fit once on all data before the first origin. Defaults to True.

    Returns:
        pd.DataFrame: ``series_id``, ``origin``, ``ts``, ``step``, ``actual``, ``forecast`` and,
        when the model has intervals, ``lo_<level>`` / ``hi_<level>`` per level.
    """
    if fit:
        forecaster.fit({sid: s[s.index < origins[0]] for sid, s in series_map.items()})
    levels = forecaster.interval_levels
    columns = ["value"] + [f"{side}_{level}" for level in levels for side in ("lo", "hi")]
    parts = []
    for sid, series in series_map.items():
        code = sid if sid in forecaster.series_codes else None

        def predict(history: pd.Series, horizon: int, _sid: str | None = code) -> Any:
            return forecaster.predict_intervals(history, horizon, levels, series_id=_sid)

        for origin in origins:
            if series[series.index < origin].dropna().empty:
                continue
            values = forecast_from(predict, series, origin, HORIZON)
            hours = pd.date_range(origin, periods=HORIZON, freq="h")
            part = pd.DataFrame(values.reshape(HORIZON, -1), columns=columns)
            part = part.rename(columns={"value": "forecast"})
            part.insert(0, "series_id", sid)
            part.insert(1, "origin", origin)
            part.insert(2, "ts", hours)
            part.insert(3, "step", np.arange(1, HORIZON + 1))
            part.insert(4, "actual", series.reindex(hours).to_numpy())
            parts.append(part)
    return pd.concat(parts, ignore_index=True)
