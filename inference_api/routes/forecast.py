"""Forecasts: one series, or many in one call (``/forecast/batch``)."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import ORJSONResponse
from sqlalchemy import Engine

from hourcast.forecasting.coalesce import LoopCoalescer
from hourcast.ingestion.quality import plausible_range
from hourcast.sent_history import HistoryError, history_arrays
from hourcast.series import UnknownSeriesError
from hourcast.serving import (
    ForecastJob,
    SeriesForecast,
    choose_levels,
    forecast_jobs,
    stored_history_arrays,
)
from hourcast.settings import Settings
from hourcast.storage.observations import StoredSeries
from inference_api.deps import EngineDep, SettingsDep, StoreDep
from inference_api.errors import BODY_ERRORS, OrjsonRoute, invalid
from inference_api.model_store import LoadedModel, ModelStore
from inference_api.prometheus import FORECAST_HOURS
from inference_api.routes import series
from inference_api.schemas import (
    FORECAST_EXAMPLES,
    BatchRequest,
    BatchResponse,
    ErrorMessage,
    ForecastRequest,
    ForecastResponse,
)

router = APIRouter(tags=["forecast"], route_class=OrjsonRoute)
router.include_router(series.router)

_ERRORS: dict[int | str, dict[str, Any]] = {
    **BODY_ERRORS,
    404: {
        "model": ErrorMessage,
        "description": "Unknown series, or no stored observations to forecast from",
    },
    422: {"description": "Invalid request; the message names the field"},
    503: {"model": ErrorMessage, "description": "The series' model is not loaded yet"},
}
_BATCH_ERRORS = {key: value for key, value in _ERRORS.items() if key not in (404, 503)}


@dataclass(frozen=True)
class _Failure:
    """Why one series gets no forecast: a status and a message naming the field."""

    status: int
    message: str
    field: tuple[str | int, ...] = ()

    @property
    def text(self) -> str:
        where = ".".join(str(part) for part in self.field)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class _Planned:
    """A series ready to forecast: its model, description, levels and history."""

    model: LoadedModel
    series: StoredSeries
    job: ForecastJob


def _plan(
    item: ForecastRequest, *, settings: Settings, store: ModelStore, engine: Engine
) -> _Planned | _Failure:
    if item.horizon > settings.api_max_horizon:
        limit = settings.api_max_horizon
        return _Failure(422, f"must be at most {limit} hours", ("horizon",))
    try:
        slot, described = store.route(item.series_id, engine=engine)
    except UnknownSeriesError as exc:
        return _Failure(404, str(exc))
    model = slot.model  # read once: a swap during the request does not change it
    if model is None:
        return _Failure(503, f"the model for {item.series_id} is not loaded yet; retry later")
    try:
        levels = choose_levels(model.forecaster.interval_levels, item.levels)
    except ValueError as exc:
        return _Failure(422, f"{model.label}: {exc}", ("levels",))
    if item.history is not None:
        try:
            hours, values = history_arrays(
                [point["ts"] for point in item.history],
                [point["value"] for point in item.history],
                value_range=plausible_range(described.parameter, described.units),
            )
        except HistoryError as exc:
            return _Failure(422, exc.message, ("history", exc.index, exc.field))
    else:
        lookback = model.forecaster.config.lookback
        stored = stored_history_arrays(engine, series_id=item.series_id, hours=lookback)
        if stored is None:
            return _Failure(
                404, f"no stored observations of {item.series_id}; send them as history"
            )
        hours, values = stored
    job = ForecastJob(item.series_id, hours, values, item.horizon, levels)
    return _Planned(model, described, job)


@lru_cache(maxsize=65_536)
def _iso_hour(hour: int) -> str:
    # Hour starts in UTC, as ...Z; cached because consecutive requests share their hours.
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(hour * 3600, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:00:00Z")


def _body(planned: _Planned, forecast: SeriesForecast) -> dict[str, Any]:
    """The ForecastResponse of one series as plain JSON-ready data (no model objects)."""
    levels = planned.job.levels
    values = forecast.values.tolist()
    bounds = {level: (lo.tolist(), hi.tolist()) for level, (lo, hi) in forecast.bounds.items()}
    points = [
        {
            "ts": _iso_hour(forecast.first_hour + step),
            "value": value,
            "intervals": [
                {"level": level, "lower": bounds[level][0][step], "upper": bounds[level][1][step]}
                for level in levels
            ],
        }
        for step, value in enumerate(values)
    ]
    series = planned.series
    FORECAST_HOURS.labels(series.series_id).inc(len(points))
    return {
        "series_id": series.series_id,
        "parameter": series.parameter,
        "units": series.units,
        "timezone": series.timezone,
        "model": {"name": planned.model.name, "version": planned.model.version},
        "levels": list(levels),
        "forecast": points,
        "notes": forecast.notes,
    }


@dataclass(frozen=True)
class _Asked:
    """A planned series of one request, and when the request came in (for the log)."""

    planned: _Planned
    request: Request
    started: float


def _log(asked: _Asked, result: SeriesForecast) -> None:
    # Buffered and written by a background thread: nothing here waits on the database.
    planned = asked.planned
    origin = dt.datetime.fromtimestamp((result.first_hour - 1) * 3600, dt.UTC)
    asked.request.app.state.prediction_log.record(
        asked.request,
        series_id=planned.job.series_id,
        model_name=planned.model.name,
        model_version=planned.model.version,
        origin=origin,
        values=result.values,
        intervals=result.bounds,
        started=asked.started,
    )


def forecast_asked(asked: Sequence[_Asked], *, merge: bool = True) -> list[dict[str, Any]]:
    """Forecast every planned series: one call into each model for all of its series.

    Each forecast is also logged (``app.state.prediction_log``). ``merge``: see
    :func:`~hourcast.serving.forecast_jobs`.
    """
    by_model: dict[int, list[int]] = defaultdict(list)
    for position, item in enumerate(asked):
        by_model[id(item.planned.model)].append(position)
    bodies: list[dict[str, Any]] = [{} for _ in asked]
    for positions in by_model.values():
        model = asked[positions[0]].planned.model
        jobs = [asked[p].planned.job for p in positions]
        results = forecast_jobs(
            model.forecaster, model.predictor, jobs, model_label=model.label, merge=merge
        )
        for position, result in zip(positions, results, strict=True):
            bodies[position] = _body(asked[position].planned, result)
            _log(asked[position], result)
    return bodies


def forecast_coalescer() -> LoopCoalescer[_Asked, dict[str, Any]]:
    """What ``POST /forecast`` awaits (``app.state.forecasts``).

    The requests that reach a worker's event loop over consecutive passes are forecast
    together, on the loop, without a thread hand-off, and without waiting for a batch that
    the thread pool is computing with the same model.
    """
    return LoopCoalescer(partial(forecast_asked, merge=False))


@router.post(
    "/forecast",
    response_model=ForecastResponse,
    responses=_ERRORS,
    response_class=ORJSONResponse,
)
async def forecast(
    body: Annotated[ForecastRequest, Body(openapi_examples=FORECAST_EXAMPLES)],
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    engine: EngineDep,
) -> ORJSONResponse:
    """Forecast the next ``horizon`` hours of a series after its last observed hour."""
    started = time.perf_counter()
    if body.history is not None and store.routes_from_memory(body.series_id):
        planned = _plan(body, settings=settings, store=store, engine=engine)
    else:  # the store is read: in the thread pool, not on the event loop
        planned = await run_in_threadpool(
            _plan, body, settings=settings, store=store, engine=engine
        )
    if isinstance(planned, _Failure):
        if planned.status == status.HTTP_422_UNPROCESSABLE_ENTITY:
            raise invalid(("body", *planned.field), planned.message)
        headers = None
        if planned.status == status.HTTP_503_SERVICE_UNAVAILABLE:
            headers = {"Retry-After": str(int(settings.api_model_retry_seconds) + 1)}
        raise HTTPException(planned.status, planned.text, headers=headers)
    answer = await request.app.state.forecasts(_Asked(planned, request, started))
    return ORJSONResponse(answer)


@router.post(
    "/forecast/batch",
    response_model=BatchResponse,
    responses=_BATCH_ERRORS,
    response_class=ORJSONResponse,
)
def forecast_batch(
    body: BatchRequest,
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    engine: EngineDep,
) -> ORJSONResponse:
    """Forecast many series in one call; each gets its own status, so one bad series fails alone.

    A body that breaks the schema is refused whole (422). Otherwise every series is answered
    in request order with what ``POST /v1/forecast`` would have said for it: a forecast
    (200), or an error naming the field (404 unknown series or no stored observations, 422
    levels, timestamps or implausible values, 503 model not loaded).
    """
    started = time.perf_counter()
    if len(body.series) > settings.api_max_batch:
        raise invalid(("body", "series"), f"at most {settings.api_max_batch} series per batch")
    plans = [_plan(item, settings=settings, store=store, engine=engine) for item in body.series]
    ready = [plan for plan in plans if isinstance(plan, _Planned)]
    answers = iter(forecast_asked([_Asked(plan, request, started) for plan in ready]))
    results = []
    for item, plan in zip(body.series, plans, strict=True):
        if isinstance(plan, _Failure):
            results.append(
                {
                    "series_id": item.series_id,
                    "status": plan.status,
                    "forecast": None,
                    "error": plan.text,
                }
            )
        else:
            results.append(
                {
                    "series_id": item.series_id,
                    "status": 200,
                    "forecast": next(answers),
                    "error": None,
                }
            )
    return ORJSONResponse({"results": results})
