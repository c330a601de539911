"""Forecast request bodies read and checked in one pass by msgspec; pydantic decides the rest.

FastAPI parses a JSON body into Python objects, then validates them with pydantic: for the
504-hour history of a typical ``POST /v1/forecast`` that took 200 us (orjson 58, pydantic 142),
more than anything else in the request but XGBoost. msgspec reads and checks the same body in
52 us, straight into typed objects (measured 2026-12-07, one core). A batch of 1,000 series
with 336 hours each (14.5 MiB) took 300 ms (orjson 123, pydantic 176), on the event loop
before the route's thread; msgspec 55 ms, and 63 more to build the model's history dicts.

msgspec checks what the published schema states, with the same bounds: the structs below are
built from the constraints of :class:`~inference_api.schemas.ForecastRequest` and
:class:`~inference_api.schemas.BatchRequest`, and
``tests/test_one_pass.py`` checks that both accept the same bodies with the same values. It
is the stricter of the two: a body it refuses (invalid, or valid only in pydantic's lax mode,
like ``"horizon": "24"``) goes the usual way, through orjson and pydantic, so every error and
its message stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, get_type_hints

import annotated_types
import msgspec
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from inference_api.schemas import (
    BatchRequest,
    ForecastRequest,
    HistoryPoint,
    Level,
    history_with_a_value,
)

__all__ = ["decode_batch_request", "decode_forecast_request", "one_pass_decoder"]

# pydantic's bounds (``Field(ge=..., max_length=...)``) and their msgspec.Meta keyword.
_BOUNDS: dict[type, str] = {
    annotated_types.Gt: "gt",
    annotated_types.Ge: "ge",
    annotated_types.Lt: "lt",
    annotated_types.Le: "le",
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
}


def _meta(field: FieldInfo) -> msgspec.Meta:
    """A pydantic field's bounds as msgspec's; any other constraint stops the import.

    Two need no form: ``allow_inf_nan=False`` (msgspec reads only finite JSON numbers, and
    refuses one too large for a float) and the history's :func:`history_with_a_value`,
    which :func:`decode_forecast_request` applies itself.
    """
    keywords: dict[str, Any] = {}
    for constraint in field.metadata:
        name = _BOUNDS.get(type(constraint))
        if name is not None:
            keywords[name] = getattr(constraint, name)
        elif not (
            getattr(constraint, "allow_inf_nan", None) is False
            or getattr(constraint, "func", None) is history_with_a_value
        ):
            raise TypeError(f"one_pass cannot check {constraint!r}: teach _meta about it")
    return msgspec.Meta(**keywords)


def _field(model: type[BaseModel] | Any, name: str) -> FieldInfo:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model.model_fields[name]
    return _annotated(get_type_hints(model, include_extras=True)[name])  # a TypedDict field


def _annotated(hint: Any) -> FieldInfo:
    """The ``Field(...)`` of an ``Annotated[type, Field(...)]``."""
    return next(item for item in hint.__metadata__ if isinstance(item, FieldInfo))


_Level = Annotated[int, _meta(_annotated(Level))]


class _Point(msgspec.Struct, forbid_unknown_fields=True):
    ts: Annotated[str, _meta(_field(HistoryPoint, "ts"))]
    value: Annotated[float, _meta(_field(HistoryPoint, "value"))] | None


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    # UNSET: a field the body leaves out stays out of the model's ``model_fields_set``.
    series_id: Annotated[str, _meta(_field(ForecastRequest, "series_id"))]
    horizon: Annotated[int, _meta(_field(ForecastRequest, "horizon"))] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    levels: (
        Annotated[list[_Level], _meta(_field(ForecastRequest, "levels"))] | msgspec.UnsetType | None
    ) = msgspec.UNSET
    history: (
        Annotated[list[_Point], _meta(_field(ForecastRequest, "history"))]
        | msgspec.UnsetType
        | None
    ) = msgspec.UNSET


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    series: Annotated[list[_Request], _meta(_field(BatchRequest, "series"))]


_DECODER = msgspec.json.Decoder(_Request)
_BATCH_DECODER = msgspec.json.Decoder(_Batch)


def decode_forecast_request(body: bytes) -> ForecastRequest | None:
    """The request, if msgspec reads ``body`` as a valid one; None leaves it to pydantic."""
    try:
        request = _DECODER.decode(body)
    except msgspec.DecodeError:  # a ValidationError too: pydantic will name the field
        return None
    return _model(request)


def decode_batch_request(body: bytes) -> BatchRequest | None:
    """The batch, if msgspec reads ``body`` as a valid one; None leaves it to pydantic.

    A batch that breaks the schema is refused whole, as pydantic refuses it: one series that
    msgspec does not take sends the whole body to pydantic.
    """
    try:
        batch = _BATCH_DECODER.decode(body)
    except msgspec.DecodeError:
        return None
    series = []
    for request in batch.series:
        model = _model(request)
        if model is None:
            return None
        series.append(model)
    return BatchRequest.model_construct(series=series)


def _model(request: _Request) -> ForecastRequest | None:
    """The pydantic model of a decoded request, or None where pydantic's code would refuse it.

    The model is built without validating it again (``model_construct``): msgspec checked the
    types and bounds, and the checks pydantic runs in code (levels unique, a value in the
    history) are made here.
    """
    fields: dict[str, Any] = {"series_id": request.series_id}
    if request.horizon is not msgspec.UNSET:
        fields["horizon"] = request.horizon
    if request.levels is not msgspec.UNSET:
        if request.levels is not None and len(set(request.levels)) != len(request.levels):
            return None
        fields["levels"] = request.levels
    if request.history is not msgspec.UNSET:
        history: list[dict[str, Any]] | None = None
        if request.history is not None:
            if all(point.value is None for point in request.history):
                return None
            history = [{"ts": point.ts, "value": point.value} for point in request.history]
        fields["history"] = history
    return ForecastRequest.model_construct(**fields)


_DECODERS: dict[type[BaseModel], Callable[[bytes], BaseModel | None]] = {
    ForecastRequest: decode_forecast_request,
    BatchRequest: decode_batch_request,
}


def one_pass_decoder(model: object) -> Callable[[bytes], BaseModel | None] | None:
    """The one-pass decoder of a route's body model, if it has one."""
    return _DECODERS.get(model) if isinstance(model, type) else None
