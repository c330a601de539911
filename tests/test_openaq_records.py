"""Parsing of OpenAQ v3 hourly records: recorded pages, both key styles, every rejection."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest

from hourcast.sources.openaq import (
    KNOWN_UNITS,
    HourlyRecord,
    ParsedPage,
    Rejected,
    RejectReason,
    normalize_units,
    parse_hourly_page,
    parse_hourly_record,
)
from hourcast_dev.openaq_fake import DATA_DIR, load_dataset

FIXTURES = DATA_DIR / "openaq"
SHA256 = {
    "sensor_1502_hours.json": "9c677bc36b163893a957f70d199abc258297926ef835d4facac945d6159fd3e1",
    "sensor_3917_hours.json": "e3a91d4cb50cd53c49856821f924c2744f5ec2ac51029c87e56aaf586e63c4db",
}


class Recorded(NamedTuple):
    """What the recorded pages hold (from the data README and the files themselves)."""

    sensor_id: int
    parameter: str
    units: str
    first: datetime
    last: datetime
    one_hour_steps: int


RECORDED = [
    pytest.param(
        Recorded(
            1502,
            "pm25",
            "µg/m³",
            datetime(2016, 10, 10, 8, tzinfo=UTC),
            datetime(2017, 4, 25, 7, tzinfo=UTC),
            749,
        ),
        id="sensor-1502-pm25",
    ),
    pytest.param(
        Recorded(
            3917,
            "o3",
            "ppm",
            datetime(2016, 10, 10, 6, tzinfo=UTC),
            datetime(2016, 11, 25, 22, tzinfo=UTC),
            975,
        ),
        id="sensor-3917-o3",
    ),
]


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _camelize(value: Any) -> Any:
    """Snake_case keys to the raw API's camelCase (``datetime_from`` -> ``datetimeFrom``)."""
    if isinstance(value, dict):
        return {
            re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k): _camelize(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camelize(v) for v in value]
    return value


def _raw(
    utc: object = "2016-10-10T08:00:00Z",
    value: object = 10.0,
    units: object = "µg/m³",
    *,
    camel: bool = True,
) -> dict[str, Any]:
    """One raw hourly record in either key style."""
    start, end = ("datetimeFrom", "datetimeTo") if camel else ("datetime_from", "datetime_to")
    record = {
        "period": {
            "label": "1hour",
            "interval": "01:00:00",
            start: {"utc": utc, "local": "2016-10-10T01:00:00-07:00"},
            end: {"utc": "2016-10-10T09:00:00Z", "local": "2016-10-10T02:00:00-07:00"},
        },
        "value": value,
        "parameter": {"id": 2, "name": "pm25", "units": units, "displayName": None},
        "coverage": {"expectedCount": 4, "observedCount": 3, "percentCoverage": 75.0},
    }
    return record if camel else _snake_coverage(record)


def _snake_coverage(record: dict[str, Any]) -> dict[str, Any]:
    record["coverage"] = {"expected_count": 4, "observed_count": 3, "percent_coverage": 75.0}
    return record


# -- recorded pages --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SHA256))
def test_recorded_pages_are_unchanged(name: str) -> None:
    assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == SHA256[name]


