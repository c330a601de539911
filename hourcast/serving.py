"""Serving: which registered model forecasts a series, and a forecast with its intervals.

The inference API serves one registered model per training target (``hourcast.targets``
``TARGETS``: ``traffic``, ``pm25``). A series goes to the target that measures it, by the rule
training uses to pick a target's series: same ``source`` and ``parameter``. The description
comes from ``KNOWN_SERIES`` (no database needed) or else from the ``series`` table, so the
global ``pm25`` model serves every stored OpenAQ PM2.5 sensor (``openaq:<sensor_id>``).

A stored sensor the global model was not fitted on is served, with a note: the model is
trained on values scaled by each series' trailing-week mean, so its patterns carry over to a
new sensor, and ``Forecaster`` forecasts an unknown ``series_id`` with a missing series code
(XGBoost's default branch). That serves a newly ingested sensor until the next retraining;
the note says the intervals were calibrated on other sensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import KNOWN_SERIES, SeriesSpec
from hourcast.storage.observations import (
    StoredSeries,
    latest_observations,
    list_series,
    load_series,
)
from hourcast.targets import TARGETS, Target

__all__ = [
    "ForecastResult",
    "SeriesLookup",
    "SeriesRoute",
    "choose_levels",
    "forecast_series",
    "history_from_points",
    "routable_series",
    "route_series",
    "served_targets",
    "store_lookup",
    "stored_history",
]

SeriesLookup = Callable[[str], StoredSeries | None]


def served_targets(names: Iterable[str]) -> list[Target]:
    """The training targets named (``Settings.api_models``), in order.

    Raises:
        ValueError: An unknown name; the message names the setting and the known targets.
    """
    names = list(names)
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        raise ValueError(
            f"HOURCAST_API_MODELS names unknown models {unknown}; known: {', '.join(TARGETS)}"
        )
    return [TARGETS[name] for name in names]


def _described(spec: SeriesSpec) -> StoredSeries:
    return StoredSeries(
        series_id=spec.series_id,
        source=spec.source,
        parameter=spec.parameter,
        timezone=spec.timezone,
        units=spec.units,
        location=spec.location,
    )


@dataclass(frozen=True)
class SeriesRoute:
    """The target whose model forecasts a series, and the series' description."""

    target: Target
    series: StoredSeries


def route_series(
    series_id: str, *, targets: Sequence[Target], lookup: SeriesLookup
) -> SeriesRoute | None:
    """The served target that measures ``series_id``, or None.

    Args:
        series_id: The series asked for.
        targets: The served targets.
        lookup: Reads a series description from the store; called only for series that are
            not in ``KNOWN_SERIES``.
    """
    spec = KNOWN_SERIES.get(series_id)
    series = _described(spec) if spec is not None else lookup(series_id)
    if series is None:
        return None
    target = next((t for t in targets if t.measures(series.source, series.parameter)), None)
    return None if target is None else SeriesRoute(target, series)


def routable_series(engine: Engine, *, targets: Sequence[Target]) -> list[str]:
    """Every series id :func:`route_series` would route: known specs and stored series."""
    ids = {
        spec.series_id
        for spec in KNOWN_SERIES.values()
        if any(t.measures(spec.source, spec.parameter) for t in targets)
    }
    for target in targets:
        stored = list_series(engine, source=target.source, parameter=target.parameter)
        ids.update(series.series_id for series in stored)
    return sorted(ids)


def store_lookup(engine: Engine) -> SeriesLookup:
    """A :data:`SeriesLookup` reading the ``series`` table."""
    return lambda series_id: load_series(engine, series_id=series_id)


# ----------------------------------------------------------------------------- history
def history_from_points(points: Iterable[tuple[datetime, float | None]]) -> pd.Series:
    """Sent ``(hour, value)`` pairs as a float series sorted by hour (None becomes NaN)."""
    stamps, values = zip(*points, strict=True)
    return pd.Series(values, index=pd.DatetimeIndex(stamps), dtype=float).sort_index()


def stored_history(engine: Engine, *, series_id: str, hours: int) -> pd.Series | None:
    """The last ``hours`` stored hours of a series, or None if none has a value."""
    stored = latest_observations(engine, series_id=series_id, hours=hours)
    if stored["value"].notna().sum() == 0:
        return None
    return pd.Series(stored["value"].to_numpy(), index=pd.DatetimeIndex(stored["ts"]))


# ----------------------------------------------------------------------------- forecast
def choose_levels(available: Sequence[int], requested: Sequence[int] | None) -> tuple[int, ...]:
    """The interval levels to return: all available ones by default, else those requested.

    Raises:
        ValueError: A requested level is not available; the message lists the available ones.
    """
    if requested is None:
        return tuple(available)
    missing = [level for level in requested if level not in available]
    if missing:
        have = ", ".join(map(str, available)) if available else "none"
        raise ValueError(f"no intervals at levels {missing}; this model has: {have}")
    return tuple(sorted(requested))


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts (``value`` and ``lo_<level>``/``hi_<level>`` columns by UTC hour) and notes."""

    frame: pd.DataFrame
    levels: tuple[int, ...]
    notes: list[str] = field(default_factory=list)


def forecast_series(
    forecaster: Forecaster,
    history: pd.Series,
    horizon: int,
    *,
    series_id: str,
    levels: Sequence[int],
    model_label: str,
) -> ForecastResult:
    """Forecast ``horizon`` hours after ``history`` with the intervals of ``levels``.

    Args:
        forecaster: The served model.
        history: Observed values by UTC hour.
        horizon: Hours to forecast.
        series_id: The series; told to the model if it was fitted on it or is global.
        levels: Interval levels among ``forecaster.interval_levels``; empty for point forecasts.
        model_label: How notes name the model, e.g. ``hourcast-pm25 v3``.

    Returns:
        ForecastResult: The forecast frame and notes for the consumer.
    """
    codes = forecaster.series_codes
    notes = []
    if series_id not in codes:
        notes.append(
            f"{model_label} was not fitted on {series_id}: it forecasts it from its recent "
            "values without a series code, and its intervals were calibrated on other series"
        )
    # A single-series model's code is constant (never split on); a global one needs the id.
    argument = series_id if series_id in codes or len(codes) > 1 else None
    frame = forecaster.predict_intervals(history, horizon, levels, series_id=argument)
    if levels and horizon > forecaster.config.horizon:
        notes.append(
            f"intervals after hour {forecaster.config.horizon} reuse that hour's "
            "calibration and are too narrow"
        )
    return ForecastResult(frame=frame, levels=tuple(levels), notes=notes)
