"""Forecasts."""

from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, HTTPException, status
from fastapi.exceptions import RequestValidationError

from hourcast.series import UnknownSeriesError
from hourcast.serving import (
    choose_levels,
    forecast_series,
    history_from_points,
    stored_history,
)
from inference_api.deps import EngineDep, SettingsDep, StoreDep
from inference_api.prometheus import FORECAST_HOURS
from inference_api.schemas import (
    FORECAST_EXAMPLES,
    ForecastRequest,
    ForecastResponse,
    ModelRef,
    forecast_points,
)

router = APIRouter(tags=["forecast"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown series, or no stored observations to forecast from"},
    422: {"description": "Invalid request; the message names the field"},
    503: {"description": "The series' model is not loaded yet"},
}


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", field), "msg": message, "type": "value_error", "input": None}]
    )


@router.post("/forecast", response_model=ForecastResponse, responses=_ERRORS)
def forecast(
    body: Annotated[ForecastRequest, Body(openapi_examples=FORECAST_EXAMPLES)],
    settings: SettingsDep,
    store: StoreDep,
    engine: EngineDep,
) -> ForecastResponse:
    """Forecast the next ``horizon`` hours of a series after its last observed hour."""
    if body.horizon > settings.api_max_horizon:
        raise _invalid("horizon", f"horizon must be at most {settings.api_max_horizon} hours")
    try:
        slot, series = store.route(body.series_id, engine=engine)
    except UnknownSeriesError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    model = slot.model
    if model is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the model for {body.series_id} is not loaded yet ({slot.last_error})",
            headers={"Retry-After": str(int(settings.api_model_retry_seconds) + 1)},
        )
    try:
        levels = choose_levels(model.forecaster.interval_levels, body.levels)
    except ValueError as exc:
        raise _invalid("levels", f"{model.name} v{model.version}: {exc}") from None
    history: pd.Series | None
    if body.history is not None:
        history = history_from_points((p.ts, p.value) for p in body.history)
    else:
        lookback = model.forecaster.config.lookback
        history = stored_history(engine, series_id=body.series_id, hours=lookback)
    if history is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no stored observations of {body.series_id}; send them as history",
        )
    result = forecast_series(
        model.forecaster,
        history,
        body.horizon,
        series_id=body.series_id,
        levels=levels,
        model_label=f"{model.name} v{model.version}",
    )
    FORECAST_HOURS.labels(body.series_id).inc(len(result.frame))
    return ForecastResponse(
        series_id=body.series_id,
        parameter=series.parameter,
        units=series.units,
        timezone=series.timezone,
        model=ModelRef(name=model.name, version=model.version),
        levels=list(result.levels),
        forecast=forecast_points(result.frame, result.levels),
        notes=result.notes,
    )