@pytest.mark.parametrize("case", RECORDED)
def test_recorded_page_parses_completely(case: Recorded) -> None:
    sensor_id, parameter, units, first, last, steps = case
    payload = _load(f"sensor_{sensor_id}_hours.json")
    parsed = parse_hourly_page(payload, sensor_id)

    assert isinstance(parsed, ParsedPage)
    assert parsed.page == 1
    assert len(parsed.records) == 1000
    assert parsed.rejected == ()
    records = parsed.records
    assert all(isinstance(r, HourlyRecord) for r in records)
    assert {r.sensor_id for r in records} == {sensor_id}
    assert {r.parameter for r in records} == {parameter}
    assert {r.units for r in records} == {units}
    assert all(r.ts.tzinfo is UTC and r.ts.minute == r.ts.second == 0 for r in records)
    assert (records[0].ts, records[-1].ts) == (first, last)
    # Gaps stay gaps: no hour is invented, and the steps between records are as recorded.
    deltas = [b.ts - a.ts for a, b in itertools.pairwise(records)]
    assert all(d >= timedelta(hours=1) for d in deltas)
    assert sum(d == timedelta(hours=1) for d in deltas) == steps
    assert (last - first) // timedelta(hours=1) + 1 > 1000
    # Values are the recorded ones, in order.
    assert [r.value for r in records] == [raw["value"] for raw in payload["results"]]
    assert {(r.coverage_percent, r.observed_count, r.expected_count) for r in records} == {
        (100.0, 1, 1)
    }


def test_recorded_first_records_are_exact() -> None:
    first_1502 = parse_hourly_page(_load("sensor_1502_hours.json"), 1502).records[0]
    assert first_1502 == HourlyRecord(
        sensor_id=1502,
        ts=datetime(2016, 10, 10, 8, tzinfo=UTC),
        value=10.0,
        parameter="pm25",
        units="µg/m³",
        coverage_percent=100.0,
        observed_count=1,
        expected_count=1,
    )
    first_3917 = parse_hourly_page(_load("sensor_3917_hours.json"), 3917).records[0]
    assert (first_3917.ts, first_3917.value, first_3917.units) == (
        datetime(2016, 10, 10, 6, tzinfo=UTC),
        0.01,
        "ppm",
    )


@pytest.mark.parametrize("sensor_id", [1502, 3917])
def test_camel_case_and_snake_case_parse_the_same(sensor_id: int) -> None:
    snake = _load(f"sensor_{sensor_id}_hours.json")
    camel = _camelize(snake)
    assert "datetimeFrom" in camel["results"][0]["period"]
    assert "percentCoverage" in camel["results"][0]["coverage"]
    assert parse_hourly_page(camel, sensor_id) == parse_hourly_page(snake, sensor_id)


@pytest.mark.parametrize("sensor_id", [1502, 3917])
def test_fake_server_records_parse_like_the_recording(sensor_id: int) -> None:
    series = load_dataset().series[sensor_id]
    served = [json.loads(series.record_json(i)) for i in range(len(series))]
    assert "datetimeFrom" in served[0]["period"]
    assert served[0]["flagInfo"] == {"hasFlags": False}
    recorded = parse_hourly_page(_load(f"sensor_{sensor_id}_hours.json"), sensor_id)
    assert parse_hourly_page(served, sensor_id).records == recorded.records


# -- single records --------------------------------------------------------------------------


@pytest.mark.parametrize("camel", [True, False], ids=["camelCase", "snake_case"])
def test_single_record_both_key_styles(camel: bool) -> None:
    record = parse_hourly_record(_raw(camel=camel), sensor_id=7)
    assert record == HourlyRecord(
        sensor_id=7,
        ts=datetime(2016, 10, 10, 8, tzinfo=UTC),
        value=10.0,
        parameter="pm25",
        units="µg/m³",
        coverage_percent=75.0,
        observed_count=3,
        expected_count=4,
    )


def test_null_value_is_accepted() -> None:
    record = parse_hourly_record(_raw(value=None))
    assert isinstance(record, HourlyRecord)
    assert record.value is None
    assert record.sensor_id is None


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        ("2016-10-10T08:00:00Z", datetime(2016, 10, 10, 8, tzinfo=UTC)),
        ("2016-10-10T08:00:00+00:00", datetime(2016, 10, 10, 8, tzinfo=UTC)),
        ("2016-10-10T01:00:00-07:00", datetime(2016, 10, 10, 8, tzinfo=UTC)),
        ("2016-10-10T08:00:00", datetime(2016, 10, 10, 8, tzinfo=UTC)),
        ("2016-10-10T13:30:00+05:30", datetime(2016, 10, 10, 8, tzinfo=UTC)),
    ],
)
def test_timestamps_become_utc(utc: str, expected: datetime) -> None:
    record = parse_hourly_record(_raw(utc=utc))
    assert isinstance(record, HourlyRecord)
    assert record.ts == expected
    assert record.ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("value", "expected"), [(3, 3.0), ("12.5", 12.5), (-1.1, -1.1)])
