"""OpenAQ v3 hourly records: the parser and what it returns.

The parser turns one hourly record (raw camelCase from the API, or the snake_case the
``openaq`` SDK writes) into a :class:`HourlyRecord`, or a :class:`Rejected` with a reason; it
never raises on a bad record.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "KNOWN_UNITS",
    "HourlyRecord",
    "ParsedPage",
    "RejectReason",
    "Rejected",
    "merge_pages",
    "normalize_units",
    "optional_float",
    "optional_int",
    "parse_hourly_page",
    "parse_hourly_record",
]

KNOWN_UNITS: frozenset[str] = frozenset(
    {"µg/m³", "ppm", "ppb", "mg/m³", "°C", "%", "hPa", "m/s", "particles/cm³"}
)

# Keys are units folded by _unit_key (ASCII, lower case, no spaces); values are canonical.
_UNIT_ALIASES: dict[str, str] = {
    "ug/m3": "µg/m³",
    "mg/m3": "mg/m³",
    "ppm": "ppm",
    "ppb": "ppb",
    "c": "°C",
    "celsius": "°C",
    "%": "%",
    "percent": "%",
    "hpa": "hPa",
    "m/s": "m/s",
    "particles/cm3": "particles/cm³",
}


class RejectReason(StrEnum):
    """Why a raw hourly record was not accepted."""

    NOT_AN_OBJECT = "not an object"
    MISSING_TIMESTAMP = "missing timestamp"
    BAD_TIMESTAMP = "bad timestamp"
    NOT_ON_THE_HOUR = "timestamp not on the hour"
    MISSING_VALUE = "missing value"
    NON_NUMERIC_VALUE = "non-numeric value"
    UNKNOWN_UNITS = "unknown units"
    DUPLICATE_HOUR = "duplicate hour"


@dataclass(frozen=True, slots=True)
class HourlyRecord:
    """One accepted hourly aggregate of one sensor.

    Attributes:
        sensor_id: OpenAQ sensor id (None when the caller did not say).
        ts: Start of the hour, UTC-aware (``period.datetimeFrom.utc``).
        value: Hourly mean, or None when the API sent ``null``.
        parameter: Parameter name, e.g. ``pm25`` (None if the record had none).
        units: Canonical units, one of :data:`KNOWN_UNITS`.
        coverage_percent: ``coverage.percentCoverage``, if present and numeric.
        observed_count: ``coverage.observedCount``, if present and numeric.
        expected_count: ``coverage.expectedCount``, if present and numeric.
    """

    sensor_id: int | None
    ts: datetime
    value: float | None
    parameter: str | None
    units: str
    coverage_percent: float | None = None
    observed_count: int | None = None
    expected_count: int | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A raw record that was not accepted, and why.

    Attributes:
        reason: Machine-readable reason (a ``str``).
        detail: Human-readable detail, e.g. the offending value.
        raw: The raw record as received.
        index: Position of the record in its page, when parsed as part of a page.
        ts: The record's hour, when it could be read.
    """

    reason: RejectReason
    detail: str
    raw: Any = field(default=None, repr=False, compare=False)
    index: int | None = None
    ts: datetime | None = None


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """The accepted records and the rejections of one page (or of several, merged).

    Attributes:
        records: Accepted records, in page order.
        rejected: Rejected records, in page order.
        page: Page number, when known.
    """

    records: tuple[HourlyRecord, ...]
    rejected: tuple[Rejected, ...]
    page: int | None = None


def normalize_units(units: object) -> str | None:
    """Map a units string to its canonical spelling in :data:`KNOWN_UNITS`.

    Tolerates case, spaces, ``u``/``µ``/``μ``, ``3``/``³``, ``deg``/``°`` and UTF-8 text that
    was decoded as Latin-1 (``Âµg/mÂ³``).

    Args:
        units: Units as sent by the API.

    Returns:
        The canonical units, or None if they are not known.
    """
    if not isinstance(units, str):
        return None
    return _UNIT_ALIASES.get(_unit_key(units))


