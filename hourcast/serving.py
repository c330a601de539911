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
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from hourcast.forecasting.arrays import FloatArray, IntArray
from hourcast.forecasting.fast_path import (
    DirectPredictor,
    SeriesInput,
    recent_observed,
)
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import KNOWN_SERIES, SeriesSpec
from hourcast.storage.observations import (
    StoredSeries,
    latest_observations,
    list_series,
    load_series,
)
from hourcast.storage.schema import observations
from hourcast.targets import TARGETS, Target

__all__ = [
    "ForecastJob",
    "ForecastResult",
    "SeriesForecast",
    "SeriesLookup",
    "SeriesRoute",
    "choose_levels",
    "forecast_jobs",
    "forecast_series",
    "history_from_points",
    "last_observed_hours",
    "routable_series",
    "route_series",
    "served_targets",
    "store_lookup",
    "stored_history",
    "stored_history_arrays",
]

SeriesLookup = Callable[[str], StoredSeries | None]
_HOUR_NS = 3_600_000_000_000


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


def last_observed_hours(engine: Engine) -> dict[str, datetime]:
    """The newest stored hour with a value of every series (UTC)."""
    query = (
        select(observations.c.series_id, func.max(observations.c.ts))
        .where(observations.c.value.is_not(None))
        .group_by(observations.c.series_id)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {
        series_id: ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC) for series_id, ts in rows
    }


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


def stored_history_arrays(
    engine: Engine, *, series_id: str, hours: int
) -> tuple[IntArray, FloatArray] | None:
    """The last ``hours`` stored hours as (epoch hours, values), or None if none has a value."""
    stored = latest_observations(engine, series_id=series_id, hours=hours)
    values = stored["value"].to_numpy(dtype=float)
    if not (~np.isnan(values)).any():
        return None
    stamps = pd.DatetimeIndex(stored["ts"])
    return stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) // _HOUR_NS, values


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
    # A single-series model's code is constant (never split on); a global one needs the id.
    argument = series_id if series_id in codes or len(codes) > 1 else None
    frame = forecaster.predict_intervals(history, horizon, levels, series_id=argument)
    notes = _notes(forecaster, series_id, horizon, levels, model_label)
    return ForecastResult(frame=frame, levels=tuple(levels), notes=notes)


def _notes(
    forecaster: Forecaster,
    series_id: str,
    horizon: int,
    levels: Sequence[int],
    model_label: str,
) -> list[str]:
    notes = []
    if series_id not in forecaster.series_codes:
        notes.append(
            f"{model_label} was not fitted on {series_id}: it forecasts it from its recent "
            "values without a series code, and its intervals were calibrated on other series"
        )
    if levels and horizon > forecaster.config.horizon:
        notes.append(
            f"intervals after hour {forecaster.config.horizon} reuse that hour's "
            "calibration and are too narrow"
        )
    return notes


@dataclass(frozen=True)
class ForecastJob:
    """One series to forecast from arrays.

    Attributes:
        series_id: The series.
        hours: Hour starts of its history as whole hours since 1970-01-01 UTC, unique.
        values: The value of each hour; NaN where unknown (at least one is observed).
        horizon: Hours to forecast.
        levels: Interval levels, among the model's (:func:`choose_levels`).
    """

    series_id: str
    hours: IntArray
    values: FloatArray
    horizon: int
    levels: tuple[int, ...]


@dataclass(frozen=True)
class SeriesForecast:
    """Forecasts of one job: point values and the bounds of each level, by hour.

    Attributes:
        first_hour: Epoch hour of the first forecast hour (hours follow one by one).
        values: Point forecasts.
        bounds: Per level, the lower and upper bounds.
        notes: Caveats for the consumer.
    """

    first_hour: int
    values: FloatArray
    bounds: dict[int, tuple[FloatArray, FloatArray]]
    notes: list[str]


def _slow_forecast(forecaster: Forecaster, job: ForecastJob, model_label: str) -> SeriesForecast:
    index = pd.DatetimeIndex(pd.to_datetime(job.hours * _HOUR_NS, utc=True))
    history = pd.Series(job.values, index=index).sort_index()
    result = forecast_series(
        forecaster,
        history,
        job.horizon,
        series_id=job.series_id,
        levels=job.levels,
        model_label=model_label,
    )
    frame = result.frame
    return SeriesForecast(
        first_hour=int(frame.index[0].value // _HOUR_NS),
        values=frame["value"].to_numpy(),
        bounds={
            level: (frame[f"lo_{level}"].to_numpy(), frame[f"hi_{level}"].to_numpy())
            for level in job.levels
        },
        notes=result.notes,
    )


def forecast_jobs(
    forecaster: Forecaster,
    predictor: DirectPredictor | None,
    jobs: Sequence[ForecastJob],
    *,
    model_label: str,
    merge: bool = True,
) -> list[SeriesForecast]:
    """Forecast every job with one model; the numbers of :func:`forecast_series`.

    With a ``predictor`` (:class:`~hourcast.forecasting.fast_path.DirectPredictor` of
    ``forecaster``) every job goes through one booster call per block and no pandas object
    is built; without one, each job goes through ``Forecaster.predict_intervals``.

    Args:
        forecaster: The served model.
        predictor: Its fast path, or None.
        jobs: The series to forecast.
        model_label: How notes name the model, e.g. ``hourcast-pm25 v3``.
        merge: Merge with other threads' calls of the predictor (``DirectPredictor.predict``).
    """
    if predictor is None:
        return [_slow_forecast(forecaster, job, model_label) for job in jobs]
    lookback = forecaster.config.lookback
    inputs = []
    for job in jobs:
        first, values = recent_observed(job.hours, job.values, lookback)
        inputs.append(SeriesInput(first, values, job.horizon, job.series_id))
    out = []
    for job, forecast in zip(jobs, predictor.predict(inputs, merge=merge), strict=True):
        out.append(
            SeriesForecast(
                first_hour=forecast.first_hour,
                values=forecast.values,
                bounds=predictor.intervals(forecast, job.levels),
                notes=_notes(forecaster, job.series_id, job.horizon, job.levels, model_label),
            )
        )
    return out
