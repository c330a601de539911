"""Request and response schemas of the inference API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "FORECAST_EXAMPLES",
    "FORECAST_RESPONSE_EXAMPLE",
    "ForecastBase",
    "ForecastPoint",
    "ForecastRequest",
    "ForecastResponse",
    "Health",
    "HistoryPoint",
    "IntervalPublic",
    "ModelPublic",
    "ModelRef",
    "ModelsPublic",
    "forecast_points",
]

MAX_HISTORY_POINTS = 24 * 7 * 8

Level = Annotated[int, Field(gt=0, lt=100, description="Interval level in percent.")]

# Named request examples for the OpenAPI docs (a drop-down in /docs).
FORECAST_EXAMPLES: dict[str, dict[str, Any]] = {
    "traffic": {
        "summary": "Traffic, from the stored observations, with 80 % and 95 % intervals",
        "value": {"series_id": "traffic:i94-westbound", "horizon": 24},
    },
    "pm25": {
        "summary": "PM2.5 at one OpenAQ sensor (global model), 80 % interval only",
        "value": {"series_id": "openaq:900001", "horizon": 24, "levels": [80]},
    },
    "history": {
        "summary": "Traffic from sent history, point forecasts only",
        "value": {
            "series_id": "traffic:i94-westbound",
            "horizon": 6,
            "levels": [],
            "history": [
                {"ts": "2018-07-08T22:00:00-05:00", "value": 2780.0},
                {"ts": "2018-07-08T23:00:00-05:00", "value": 1920.0},
            ],
        },
    },
}

FORECAST_RESPONSE_EXAMPLE: dict[str, Any] = {
    "series_id": "openaq:900001",
    "parameter": "pm25",
    "units": "µg/m³",
    "timezone": "Asia/Shanghai",
    "model": {"name": "hourcast-pm25", "version": "3"},
    "levels": [80, 95],
    "forecast": [
        {
            "ts": "2014-10-08T16:00:00Z",
            "value": 101.5,
            "intervals": [
                {"level": 80, "lower": 78.2, "upper": 126.0},
                {"level": 95, "lower": 61.7, "upper": 149.3},
            ],
        }
    ],
    "notes": [],
}


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


class ForecastBase(BaseModel):
    """What request and response share: the series."""

    series_id: str = Field(
        min_length=1,
        max_length=200,
        description="`traffic:i94-westbound`, or `openaq:<sensor_id>` for a stored PM2.5 sensor.",
        examples=["traffic:i94-westbound", "openaq:900001"],
    )


class ForecastRequest(ForecastBase):
    """Ask for a forecast of one series."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [example["value"] for example in FORECAST_EXAMPLES.values()]
        },
    )

    horizon: int = Field(default=24, ge=1, description="Hours to forecast.")
    levels: list[Level] | None = Field(
        default=None,
        max_length=10,
        description=(
            "Prediction interval levels in percent, among those the model has (GET /v1/models); "
            "default: all of them; [] for point forecasts only."
        ),
        examples=[[80, 95]],
    )
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

    @field_validator("levels")
    @classmethod
    def _unique_levels(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("levels has the same level more than once")
        return value


class IntervalPublic(BaseModel):
    """A prediction interval: the hour's value lies in it with probability ``level`` %."""

    level: int = Field(description="Level in percent.")
    lower: float
    upper: float


class ForecastPoint(BaseModel):
    """One forecast hour."""

    ts: AwareDatetime = Field(description="Hour start in UTC.")
    value: float
    intervals: list[IntervalPublic] = Field(
        default_factory=list, description="One per level of the response, narrowest first."
    )


def forecast_points(frame: pd.DataFrame, levels: Sequence[int]) -> list[ForecastPoint]:
    """Points from a forecast frame (``value``, ``lo_<level>``, ``hi_<level>`` by UTC hour)."""
    return [
        ForecastPoint(
            ts=ts.to_pydatetime(),
            value=row["value"],
            intervals=[
                IntervalPublic(level=level, lower=row[f"lo_{level}"], upper=row[f"hi_{level}"])
                for level in levels
            ],
        )
        for ts, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]


class ModelRef(BaseModel):
    """The registered model that made a forecast."""

    name: str
    version: str


class ForecastResponse(ForecastBase):
    """A forecast."""

    model_config = ConfigDict(json_schema_extra={"examples": [FORECAST_RESPONSE_EXAMPLE]})

    parameter: str = Field(description="Measured quantity, e.g. `pm25`.")
    units: str | None = Field(description="Units of the values, e.g. `µg/m³`.")
    timezone: str = Field(description="IANA time zone of the series (answers are in UTC).")
    model: ModelRef
    levels: list[int] = Field(description="Interval levels in each point, in percent.")
    forecast: list[ForecastPoint]
    notes: list[str] = Field(
        default_factory=list, description="Caveats, e.g. a series the model was not fitted on."
    )


class ModelPublic(BaseModel):
    """The model of one training target."""

    target: str = Field(description="Training target, e.g. `traffic` or `pm25`.")
    series_id: str | None = Field(
        description="The series a per-series model serves; null for a global model."
    )
    name: str
    alias: str
    version: str | None = Field(description="Null while the model is not loaded yet.")
    run_id: str | None
    loaded: bool
    error: str | None = Field(default=None, description="Why the model is not loaded, if so.")
    series_ids: list[str] = Field(
        default_factory=list, description="Series the loaded model was fitted on."
    )
    levels: list[int] = Field(
        default_factory=list, description="Interval levels (percent) the loaded model has."
    )


class ModelsPublic(BaseModel):
    """All served models."""

    models: list[ModelPublic]


class Health(BaseModel):
    """Liveness and model state."""

    status: str
    models_loaded: int
    models_expected: int
