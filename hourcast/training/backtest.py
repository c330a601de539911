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

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hourcast.forecasting.arrays import FloatArray
from hourcast.forecasting.features import HOUR
from hourcast.forecasting.forecaster import Forecaster
from hourcast.training.data import series_by_id, series_timezones

__all__ = [
    "HORIZON",
    "FitFn",
    "ForecastFn",
    "HoldoutWindow",
    "backtest_forecaster",
    "backtest_window",
    "daily_origins",
    "forecast_from",
    "local_day_origins",
    "rolling_origin",
]

_log = logging.getLogger(__name__)

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
) -> FloatArray:
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


@dataclass(frozen=True)
class HoldoutWindow:
    """The backtest window of a training frame: the same local days for every series.

    Attributes:
        series_map: Regular hourly series by id.
        timezones: Each series' own time zone, by id.
        dates: The local calendar days of the window (ISO dates), oldest first.
        origins: Each series' origins: the local midnights of ``dates`` in its own zone, as
            UTC. A Beijing sensor's day starts 16:00 UTC, a Los Angeles one's 07:00 or 08:00.
    """

    series_map: dict[str, pd.Series]
    timezones: dict[str, str]
    dates: list[str]
    origins: dict[str, pd.DatetimeIndex]

    @property
    def first(self) -> pd.Timestamp:
        """The earliest origin of any series: a model fitted before it has seen no hour scored."""
        return min(o[0] for o in self.origins.values())

    @property
    def timezone(self) -> str:
        """The zone of the first series by id (the calendar of a series the model never saw)."""
        return self.timezones[min(self.timezones)]

    @property
    def all_origins(self) -> pd.DatetimeIndex:
        """Every series' origins, as one sorted UTC index without repeats."""
        return pd.DatetimeIndex(sorted({o for found in self.origins.values() for o in found}))


def local_day_origins(
    span: pd.DatetimeIndex, timezones: Mapping[str, str], *, days: int, horizon: int = HORIZON
) -> tuple[list[str], dict[str, pd.DatetimeIndex]]:
    """The last ``days`` local days whose ``horizon`` hours fit in ``span`` in every zone.

    Args:
        span: UTC hours; only its first and last are used.
        timezones: The zone of each series, by id.
        days: How many days.
        horizon: Hours forecast from each origin. Defaults to :data:`HORIZON`.

    Returns:
        tuple: The days (ISO dates, oldest first) and each series' origins at their local
        midnights (as UTC).
    """
    bounds = pd.DatetimeIndex([span.min(), span.max()])
    every = int((bounds[1] - bounds[0]) / pd.Timedelta(days=1)) + 2  # each day of the span
    by_zone: dict[str, dict[str, pd.Timestamp]] = {}
    for zone in sorted(set(timezones.values())):
        fits = daily_origins(bounds, timezone=zone, n_origins=every, horizon=horizon)
        by_zone[zone] = {o.tz_convert(zone).date().isoformat(): o for o in fits}
    shared = set.intersection(*(set(midnights) for midnights in by_zone.values()))
    dates = sorted(shared)[-days:]
    origins = {
        sid: pd.DatetimeIndex([by_zone[zone][d] for d in dates]) for sid, zone in timezones.items()
    }
    return dates, origins


def backtest_window(frame: pd.DataFrame, days: int) -> HoldoutWindow:
    """The series of a prepared frame and the last ``days`` local-midnight origins of each.

    Args:
        frame (pd.DataFrame): A prepared training frame (``series_id``, ``ts``, ``value``,
            ``timezone``).
        days (int): Daily origins.
    """
    series_map = series_by_id(frame)
    timezones = series_timezones(frame)
    span = pd.DatetimeIndex(frame["ts"])
    dates, origins = local_day_origins(span, timezones, days=days)
    return HoldoutWindow(series_map, timezones, dates, origins)


def _observed_before(series: pd.Series, cutoff: pd.Timestamp) -> bool:
    return bool(series[series.index < cutoff].notna().any())


def backtest_forecaster(
    forecaster: Forecaster,
    series_map: Mapping[str, pd.Series],
    origins: pd.DatetimeIndex | Mapping[str, pd.DatetimeIndex],
    *,
    fit: bool = True,
) -> pd.DataFrame:
    """Forecast 24 h with intervals from every origin for every series.

    A series with no observed hour before the fit (the earliest origin) is left out of the
    fit and the backtest, and so is an origin with no observed hour before it; both are
    logged. The refit on all data still includes such a series.

    Args:
        forecaster (Forecaster): Fitted here on the data before the first origin if ``fit``;
            else used as is (e.g. the champion).
        series_map (Mapping[str, pd.Series]): Regular hourly series by id.
        origins (pd.DatetimeIndex | Mapping): First forecast hours: the same for every series,
            or each series' own (:attr:`HoldoutWindow.origins`).
        fit (bool): Fit once on all data before the first origin. Defaults to True.

    Returns:
        pd.DataFrame: ``series_id``, ``origin``, ``ts``, ``step``, ``actual``, ``forecast`` and,
        when the model has intervals, ``lo_<level>`` / ``hi_<level>`` per level.

    Raises:
        ValueError: No series has an observed hour before the window.
    """
    by_series = (
        {sid: pd.DatetimeIndex(origins) for sid in series_map}
        if isinstance(origins, pd.DatetimeIndex)
        else {sid: pd.DatetimeIndex(origins[sid]) for sid in series_map if sid in origins}
    )
    first = min(o[0] for o in by_series.values() if len(o))
    kept = {sid: s for sid, s in series_map.items() if sid in by_series}
    if fit:
        before = {sid: s[s.index < first] for sid, s in kept.items()}
        empty = sorted(sid for sid, s in before.items() if not s.notna().any())
        for sid in empty:
            _log.warning(
                "series %s left out of the backtest: no observed hour before %s", sid, first
            )
        kept = {sid: s for sid, s in kept.items() if sid not in empty}
        if not kept:
            raise ValueError(f"no series has an observed hour before the backtest from {first}")
        forecaster.fit({sid: before[sid] for sid in kept})
    levels = forecaster.interval_levels
    columns = ["value"] + [f"{side}_{level}" for level in levels for side in ("lo", "hi")]
    codes = forecaster.series_codes
    parts = []
    for sid, series in kept.items():
        # A global model forecasts a series it never saw with a missing code; a model of one
        # series (code 0) forecasts any.
        code = sid if sid in codes or len(codes) > 1 else None

        def predict(history: pd.Series, horizon: int, _sid: str | None = code) -> Any:
            return forecaster.predict_intervals(history, horizon, levels, series_id=_sid)

        for origin in by_series[sid]:
            if not _observed_before(series, origin):
                _log.warning("origin %s of series %s skipped: no observed hour before", origin, sid)
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
    if not parts:
        raise ValueError("no series has an observed hour before any origin of the backtest")
    return pd.concat(parts, ignore_index=True)
