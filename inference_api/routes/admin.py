"""For admins: reload the served models, start a retraining in Mage, read the prediction log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import SQLAlchemyError

from hourcast.storage.ingestion_state import as_utc
from hourcast.storage.prediction_log import recent_predictions
from hourcast.targets import TARGETS
from hourcast.training.retrain_trigger import (
    RetrainError,
    RetrainNotConfiguredError,
    start_retraining,
)
from inference_api.auth import AuthError, unavailable
from inference_api.deps import EngineDep, SettingsDep, StoreDep
from inference_api.routes.models import list_models
from inference_api.schemas import ModelsPublic

router = APIRouter(prefix="/admin", tags=["admin"])
log = logging.getLogger("inference_api.admin")


def _error(code: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": AuthError, "description": description}}


@router.post("/reload", response_model=ModelsPublic)
def reload(store: StoreDep, settings: SettingsDep) -> ModelsPublic:
    """Ask the registry now which version each alias names and serve any new one.

    The API also does this by itself every ``HOURCAST_API_MODEL_POLL_SECONDS``.
    """
    store.reload()
    return list_models(store, settings)


class RetrainRequest(BaseModel):
    """Which model to retrain."""

    target: str = Field(
        description="Training target.",
        json_schema_extra={"enum": list(TARGETS)},
        examples=["traffic"],
    )

    @field_validator("target")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in TARGETS:
            raise ValueError(f"unknown target; known: {', '.join(TARGETS)}")
        return value


class RetrainStarted(BaseModel):
    """The Mage pipeline run that retrains the target (it runs on after this answer)."""

    run_id: int = Field(description="Mage pipeline run id.")
    status: str = Field(description="The run's status when Mage answered, e.g. `running`.")
    target: str
    pipeline_schedule_id: int = Field(description="The Mage API trigger that started it.")


@router.post(
    "/retrain",
    response_model=RetrainStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **_error(502, "Mage did not start the run"),
        **_error(503, "Retraining through Mage is not configured for the target"),
    },
)
def retrain(body: RetrainRequest, settings: SettingsDep) -> RetrainStarted:
    """Start the Mage pipeline ``train`` for a target through its API trigger."""
    try:
        run = start_retraining(settings, body.target)
    except RetrainNotConfiguredError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    except RetrainError as exc:
        log.error("retrain %s: %s", body.target, exc)
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, "Mage did not start the run; the API log says why"
        ) from None
    log.info("retrain %s: Mage run %d started", run.target, run.run_id)
    return RetrainStarted(
        run_id=run.run_id,
        status=run.status,
        target=run.target,
        pipeline_schedule_id=run.pipeline_schedule_id,
    )


class Bounds(BaseModel):
    """An interval, one bound per forecast hour (null where the value was not finite)."""

    lower: list[float | None]
    upper: list[float | None]


class PredictionPublic(BaseModel):
    """One logged forecast of one series."""

    model_config = ConfigDict(protected_namespaces=())  # model_name is a column here

    id: int
    request_id: str
    served_at: datetime
    caller: str = Field(description="`user:<name>`, `key:<key id>` or `local:anonymous`.")
    series_id: str
    model_name: str
    model_version: str
    origin: datetime = Field(description="Last observed hour; forecast hour i is origin + i h.")
    horizon: int
    forecast: list[float | None]
    intervals: dict[str, Bounds] = Field(description="By interval level.")
    latency_ms: float


class PredictionsPublic(BaseModel):
    """Logged forecasts, newest first."""

    predictions: list[PredictionPublic]


# The registered model names, as a documented choice: any other name is a 422, not an empty list.
ModelName = StrEnum(  # type: ignore[misc]
    "ModelName", [(target.model_name, target.model_name) for target in TARGETS.values()]
)


def _in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (no offset: UTC already); the ends of the calendar stay the ends.

    Python reads offsets up to +-23:59 and PostgreSQL only up to +-15:59, so the query gets UTC.
    """
    try:
        converted = as_utc(moment)
    except OverflowError:  # within a day of year 1 or 9999
        end = datetime.min if moment.year == 1 else datetime.max
        return end.replace(tzinfo=UTC)
    assert converted is not None  # as_utc gives None only for None
    return converted


@router.get(
    "/predictions",
    response_model=PredictionsPublic,
    responses=_error(503, "The prediction log cannot be read right now"),
)
def predictions(
    engine: EngineDep,
    series_id: Annotated[
        str | None,
        # Every series id is `<source>:<id>`; a bare word (e.g. `false`) is a 422, not an
        # empty answer that looks like "no forecasts of it".
        Query(
            max_length=200,
            pattern=r"^[^:\x00]+:[^\x00]+$",
            description="Only this series (`<source>:<id>`, e.g. `traffic:i94-westbound`).",
        ),
    ] = None,
    model: Annotated[ModelName | None, Query(description="Only this registered model.")] = None,
    since: Annotated[
        datetime | None, Query(description="Only forecasts served at or after (no offset: UTC).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many rows.")] = 100,
) -> PredictionsPublic:
    """Recent rows of the prediction log, newest first."""
    if since is not None:
        since = _in_utc(since)
    try:
        rows = recent_predictions(
            engine,
            series_id=series_id,
            model_name=None if model is None else str(model.value),
            since=since,
            limit=limit,
        )
    except SQLAlchemyError:
        raise unavailable("the prediction log cannot be read right now") from None
    return PredictionsPublic(
        predictions=[PredictionPublic.model_validate(row, from_attributes=True) for row in rows]
    )