def test_numeric_values(value: object, expected: float) -> None:
    record = parse_hourly_record(_raw(value=value))
    assert isinstance(record, HourlyRecord)
    assert record.value == expected


@pytest.mark.parametrize(
    ("units", "canonical"),
    [
        ("µg/m³", "µg/m³"),  # micro sign
        ("μg/m³", "µg/m³"),  # Greek mu
        ("ug/m3", "µg/m³"),
        ("UG/M3", "µg/m³"),
        ("µg/m3", "µg/m³"),
        ("ug/m^3", "µg/m³"),
        ("Âµg/mÂ³", "µg/m³"),  # UTF-8 read as Latin-1
        ("mg/m3", "mg/m³"),
        ("PPM", "ppm"),
        ("ppb", "ppb"),
        ("°C", "°C"),
        ("c", "°C"),
        ("deg C", "°C"),
        ("%", "%"),
        ("HPA", "hPa"),
        ("m/s", "m/s"),
        ("particles/cm³", "particles/cm³"),
        ("particles/cm3", "particles/cm³"),
    ],
)
def test_units_are_normalized(units: str, canonical: str) -> None:
    assert normalize_units(units) == canonical
    record = parse_hourly_record(_raw(units=units))
    assert isinstance(record, HourlyRecord)
    assert record.units == canonical
    assert canonical in KNOWN_UNITS


# -- rejections ------------------------------------------------------------------------------


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    record = _raw()
    node: Any = record
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return record


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("not a record", RejectReason.NOT_AN_OBJECT, id="not-an-object"),
        pytest.param(_without(("period",)), RejectReason.MISSING_TIMESTAMP, id="no-period"),
        pytest.param(
            _without(("period", "datetimeFrom")), RejectReason.MISSING_TIMESTAMP, id="no-start"
        ),
        pytest.param(
            _without(("period", "datetimeFrom", "utc")), RejectReason.MISSING_TIMESTAMP, id="no-utc"
        ),
        pytest.param(_raw(utc="not-a-timestamp"), RejectReason.BAD_TIMESTAMP, id="garbage-ts"),
        pytest.param(_raw(utc="2016-13-45T08:00:00Z"), RejectReason.BAD_TIMESTAMP, id="bad-date"),
        pytest.param(_raw(utc=""), RejectReason.BAD_TIMESTAMP, id="empty-ts"),
        pytest.param(_raw(utc=1476086400), RejectReason.BAD_TIMESTAMP, id="numeric-ts"),
        pytest.param(
            _raw(utc="2016-10-10T08:30:00Z"), RejectReason.NOT_ON_THE_HOUR, id="half-past"
        ),
        pytest.param(
            _raw(utc="2016-10-10T08:00:01Z"), RejectReason.NOT_ON_THE_HOUR, id="one-second"
        ),
        pytest.param(
            _raw(utc="2016-10-10T13:00:00+05:30"), RejectReason.NOT_ON_THE_HOUR, id="half-hour-tz"
        ),
        pytest.param(_without(("value",)), RejectReason.MISSING_VALUE, id="no-value"),
        pytest.param(_raw(value="abc"), RejectReason.NON_NUMERIC_VALUE, id="abc"),
        pytest.param(_raw(value=True), RejectReason.NON_NUMERIC_VALUE, id="bool"),
        pytest.param(_raw(value=float("nan")), RejectReason.NON_NUMERIC_VALUE, id="nan"),
        pytest.param(_raw(value="inf"), RejectReason.NON_NUMERIC_VALUE, id="inf"),
        pytest.param(_raw(value={"v": 1}), RejectReason.NON_NUMERIC_VALUE, id="object"),
        pytest.param(_raw(units="furlongs"), RejectReason.UNKNOWN_UNITS, id="furlongs"),
        pytest.param(_raw(units="°F"), RejectReason.UNKNOWN_UNITS, id="fahrenheit"),
        pytest.param(_raw(units=None), RejectReason.UNKNOWN_UNITS, id="null-units"),
        pytest.param(_without(("parameter",)), RejectReason.UNKNOWN_UNITS, id="no-parameter"),
    ],
)
def test_rejections_carry_a_reason(raw: object, reason: RejectReason) -> None:
    result = parse_hourly_record(raw, sensor_id=1502)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert isinstance(result.reason, str)
    assert result.detail
    assert result.raw is raw


