"""The one-pass decoder of POST /v1/forecast takes only what pydantic takes, with its values."""

from __future__ import annotations

import json
from typing import Annotated, Any

import msgspec
import orjson
import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from inference_api import one_pass
from inference_api.main import create_app
from inference_api.schemas import MAX_BATCH, MAX_HISTORY_POINTS, BatchRequest, ForecastRequest

_PYDANTIC = TypeAdapter(ForecastRequest)
_PYDANTIC_BATCH = TypeAdapter(BatchRequest)
_BOUND_KEYWORDS = (
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "additionalProperties",
    "required",
)


def _assert_agrees(body: bytes, *, batch: bool = False) -> bool:
    """The one-pass result is None or pydantic's model (values and fields set); True if taken."""
    decode, usual_path = (
        (one_pass.decode_batch_request, _PYDANTIC_BATCH)
        if batch
        else (one_pass.decode_forecast_request, _PYDANTIC)
    )
    fast = decode(body)
    if fast is None:
        return False
    try:  # what FastAPI's usual path makes of the body
        usual = usual_path.validate_python(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise AssertionError(f"one pass took a body pydantic refuses: {exc}") from None
    assert fast.model_dump() == usual.model_dump()
    assert _fields_set(fast) == _fields_set(usual)
    return True


def _fields_set(model: BaseModel) -> object:
    if isinstance(model, BatchRequest):
        return [series.model_fields_set for series in model.series]
    return model.model_fields_set


def _point(ts: str = "2018-01-01T10:00:00Z", value: Any = 1000.0) -> dict[str, Any]:
    return {"ts": ts, "value": value}


def _body(**fields: Any) -> bytes:
    return json.dumps({"series_id": "traffic:i94-westbound", **fields}).encode()


def test_a_typical_request_is_read_in_one_pass() -> None:
    hours = [_point(f"2018-01-{1 + h // 24:02d}T{h % 24:02d}:00:00Z", 10.0 + h) for h in range(504)]
    assert _assert_agrees(_body(horizon=24, history=hours))
    assert _assert_agrees(_body())  # stored history, defaults
    assert _assert_agrees(_body(levels=[80, 95], history=None, horizon=6))
    assert _assert_agrees(_body(history=[_point(value=3), _point("2018-01-01T11:00Z", None)]))


@pytest.mark.parametrize(
    "body",
    [
        _body(horizon="24"),  # lax int: pydantic takes it, one pass leaves it
        _body(horizon=24.0),
        _body(horizon=0),
        _body(horizon=True),
        _body(levels=[80, 80]),  # a validator in code
        _body(levels=[80.0]),
        _body(levels=[0]),
        _body(levels=[100]),
        _body(levels=list(range(1, 12))),
        _body(history=[]),
        _body(history=[_point(value=None)]),  # no value at all
        _body(history=[_point(value=True)]),
        _body(history=[_point(value="12.5")]),
        _body(history=[_point(value=1e9 + 1)]),
        _body(history=[_point(value=-1e9 - 1)]),
        _body(history=[_point(ts="x" * 41)]),
        _body(history=[_point(ts=5)]),
        _body(history=[{"ts": "2018-01-01T10:00Z"}]),
        _body(history=[{**_point(), "unit": "veh/h"}]),
        _body(history=[_point()] * (MAX_HISTORY_POINTS + 1)),
        _body(colour="red"),
        b'{"horizon": 24}',
        b'{"series_id": ""}',
        b'{"series_id": "' + b"s" * 201 + b'"}',
        b'{"series_id": "a", "history": [{"ts": "x", "value": 1e999}]}',
        b'{"series_id": "a"} trailing',
        b"\xef\xbb\xbf" + b'{"series_id": "a"}',
        b'{"series_id": "\xff"}',
        b'["series_id"]',
        b"",
    ],
)
def test_what_only_lax_mode_takes_or_nobody_takes_is_left_to_pydantic(body: bytes) -> None:
    assert one_pass.decode_forecast_request(body) is None


@pytest.mark.parametrize(
    "body",
    [
        _body(history=[_point()] * MAX_HISTORY_POINTS),
        _body(levels=list(range(1, 11))),
        _body(levels=[1, 99], horizon=1),
        _body(history=[_point(value=1e9), _point(value=-1e9), _point(value=0)]),
        b'{"series_id": "a", "series_id": "b"}',  # the last of a repeated key, as orjson
        b'{"series_id": "' + b"s" * 200 + b'", "history": null, "levels": null}',
        ' {"series_id": "Zürich \\u00e9"}\n'.encode(),
    ],
)
def test_bodies_on_the_bounds_are_read_as_pydantic_reads_them(body: bytes) -> None:
    assert _assert_agrees(body)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 24, 99, 100, 1e9, -1e9, 1e9 + 1, 24.0, 2.5, "24"]),
    st.text(max_size=45),
)
# A valid body, and every other time up to two of its fields replaced or dropped: many bodies
# are taken, and the others are one wrong field away from it. Values are valid 19 times in
# 20, so that a history holds a wrong point now and then.
_VALUES = st.one_of(
    st.floats(min_value=-1e9, max_value=1e9),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.none(),
)
_POINT_VALUES = st.one_of(*[_VALUES] * 19, _SCALARS)
_STAMP_TEXT = st.one_of(*[st.text(max_size=40)] * 19, st.just("x" * 41))
_POINTS = st.one_of(
    *[st.fixed_dictionaries({"ts": _STAMP_TEXT, "value": _POINT_VALUES})] * 17,
    st.fixed_dictionaries({"ts": _STAMP_TEXT, "value": _VALUES, "unit": _SCALARS}),
    st.fixed_dictionaries({}, optional={"ts": _STAMP_TEXT, "value": _VALUES}),
    st.lists(st.one_of(_STAMP_TEXT, _VALUES), max_size=2),
)
_VALID = {
    "series_id": st.text(min_size=1, max_size=200),
    "horizon": st.integers(min_value=1, max_value=10**6),
    "levels": st.one_of(st.none(), st.lists(st.integers(min_value=1, max_value=99), max_size=10)),
    "history": st.one_of(st.none(), st.lists(_POINTS, min_size=1, max_size=5)),
}
_WRONG = st.one_of(
    _SCALARS,
    st.lists(st.one_of(st.integers(min_value=-1, max_value=101), _SCALARS), max_size=12),
    st.text(min_size=199, max_size=202),
)


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    fields: dict[str, Any] = {name: draw(values) for name, values in _VALID.items()}
    wrong = draw(st.sets(st.sampled_from([*_VALID, "colour"]), max_size=2))
    for name in wrong if draw(st.booleans()) else ():
        if name != "series_id" and name in fields and draw(st.booleans()):
            del fields[name]  # left out: the default
        else:
            fields[name] = draw(_WRONG)
    return json.dumps(fields).encode()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies())
