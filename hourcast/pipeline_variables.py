"""The variables of the Mage pipelines, parsed and checked before a block uses them.

Mage hands a block its pipeline's variables (the defaults in the pipeline's ``metadata.yaml``,
overridden by a trigger's ``variables`` or ``mage run --runtime-vars``) in ``**kwargs``, beside
keys of its own (``execution_date``, ``event``...). Values come as JSON values or, typed in the
UI, as text. Each pipeline has one model here, on one base: an empty variable means its
default, a list may also be comma-separated text, and a bad value raises
:class:`PipelineVariableError` with a message that names the variable.

The blocks parse ``kwargs`` with the model of their pipeline::

    variables = TrainVariables.parse(kwargs)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, Self

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PlainValidator,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from hourcast.ingestion.openaq import DEFAULT_OVERLAP
from hourcast.ingestion.openaq_sensors import OpenAQSelection
from hourcast.timeutil import parse_instant

__all__ = [
    "MonitorVariables",
    "OpenAQIngestVariables",
    "PipelineVariableError",
    "PipelineVariables",
    "TrafficIngestVariables",
    "TrainVariables",
]


class PipelineVariableError(ValueError):
    """A pipeline variable is missing or bad; the message names each one and its value."""


def _instant(value: Any) -> pd.Timestamp:
    try:
        return parse_instant(str(value), field="")
    except ValueError as exc:  # its message starts with the field, which the error names
        raise ValueError(str(exc).removeprefix(": ")) from None


Instant = Annotated[pd.Timestamp, PlainValidator(_instant)]
"""An ISO-8601 date-time as a UTC timestamp; without an offset it is taken as UTC."""
UtcDateTime = Annotated[datetime, PlainValidator(lambda value: _instant(value).to_pydatetime())]
"""The same as a plain ``datetime`` (UTC), for the ingestion functions."""


def _items(value: Any) -> Any:
    """A list from a list, a comma-separated string or a single value."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple | set):
        return [part.strip() if isinstance(part, str) else part for part in value]
    return [value]


def _message(error: Mapping[str, Any]) -> str:
    location = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
    ).lstrip(".")
    text = str(error["msg"]).removeprefix("Value error, ")
    if not location:  # a check across variables: its message names them
        return text
    if error["type"] == "missing":
        return f"{location}: required"
    if error["type"] == "value_error":  # hourcast's own messages quote the value
        return f"{location}: {text}"
    return f"{location}: {text} (got {error['input']!r})"


class PipelineVariables(BaseModel):
    """Base of the pipelines' variable models: :meth:`parse` turns ``kwargs`` into a model."""

    # Mage's own keys (execution_date, event, env...) sit beside the variables: ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)

    pipeline: ClassVar[str] = ""

    @classmethod
    def parse(cls, variables: Mapping[str, Any]) -> Self:
        """The variables of a block's ``kwargs``; an empty one (``''`` or null) is its default.

        Raises:
            PipelineVariableError: A variable is missing or bad; the message names each one.
        """
        given = {
            name: value
            for name, value in variables.items()
            if name in cls.model_fields
            and value is not None
            and not (isinstance(value, str) and not value.strip())
        }
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            problems = "; ".join(_message(error) for error in exc.errors())
            raise PipelineVariableError(
                f"bad variable of pipeline {cls.pipeline}: {problems}"
            ) from None


def _default_holdout_days() -> int:
    # Imported on use: the ingestion blocks load this module and need no training stack.
    from hourcast.training.fit import HOLDOUT_DAYS

    return HOLDOUT_DAYS


class TrainVariables(PipelineVariables):
    """Variables of the ``train`` pipeline (one trigger per target).

    Attributes:
        target (str): A name in ``hourcast.targets.TARGETS``.
        train_end (pd.Timestamp | None): Last hour trained on (UTC); None trains on all data.
        holdout_days (int): Daily origins in the backtest window (the promotion gate's too).
        tune (bool): Run the Optuna search before training.
        tune_trials (int): At most this many trials.
        tune_budget_seconds (float): At most this long.
        num_boost_round (int | None): Trees; None (or 0) keeps the preset's.
        alias (str | None): ``champion`` forces promotion; None lets the gate decide.
    """

    pipeline: ClassVar[str] = "train"

    target: str
    train_end: Instant | None = None
    holdout_days: PositiveInt = Field(default_factory=_default_holdout_days)
    tune: bool = False
    tune_trials: PositiveInt = 20
    tune_budget_seconds: PositiveFloat = 600.0
    num_boost_round: Annotated[int, Field(ge=0)] | None = None
    alias: Literal["champion"] | None = None

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        # Imported on use, like HOLDOUT_DAYS.
        from hourcast.targets import get_target

        return get_target(value).name

    @field_validator("num_boost_round")
    @classmethod
    def _zero_is_the_presets(cls, value: int | None) -> int | None:
        return value or None