def test_rejection_reason_strings() -> None:
    assert {str(r) for r in RejectReason} >= {
        "bad timestamp",
        "missing timestamp",
        "non-numeric value",
        "unknown units",
        "timestamp not on the hour",
        "duplicate hour",
    }


def test_duplicated_hour_keeps_the_first() -> None:
    results = [
        _raw(utc="2016-10-10T08:00:00Z", value=1.0),
        _raw(utc="2016-10-10T09:00:00Z", value=2.0),
        _raw(utc="2016-10-10T08:00:00Z", value=3.0),
        _raw(utc="2016-10-10T01:00:00-07:00", value=4.0),  # same instant, other spelling
    ]
    parsed = parse_hourly_page({"meta": {"page": 3}, "results": results}, 1502)
    assert [r.value for r in parsed.records] == [1.0, 2.0]
    assert [(r.reason, r.index) for r in parsed.rejected] == [
        (RejectReason.DUPLICATE_HOUR, 2),
        (RejectReason.DUPLICATE_HOUR, 3),
    ]
    assert parsed.rejected[0].ts == datetime(2016, 10, 10, 8, tzinfo=UTC)
    assert parsed.page == 3


def test_rejected_record_does_not_claim_its_hour() -> None:
    # A record rejected for its value must not make a later valid record of that hour a
    # duplicate.
    results = [_raw(value="abc"), _raw(value=5.0)]
    parsed = parse_hourly_page(results, 1502)
    assert [r.value for r in parsed.records] == [5.0]
    assert [(r.reason, r.index) for r in parsed.rejected] == [(RejectReason.NON_NUMERIC_VALUE, 0)]


def test_page_with_every_kind_of_problem_never_raises() -> None:
    page = copy.deepcopy(_load("sensor_1502_hours.json"))
    results = page["results"]
    results[1]["period"]["datetime_from"]["utc"] = "not-a-timestamp"
    results[3]["value"] = "abc"
    results[5]["parameter"]["units"] = "furlongs"
    results[7]["period"] = copy.deepcopy(results[6]["period"])
    results[9]["period"]["datetime_from"]["utc"] = "2016-10-10T17:15:00Z"
    results.append(None)

    parsed = parse_hourly_page(page, 1502)
    assert [(r.index, r.reason) for r in parsed.rejected] == [
        (1, RejectReason.BAD_TIMESTAMP),
        (3, RejectReason.NON_NUMERIC_VALUE),
        (5, RejectReason.UNKNOWN_UNITS),
        (7, RejectReason.DUPLICATE_HOUR),
        (9, RejectReason.NOT_ON_THE_HOUR),
        (1000, RejectReason.NOT_AN_OBJECT),
    ]
    assert len(parsed.records) == 1000 - 5
    assert len({r.ts for r in parsed.records}) == len(parsed.records)


def test_page_without_results_is_an_error() -> None:
    with pytest.raises(ValueError, match="results"):
        parse_hourly_page({"meta": {}, "detail": "oops"}, 1502)
    assert parse_hourly_page({"results": []}, 1502) == ParsedPage((), (), None)
