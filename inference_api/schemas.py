"""Request and response schemas of the inference API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from typing_extensions import TypedDict

__all__ = [
    "FORECAST_EXAMPLES",
    "FORECAST_RESPONSE_EXAMPLE",
    "MAX_BATCH",
    "MAX_HISTORY_POINTS",
    "BadRequest",
    "BatchRequest",
    "BatchResponse",
    "BatchResult",
    "ErrorMessage",
    "FieldError",
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
    "RegistryPublic",
    "SeriesList",
    "SeriesPublic",
    "ServedModelState",
    "history_with_a_value",
]

MAX_HISTORY_POINTS = 24 * 7 * 8
MAX_ABS_VALUE = 1e9
MAX_BATCH = 1000
# JSON Schema of "some point has a non-null value" (the `contains` of a history).
_HAS_VALUE: dict[str, Any] = {
    "type": "object",
    "properties": {"value": {"type": "number"}},
    "required": ["value"],
}

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


class HistoryPoint(TypedDict):
    """One observed hour.

    A typed dict rather than a model: a batch carries hundreds of thousands of points, and
    validating them into dicts is several times faster.
    """

    # Strict: a JSON number or null, and a string (lax mode also took "12.5" and true as
    # values, which the schema refuses).
    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[misc]

    # A string here, parsed by hourcast.sent_history.history_arrays (several times faster than
    # pydantic's datetimes for the 336,000 points of a full batch); errors name the point.
    ts: Annotated[
        str,
        Field(
            max_length=40,
            json_schema_extra={"format": "date-time"},
            description="Hour start, ISO-8601; without an offset it is UTC. Between "
            "1970-01-01 and one hour after the current time; each hour at most once.",
        ),
    ]
    value: Annotated[
        float | None,
        Field(
            allow_inf_nan=False,
            ge=-MAX_ABS_VALUE,
            le=MAX_ABS_VALUE,
            description="Observed value (finite, and within the plausible range of the "
            "series' parameter); null if the hour has no value.",
        ),
    ]


def history_with_a_value(history: list[HistoryPoint] | None) -> list[HistoryPoint] | None:
    """The history, refused (ValueError) if it has no point with a value."""
    if history is not None and all(point["value"] is None for point in history):
        raise ValueError("history has no values")
    return history


History = Annotated[
    list[HistoryPoint] | None,
    Field(
        default=None,
        min_length=1,
        max_length=MAX_HISTORY_POINTS,
        description="Recent observations, at least one with a value; if omitted the latest "
        "stored observations are used.",
        json_schema_extra={"contains": _HAS_VALUE},
    ),
    AfterValidator(history_with_a_value),
]


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
    history: History

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


class RegistryPublic(BaseModel):
    """The model registry as the API last saw it."""

    status: Literal["ok", "degraded", "unknown"] = Field(
        description="`degraded`: the last look-up failed, the API serves the models it has."
    )
    last_contact: AwareDatetime | None = Field(
        description="When the registry last answered (UTC); null if never."
    )


class ServedModelState(BaseModel):
    """What one served training target is at."""

    target: str
    name: str
    state: Literal["loaded", "loading", "not_registered"] = Field(
        description="`not_registered`: the registry has no version with the alias (the target "
        "was never trained); it does not hold readiness. `loading`: no model yet."
    )
    version: str | None = Field(description="The version served; null while none is loaded.")
    source: Literal["registry", "cache"] | None = Field(
        description="Where the served copy came from: the registry, or the local cache."
    )


class Health(BaseModel):
    """Liveness, readiness, the registry and each served model."""

    status: Literal["ok", "degraded", "loading"] = Field(
        description="`loading`: a model that is registered is not loaded yet (not ready); "
        "`degraded`: ready, but the registry is unreachable."
    )
    models_loaded: int
    models_expected: int
    registry: RegistryPublic
    models: list[ServedModelState]


class ErrorMessage(BaseModel):
    """An error: what went wrong, naming the field or the resource."""

    detail: str


class FieldError(BaseModel):
    """One invalid field: where (``loc``), what is wrong (``msg``) and its kind (``type``)."""

    loc: list[str | int]
    msg: str
    type: str


class BadRequest(BaseModel):
    """A body that is not JSON."""

    detail: list[FieldError]


class BatchRequest(BaseModel):
    """Many series in one call, each a forecast request of its own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "series": [
                        {"series_id": "traffic:i94-westbound", "horizon": 24},
                        {"series_id": "openaq:900001", "horizon": 24, "levels": [80]},
                    ]
                }
            ]
        },
    )

    series: list[ForecastRequest] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="The series to forecast, at most HOURCAST_API_MAX_BATCH (1,000 by default).",
    )


class BatchResult(BaseModel):
    """The answer for one series of a batch, in request order."""

    series_id: str
    status: int = Field(
        description="What a single POST /v1/forecast would have answered: 200, 404, 422, 503."
    )
    forecast: ForecastResponse | None = Field(description="The forecast when status is 200.")
    error: str | None = Field(description="Why not, naming the field, when status is not 200.")


class BatchResponse(BaseModel):
    """One result per requested series."""

    results: list[BatchResult]


class SeriesPublic(BaseModel):
    """A series the API can forecast."""

    series_id: str
    source: str
    parameter: str
    units: str | None
    timezone: str
    location: str | None
    target: str = Field(description="The training target whose model forecasts it.")
    last_observed: AwareDatetime | None = Field(
        description="Newest stored hour with a value (UTC); null if none is stored, then "
        "forecasts need a history in the request."
    )
    model: ModelRef | None = Field(description="The model serving it; null while not loaded.")


class SeriesList(BaseModel):
    """Every series the served models forecast."""

    series: list[SeriesPublic]