class TrafficIngestVariables(PipelineVariables):
    """Variables of the ``ingest_traffic`` pipeline.

    Attributes:
        source (str | None): CSV path or ``s3://bucket/prefix``; None reads
            ``HOURCAST_TRAFFIC_SOURCE``.
        max_null_ratio (float): Share of null values above which the check block fails.
    """

    pipeline: ClassVar[str] = "ingest_traffic"

    source: str | None = None
    max_null_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1


class OpenAQIngestVariables(PipelineVariables):
    """Variables of the ``ingest_openaq`` pipeline.

    The location filters (``locations``; or ``coordinates`` with ``radius_m``; ``bbox``;
    ``iso``) and the sensor filters (``parameters``, ``sensors``) make the
    :meth:`selection`; the model is only built when they make a valid one.

    Attributes:
        backfill_start (datetime | None): Where a new sensor's history starts; None is
            30 days before ``until``.
        until (datetime | None): End of the pulled window, exclusive; None is now.
        overlap_hours (float): Hours re-read before the watermark (late or corrected hours).
        max_null_ratio (float): Share of null values above which the check block fails.
        fail_on_partial (bool): Fail the pipeline when some (not all) sensors failed.
        mode (str): ``hours``: each sensor's hours from ``/hours`` (a backfill, then from its
            watermark); ``latest``: the hourly steady state, every sensor's newest value from
            ``/v3/parameters/{id}/latest`` and ``/hours`` only for gaps.
        gap_budget (int | None): Most ``/hours`` requests a ``latest`` run spends on gaps;
            None is ``HOURCAST_OPENAQ_GAP_BUDGET``.
    """

    pipeline: ClassVar[str] = "ingest_openaq"

    locations: tuple[PositiveInt, ...] = ()
    coordinates: tuple[float, float] | None = None
    radius_m: PositiveInt | None = None
    bbox: tuple[float, float, float, float] | None = None
    iso: str | None = None
    parameters: tuple[str, ...] = ()
    sensors: tuple[PositiveInt, ...] = ()
    backfill_start: UtcDateTime | None = None
    until: UtcDateTime | None = None
    overlap_hours: NonNegativeFloat = DEFAULT_OVERLAP / timedelta(hours=1)
    max_null_ratio: Annotated[float, Field(ge=0, le=1)] = 0.5
    fail_on_partial: bool = False
    mode: Literal["hours", "latest"] = "hours"
    gap_budget: Annotated[int, Field(ge=0, le=2000)] | None = None

    @field_validator("locations", "sensors", "parameters", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _items(value)

    @field_validator("coordinates", "bbox", mode="before")
    @classmethod
    def _list_or_none(cls, value: Any) -> Any:
        return _items(value) or None

    @field_validator("parameters")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(name.lower() for name in value)

    @model_validator(mode="after")
    def _valid_selection(self) -> Self:
        self.selection()  # raises ValueError naming the variable
        return self

    def selection(self) -> OpenAQSelection:
        """The sensors to ingest (the variables named like its fields)."""
        return OpenAQSelection(
            **{item.name: getattr(self, item.name) for item in fields(OpenAQSelection)}
        )

    @property
    def overlap(self) -> timedelta:
        """``overlap_hours`` as a duration."""
        return timedelta(hours=self.overlap_hours)


class MonitorVariables(PipelineVariables):
    """Variables of the ``monitor`` pipeline.

    Attributes:
        targets (tuple[str, ...]): Targets to monitor (names in ``hourcast.targets``); empty
            monitors all of them.
        chart_target (str): The target the line charts show.
        chart_days (int): Days of monitor runs the line charts show.
    """

    pipeline: ClassVar[str] = "monitor"

    targets: tuple[str, ...] = ()
    chart_target: str = "traffic"
    chart_days: PositiveInt = 7

    @field_validator("targets", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _items(value)

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from hourcast.targets import get_target

        return tuple(get_target(name).name for name in value)

    @field_validator("chart_target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        from hourcast.targets import get_target

        return get_target(value).name