def test_any_body_the_one_pass_takes_pydantic_takes_with_the_same_values(body: bytes) -> None:
    event("taken in one pass" if _assert_agrees(body) else "left to pydantic")


_VALID_SERIES = st.fixed_dictionaries(
    {"series_id": _VALID["series_id"]},
    optional={
        "horizon": _VALID["horizon"],
        "levels": st.lists(st.integers(min_value=1, max_value=99), max_size=10, unique=True),
        "history": st.lists(
            st.fixed_dictionaries({"ts": st.text(max_size=40), "value": st.floats(-1e9, 1e9)}),
            min_size=1,
            max_size=4,
        ),
    },
)


@st.composite
def _batches(draw: st.DrawFn) -> bytes:
    """Series that are mostly valid and one of :func:`_bodies`; now and then an odd batch."""
    series = draw(st.lists(_VALID_SERIES, max_size=3))
    series.insert(draw(st.integers(0, len(series))), json.loads(draw(_bodies())))
    batch: dict[str, Any] = {"series": series}
    odd = draw(st.integers(0, 9))
    if odd == 0:
        batch["series"] = []
    elif odd == 1:
        batch["colour"] = "red"
    elif odd == 2:
        batch["series"] = series[0]
    return json.dumps(batch).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_batches())
def test_any_batch_the_one_pass_takes_pydantic_takes_with_the_same_values(body: bytes) -> None:
    event("taken in one pass" if _assert_agrees(body, batch=True) else "left to pydantic")


def test_a_batch_is_taken_whole_or_left_whole() -> None:
    good = json.loads(_body(horizon=6))
    assert _assert_agrees(json.dumps({"series": [good] * MAX_BATCH}).encode(), batch=True)
    for bad in (json.loads(_body(horizon="6")), json.loads(_body(levels=[80, 80]))):
        assert one_pass.decode_batch_request(json.dumps({"series": [good, bad]}).encode()) is None
    too_many = json.dumps({"series": [good] * (MAX_BATCH + 1)}).encode()
    assert one_pass.decode_batch_request(too_many) is None


def _bounds(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """The bound keywords of a JSON Schema, with references and nullable unions resolved."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _bounds(root["$defs"][name], root)
    if "anyOf" in schema:
        kept = [part for part in schema["anyOf"] if part.get("type") != "null"]
        return [_bounds(part, root) for part in kept]
    found: dict[str, Any] = {key: schema[key] for key in _BOUND_KEYWORDS if key in schema}
    if "required" in found:
        found["required"] = sorted(found["required"])
    for key in ("properties",):
        if key in schema:
            found[key] = {name: _bounds(part, root) for name, part in schema[key].items()}
    if "items" in schema:
        found["items"] = _bounds(schema["items"], root)
    if found.get("additionalProperties") is False or "properties" in found:
        found.setdefault("additionalProperties", True)
    return found


@pytest.mark.parametrize(
    ("model", "struct"),
    [(ForecastRequest, one_pass._Request), (BatchRequest, one_pass._Batch)],
)
def test_the_one_pass_checks_the_bounds_the_published_schema_states(
    model: type[BaseModel], struct: type[msgspec.Struct]
) -> None:
    published = model.model_json_schema()
    mirrored = msgspec.json.schema(struct)
    assert _bounds(mirrored, mirrored) == _bounds(published, published)


def test_the_validators_in_code_are_those_the_one_pass_repeats() -> None:
    """A validator added to a model must be repeated in the one pass too."""
    decorators = ForecastRequest.__pydantic_decorators__
    assert set(decorators.field_validators) == {"_unique_levels"}
    assert not decorators.model_validators
    assert not decorators.root_validators
    batch = BatchRequest.__pydantic_decorators__
    assert not batch.field_validators
    assert not batch.model_validators
    assert not batch.root_validators


def test_a_bound_the_one_pass_cannot_check_stops_its_import() -> None:
    even = FieldInfo.from_annotation(Annotated[int, Field(multiple_of=2)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot check"):
        one_pass._meta(even)


def test_only_the_forecast_routes_read_their_bodies_in_one_pass() -> None:
    routes = [route for route in create_app().routes if isinstance(route, APIRoute)]
    readers = {
        route.path: one_pass.one_pass_decoder(getattr(route.body_field, "type_", None))
        for route in routes
        if route.body_field is not None
    }
    assert readers.pop("/v1/forecast") is one_pass.decode_forecast_request
    assert readers.pop("/v1/forecast/batch") is one_pass.decode_batch_request
    assert readers  # the token form, the retrain request
    assert set(readers.values()) == {None}