def parse_hourly_record(raw: Any, sensor_id: int | None = None) -> HourlyRecord | Rejected:
    """Parse one record of ``/v3/sensors/{id}/hours`` (or ``/measurements``).

    Accepts the raw API's camelCase keys (``period.datetimeFrom.utc``) and the SDK's
    snake_case keys (``period.datetime_from.utc``). Never raises on bad input.

    Args:
        raw: One element of the response's ``results``.
        sensor_id: Sensor the record belongs to (records do not carry it).

    Returns:
        The record, or a :class:`Rejected` naming the first problem found.
    """
    if not isinstance(raw, Mapping):
        return Rejected(RejectReason.NOT_AN_OBJECT, f"record is {type(raw).__name__}", raw)

    period = raw.get("period")
    start = _pick(period, "datetimeFrom", "datetime_from")
    utc_text = start.get("utc") if isinstance(start, Mapping) else None
    if utc_text is None:
        return Rejected(RejectReason.MISSING_TIMESTAMP, "no period.datetimeFrom.utc", raw)
    ts = _parse_utc(utc_text)
    if ts is None:
        return Rejected(RejectReason.BAD_TIMESTAMP, f"unparseable timestamp {utc_text!r}", raw)
    if ts.minute or ts.second or ts.microsecond:
        return Rejected(
            RejectReason.NOT_ON_THE_HOUR, f"{utc_text!r} is not on the hour", raw, ts=ts
        )

    if "value" not in raw:
        return Rejected(RejectReason.MISSING_VALUE, "no value key", raw, ts=ts)
    ok, value = _parse_value(raw["value"])
    if not ok:
        return Rejected(RejectReason.NON_NUMERIC_VALUE, f"value {raw['value']!r}", raw, ts=ts)

    parameter = raw.get("parameter")
    raw_units = parameter.get("units") if isinstance(parameter, Mapping) else None
    units = normalize_units(raw_units)
    if units is None:
        return Rejected(RejectReason.UNKNOWN_UNITS, f"units {raw_units!r}", raw, ts=ts)
    name = parameter.get("name") if isinstance(parameter, Mapping) else None

    coverage = raw.get("coverage")
    return HourlyRecord(
        sensor_id=sensor_id,
        ts=ts,
        value=value,
        parameter=name if isinstance(name, str) and name else None,
        units=units,
        coverage_percent=optional_float(_pick(coverage, "percentCoverage", "percent_coverage")),
        observed_count=optional_int(_pick(coverage, "observedCount", "observed_count")),
        expected_count=optional_int(_pick(coverage, "expectedCount", "expected_count")),
    )


def parse_hourly_page(payload: Any, sensor_id: int | None = None) -> ParsedPage:
    """Parse a whole page: a response body ``{"meta", "results"}`` or a bare results list.

    Records with an hour already seen in the page are rejected (the first one is kept).

    Args:
        payload: The decoded JSON body, or its ``results`` list.
        sensor_id: Sensor the page belongs to.

    Returns:
        The accepted records and the rejections, both in page order.

    Raises:
        ValueError: The payload has no ``results`` list (the page itself is unusable).
    """
    page: int | None = None
    if isinstance(payload, Mapping):
        meta = payload.get("meta")
        page = optional_int(meta.get("page")) if isinstance(meta, Mapping) else None
        results = payload.get("results")
    else:
        results = payload
    if not isinstance(results, list):
        raise ValueError(f"payload has no results list (got {type(results).__name__})")

    records: list[HourlyRecord] = []
    rejected: list[Rejected] = []
    seen: set[datetime] = set()
    for index, raw in enumerate(results):
        parsed = parse_hourly_record(raw, sensor_id)
        if isinstance(parsed, Rejected):
            rejected.append(replace(parsed, index=index))
        elif parsed.ts in seen:
            detail = f"hour {parsed.ts.isoformat()} already in this page"
            rejected.append(Rejected(RejectReason.DUPLICATE_HOUR, detail, raw, index, parsed.ts))
        else:
            seen.add(parsed.ts)
            records.append(parsed)
    return ParsedPage(tuple(records), tuple(rejected), page)


def _pick(mapping: object, *keys: str) -> Any:
    """The first present key of ``mapping`` (camelCase or snake_case spelling)."""
    if not isinstance(mapping, Mapping):
        return None
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def _parse_utc(text: object) -> datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        ts = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    # The field is named "utc", so a missing offset means UTC.
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _parse_value(value: object) -> tuple[bool, float | None]:
    if value is None:
        return True, None
    if isinstance(value, bool):
        return False, None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return False, None
    else:
        return False, None
    return (True, number) if math.isfinite(number) else (False, None)


def optional_float(value: object) -> float | None:
    """A finite number from a JSON number or numeric text; None if absent or unreadable."""
    ok, number = _parse_value(value)
    return number if ok else None


def optional_int(value: object) -> int | None:
    """A whole number read like :func:`optional_float`; None if absent, unreadable or fractional."""
    number = optional_float(value)
    return int(number) if number is not None and number.is_integer() else None


def _unit_key(units: str) -> str:
    text = units.strip()
    if "Â" in text or "Î" in text:
        # UTF-8 bytes decoded as Latin-1 somewhere upstream ("Âµg/mÂ³").
        with contextlib.suppress(UnicodeError):
            text = text.encode("latin-1").decode("utf-8")
    text = text.lower().replace(" ", "").replace("^", "")
    for src, dst in (("µ", "u"), ("μ", "u"), ("³", "3"), ("°", ""), ("º", ""), ("deg", "")):
        text = text.replace(src, dst)
    return text


def merge_pages(pages: Iterable[ParsedPage]) -> ParsedPage:
    """Records of several pages; an hour on two pages is kept once, the repeat rejected."""
    records: list[HourlyRecord] = []
    rejected: list[Rejected] = []
    seen: set[datetime] = set()
    for page in pages:
        rejected.extend(page.rejected)
        for record in page.records:
            if record.ts in seen:
                detail = f"hour {record.ts.isoformat()} already on an earlier page"
                rejected.append(
                    Rejected(RejectReason.DUPLICATE_HOUR, detail, None, None, record.ts)
                )
                continue
            seen.add(record.ts)
            records.append(record)
    return ParsedPage(tuple(records), tuple(rejected))
