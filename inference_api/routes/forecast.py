"""Forecasts."""

from typing import Any

import pandas as pd
from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError

from hourcast.series import UnknownSeriesError
from hourcast.storage.observations import latest_observations
from inference_api.deps import EngineDep, SettingsDep, StoreDep
from inference_api.metrics import FORECAST_HOURS
from inference_api.schemas import ForecastPoint, ForecastRequest, ForecastResponse, ModelRef

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
    body: ForecastRequest, settings: SettingsDep, store: StoreDep, engine: EngineDep
) -> ForecastResponse:
    """Forecast the next ``horizon`` hours of a series after its last observed hour."""
    if body.horizon > settings.api_max_horizon:
        raise _invalid("horizon", f"horizon must be at most {settings.api_max_horizon} hours")
    slot = store.slots.get(body.series_id)
    if slot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(UnknownSeriesError(body.series_id)))
    model = slot.model
    if model is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the model for {body.series_id} is not loaded yet ({slot.last_error})",
            headers={"Retry-After": str(int(settings.api_model_retry_seconds) + 1)},
        )
    if body.history is not None:
        history = pd.Series(
            [p.value for p in body.history],
            index=pd.DatetimeIndex([p.ts for p in body.history]),
            dtype=float,
        ).sort_index()
    else:
        stored = latest_observations(
            engine, series_id=body.series_id, hours=model.forecaster.config.lookback
        )
        if stored["value"].notna().sum() == 0:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"no stored observations of {body.series_id}; send them as history",
            )
        history = pd.Series(stored["value"].to_numpy(), index=pd.DatetimeIndex(stored["ts"]))
    predicted = model.forecaster.predict(history, body.horizon)
    FORECAST_HOURS.labels(body.series_id).inc(len(predicted))
    return ForecastResponse(
        series_id=body.series_id,
        model=ModelRef(name=model.name, version=model.version),
        forecast=[
            ForecastPoint(ts=ts.to_pydatetime(), value=float(v)) for ts, v in predicted.items()
        ],
    )
