"""Request and response schemas of the inference API."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ForecastPoint",
    "ForecastRequest",
    "ForecastResponse",
    "Health",
    "HistoryPoint",
    "ModelPublic",
    "ModelRef",
    "ModelsPublic",
]

MAX_HISTORY_POINTS = 24 * 7 * 8


def _as_utc(value: dt.datetime) -> dt.datetime:
    # Naive timestamps are UTC by contract; aware ones are converted.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class HistoryPoint(BaseModel):
    """One observed hour."""

    model_config = ConfigDict(extra="forbid")

    ts: dt.datetime = Field(description="Hour start, ISO-8601; without an offset it is UTC.")
    value: float | None = Field(description="Observed value; null if the hour has no value.")

    @field_validator("ts")
    @classmethod
    def _on_the_hour_utc(cls, value: dt.datetime) -> dt.datetime:
        value = _as_utc(value)
        if value.minute or value.second or value.microsecond:
            raise ValueError("timestamps must be hour starts (minutes and seconds zero)")
        return value


class ForecastRequest(BaseModel):
    """Ask for a forecast of one series."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "series_id": "traffic:i94-westbound",
                    "horizon": 24,
                    "history": [
                        {"ts": "2018-07-08T22:00:00-05:00", "value": 2780.0},
                        {"ts": "2018-07-08T23:00:00-05:00", "value": 1920.0},
                    ],
                }
            ]
        },
    )

    series_id: str = Field(min_length=1, max_length=200, examples=["traffic:i94-westbound"])
    horizon: int = Field(default=24, ge=1, description="Hours to forecast.")
    history: list[HistoryPoint] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_HISTORY_POINTS,
        description="Recent observations; if omitted the latest stored observations are used.",
    )

    @field_validator("history")
    @classmethod
    def _unique_hours(cls, value: list[HistoryPoint] | None) -> list[HistoryPoint] | None:
        if value is not None:
            stamps = [point.ts for point in value]
            if len(set(stamps)) != len(stamps):
                raise ValueError("history has the same hour more than once")
            if all(point.value is None for point in value):
                raise ValueError("history has no values")
        return value


class ForecastPoint(BaseModel):
    """One forecast hour."""

    ts: AwareDatetime = Field(description="Hour start in UTC.")
    value: float


class ModelRef(BaseModel):
    """The registered model that made a forecast."""

    name: str
    version: str


class ForecastResponse(BaseModel):
    """A forecast."""

    series_id: str
    model: ModelRef
    forecast: list[ForecastPoint]


class ModelPublic(BaseModel):
    """The model serving one series."""

    series_id: str
    name: str
    alias: str
    version: str | None = Field(description="Null while the model is not loaded yet.")
    run_id: str | None
    loaded: bool
    error: str | None = Field(default=None, description="Why the model is not loaded, if so.")


class ModelsPublic(BaseModel):
    """All served models."""

    models: list[ModelPublic]


class Health(BaseModel):
    """Liveness and model state."""

    status: str
    models_loaded: int
    models_expected: int
