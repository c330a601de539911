"""OpenAQ v3 client and hourly-record parser.

The client wraps ``httpx`` with the behaviour a long backfill needs against the real API:
lazy ``limit``/``page`` pagination that stops on a short page (``meta.found`` is not trusted,
it can be the string ``">1000"``), sleeping until the rate-limit window resets when the
``x-ratelimit-remaining`` header runs low, honouring ``429`` + ``Retry-After``, and bounded
retries with exponential backoff and full jitter on 5xx, timeouts and connection errors.
Other 4xx answers raise :class:`OpenAQClientError` at once.

The parser turns one hourly record (raw camelCase from the API, or the snake_case the
``openaq`` SDK writes) into a :class:`HourlyRecord`, or a :class:`Rejected` with a reason; it
never raises on a bad record.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import httpx
import tenacity

__all__ = [
    "DEFAULT_BASE_URL",
    "KNOWN_UNITS",
    "MAX_PAGE_LIMIT",
    "HourlyRecord",
    "OpenAQClient",
    "OpenAQClientError",
    "OpenAQError",
    "OpenAQHTTPError",
    "OpenAQNotFoundError",
    "OpenAQRateLimitError",
    "OpenAQResponseError",
    "OpenAQServerError",
    "OpenAQTransportError",
    "Page",
    "ParsedPage",
    "RateLimit",
    "RejectReason",
    "Rejected",
    "TimeArg",
    "normalize_units",
    "parse_hourly_page",
    "parse_hourly_record",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openaq.org"
MAX_PAGE_LIMIT = 1000

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

_RETRYABLE_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.ProtocolError)


# --------------------------------------------------------------------------------------------
# Parsed records
# --------------------------------------------------------------------------------------------


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
        coverage_percent=_opt_float(_pick(coverage, "percentCoverage", "percent_coverage")),
        observed_count=_opt_int(_pick(coverage, "observedCount", "observed_count")),
        expected_count=_opt_int(_pick(coverage, "expectedCount", "expected_count")),
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
        page = _opt_int(meta.get("page")) if isinstance(meta, Mapping) else None
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


def _opt_float(value: object) -> float | None:
    ok, number = _parse_value(value)
    return number if ok else None


def _opt_int(value: object) -> int | None:
    number = _opt_float(value)
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


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class OpenAQError(Exception):
    """Base class of every error the OpenAQ client raises."""


class OpenAQHTTPError(OpenAQError):
    """The API answered with an error status.

    Attributes:
        status: HTTP status code.
        path: URL path of the request (no query string, no key).
        message: The API's own message (``detail``), or the start of the body.
    """

    def __init__(self, status: int, path: str, message: str) -> None:
        super().__init__(status, path, message)
        self.status = status
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"OpenAQ API answered {self.status} for {self.path}: {self.message}"


class OpenAQClientError(OpenAQHTTPError):
    """A 4xx other than 429: the request is wrong and retrying will not help."""


class OpenAQNotFoundError(OpenAQClientError):
    """404: no such location or sensor."""


class OpenAQRateLimitError(OpenAQHTTPError):
    """Still rate limited (429) after every retry, or asked to wait longer than allowed."""


class OpenAQServerError(OpenAQHTTPError):
    """Still a 5xx after every retry."""


class OpenAQTransportError(OpenAQError):
    """Timeouts or connection errors on every attempt; the last one is the ``__cause__``."""


class OpenAQResponseError(OpenAQError):
    """A success status with a body that is not the expected JSON."""


class _RetryableStatusError(Exception):
    """A 429 or 5xx answer, raised inside the retry loop."""

    def __init__(self, status: int, path: str, message: str, retry_after: float | None) -> None:
        super().__init__(status, path, message)
        self.status = status
        self.path = path
        self.message = message
        self.retry_after = retry_after

    def final_error(self) -> OpenAQHTTPError:
        too_many = self.status == httpx.codes.TOO_MANY_REQUESTS
        cls = OpenAQRateLimitError if too_many else OpenAQServerError
        return cls(self.status, self.path, self.message)


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The ``x-ratelimit-*`` headers of one response.

    Attributes:
        limit: Requests allowed in the window.
        remaining: Requests left in the window.
        used: Requests used in the window.
        reset_s: Seconds from the response until the window resets.
        observed_at: Client clock reading when the response arrived.
    """

    limit: int | None
    remaining: int | None
    used: int | None
    reset_s: float | None
    observed_at: float

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], observed_at: float) -> RateLimit | None:
        """Read the rate-limit headers, or None when the response has none.

        Args:
            headers: Response headers (case-insensitive mapping).
            observed_at: Client clock reading when the response arrived.

        Returns:
            The parsed headers, or None.
        """
        limit = _opt_int(headers.get("x-ratelimit-limit"))
        remaining = _opt_int(headers.get("x-ratelimit-remaining"))
        used = _opt_int(headers.get("x-ratelimit-used"))
        reset_s = _opt_float(headers.get("x-ratelimit-reset"))
        if limit is None and remaining is None and used is None and reset_s is None:
            return None
        return cls(limit, remaining, used, reset_s, observed_at)


@dataclass(frozen=True, slots=True)
class Page:
    """One raw page of a paginated endpoint.

    Attributes:
        path: URL path requested.
        page: Page number (1-based).
        limit: Page size requested.
        results: The page's ``results``, as sent.
        meta: The page's ``meta`` (``found`` may be a string such as ``">1000"``).
        rate_limit: Rate-limit headers of the response.
    """

    path: str
    page: int
    limit: int
    results: list[dict[str, Any]]
    meta: dict[str, Any]
    rate_limit: RateLimit | None = None


TimeArg = datetime | str


class OpenAQClient:
    """Synchronous OpenAQ v3 client: pagination, rate-limit waits, bounded retries.

    Use as a context manager, or call :meth:`close`.

    Attributes:
        request_count: HTTP requests sent, retries included.
        rate_limit: Rate-limit headers of the last response, if any.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        page_limit: int = 1000,
        transport: httpx.BaseTransport | None = None,
        ratelimit_min_remaining: int = 1,
        max_wait_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        """Create a client.

        Args:
            base_url: API root, without ``/v3``.
            api_key: Sent as ``X-API-Key`` when given.
            timeout: Per-request timeout in seconds (connect, read, write, pool).
            max_retries: Retries after the first attempt on 429, 5xx, timeouts and
                connection errors; so at most ``max_retries + 1`` attempts per request.
            backoff_base: First backoff ceiling in seconds; doubles on each retry.
            backoff_max: Largest backoff ceiling in seconds.
            page_limit: Default page size, 1 to 1000.
            transport: Custom httpx transport (e.g. for proxies or tests).
            ratelimit_min_remaining: Sleep until the window resets once
                ``x-ratelimit-remaining`` is at or below this.
            max_wait_s: Longest single wait (``Retry-After`` or rate-limit reset) the client
                accepts; a longer one raises :class:`OpenAQRateLimitError`.
            sleep: Sleep function (inject a fake in unit tests).
            clock: Monotonic clock in seconds (inject a fake in unit tests).
            rng: Random source for the jitter.

        Raises:
            ValueError: An argument is out of range.
        """
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"page_limit must be within 1..{MAX_PAGE_LIMIT}, got {page_limit}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if backoff_base < 0 or backoff_max < 0:
            raise ValueError("backoff_base and backoff_max must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.page_limit = page_limit
        self.ratelimit_min_remaining = ratelimit_min_remaining
        self.max_wait_s = max_wait_s
        self.request_count = 0
        self.rate_limit: RateLimit | None = None
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        headers = {"Accept": "application/json", "User-Agent": "hourcast-openaq/0.1"}
        if api_key:
            headers["X-API-Key"] = api_key
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    # -- endpoints ---------------------------------------------------------------------------

    def iter_locations(
        self,
        ids: Iterable[int] | None = None,
        *,
        coordinates: tuple[float, float] | None = None,
        radius_m: int | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        iso: str | None = None,
    ) -> Iterator[Page]:
        """Pages of ``GET /v3/locations`` (or one ``/v3/locations/{id}`` page per id).

        Args:
            ids: Location ids to fetch one by one; excludes the other filters.
            coordinates: Centre ``(latitude, longitude)``; needs ``radius_m``.
            radius_m: Search radius in metres around ``coordinates`` (API max 25,000).
            bbox: ``(min_lon, min_lat, max_lon, max_lat)``; excludes ``coordinates``.
            iso: ISO 3166-1 alpha-2 country code.

        Yields:
            Raw pages, fetched lazily.

        Raises:
            ValueError: Incompatible filters.
        """
        if ids is not None:
            if coordinates or radius_m or bbox or iso:
                raise ValueError("ids cannot be combined with coordinates, radius_m, bbox or iso")
            for location_id in ids:
                path = f"/v3/locations/{int(location_id)}"
                body = self.get_json(path)  # one location: no pagination
                yield _page_of(path, 1, MAX_PAGE_LIMIT, body, self.rate_limit)
            return
        if (coordinates is None) != (radius_m is None):
            raise ValueError("coordinates and radius_m go together")
        if coordinates is not None and bbox is not None:
            raise ValueError("use either coordinates + radius_m or bbox, not both")
        params: dict[str, Any] = {}
        if coordinates is not None:
            params["coordinates"] = _fmt_numbers(coordinates)
            params["radius"] = int(radius_m or 0)
        if bbox is not None:
            params["bbox"] = _fmt_numbers(bbox)
        if iso is not None:
            params["iso"] = iso.strip().upper()
        yield from self.iter_pages("/v3/locations", params)

    def locations(
        self,
        ids: Iterable[int] | None = None,
        *,
        coordinates: tuple[float, float] | None = None,
        radius_m: int | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        iso: str | None = None,
    ) -> list[dict[str, Any]]:
        """All locations matching the filters (see :meth:`iter_locations`).

        Returns:
            Raw location objects, camelCase as the API sends them.
        """
        pages = self.iter_locations(
            ids, coordinates=coordinates, radius_m=radius_m, bbox=bbox, iso=iso
        )
        return [item for page in pages for item in page.results]

    def sensors_of_location(self, location_id: int) -> list[dict[str, Any]]:
        """All sensors of a location (``GET /v3/locations/{id}/sensors``).

        Args:
            location_id: OpenAQ location id.

        Returns:
            Raw sensor objects.
        """
        pages = self.iter_pages(f"/v3/locations/{int(location_id)}/sensors")
        return [item for page in pages for item in page.results]

    def iter_hourly(
        self,
        sensor_id: int,
        datetime_from: TimeArg,
        datetime_to: TimeArg,
        *,
        limit: int | None = None,
    ) -> Iterator[ParsedPage]:
        """Parsed pages of ``GET /v3/sensors/{id}/hours``, fetched lazily.

        Args:
            sensor_id: OpenAQ sensor id.
            datetime_from: Window start, UTC (naive datetimes are taken as UTC).
            datetime_to: Window end, UTC.
            limit: Page size; defaults to the client's ``page_limit``.

        Yields:
            One :class:`ParsedPage` per API page.
        """
        params = {"datetime_from": _fmt_time(datetime_from), "datetime_to": _fmt_time(datetime_to)}
        for page in self.iter_pages(f"/v3/sensors/{int(sensor_id)}/hours", params, limit=limit):
            parsed = parse_hourly_page(page.results, int(sensor_id))
            yield replace(parsed, page=page.page)

    def hourly(
        self,
        sensor_id: int,
        datetime_from: TimeArg,
        datetime_to: TimeArg,
        *,
        limit: int | None = None,
    ) -> ParsedPage:
        """Every hourly record of a sensor in a window, all pages merged.

        An hour that appears on two pages is kept once; the repeat is rejected as a
        duplicate hour.

        Args:
            sensor_id: OpenAQ sensor id.
            datetime_from: Window start, UTC.
            datetime_to: Window end, UTC.
            limit: Page size; defaults to the client's ``page_limit``.

        Returns:
            Accepted records and rejections of all pages (``page`` is None).
        """
        return _merge_pages(self.iter_hourly(sensor_id, datetime_from, datetime_to, limit=limit))

    def iter_measurements(
        self,
        sensor_id: int,
        datetime_from: TimeArg,
        datetime_to: TimeArg,
        *,
        limit: int | None = None,
    ) -> Iterator[Page]:
        """Raw pages of ``GET /v3/sensors/{id}/measurements``, fetched lazily.

        Args:
            sensor_id: OpenAQ sensor id.
            datetime_from: Window start, UTC.
            datetime_to: Window end, UTC.
            limit: Page size; defaults to the client's ``page_limit``.

        Yields:
            Raw pages (measurements need not be hourly, so they are not parsed here;
            :func:`parse_hourly_page` works on them when they are).
        """
        params = {"datetime_from": _fmt_time(datetime_from), "datetime_to": _fmt_time(datetime_to)}
        path = f"/v3/sensors/{int(sensor_id)}/measurements"
        yield from self.iter_pages(path, params, limit=limit)

    def measurements(
        self,
        sensor_id: int,
        datetime_from: TimeArg,
        datetime_to: TimeArg,
        *,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every raw measurement of a sensor in a window (see :meth:`iter_measurements`).

        Returns:
            Raw measurement objects, all pages concatenated.
        """
        pages = self.iter_measurements(sensor_id, datetime_from, datetime_to, limit=limit)
        return [item for page in pages for item in page.results]

    def parameters(self) -> list[dict[str, Any]]:
        """All parameters the API knows (``GET /v3/parameters``).

        Returns:
            Raw parameter objects (``id``, ``name``, ``units``, ``displayName``, ...).
        """
        return [item for page in self.iter_pages("/v3/parameters") for item in page.results]

    # -- transport ---------------------------------------------------------------------------

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        start_page: int = 1,
    ) -> Iterator[Page]:
        """Request ``page = start_page, start_page + 1, ...`` until a page is short.

        ``meta.found`` is ignored: it can be a string such as ``">1000"``.

        Args:
            path: URL path, e.g. ``/v3/sensors/1502/hours``.
            params: Extra query parameters (None values are dropped).
            limit: Page size, 1 to 1000; defaults to the client's ``page_limit``.
            start_page: First page to request.

        Yields:
            Raw pages, each requested only when the previous one has been consumed.

        Raises:
            ValueError: ``limit`` out of range.
            OpenAQError: See :meth:`get_json`.
        """
        size = self.page_limit if limit is None else limit
        if not 1 <= size <= MAX_PAGE_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_PAGE_LIMIT}, got {size}")
        page = start_page
        while True:
            query = {**(params or {}), "limit": size, "page": page}
            result = _page_of(path, page, size, self.get_json(path, query), self.rate_limit)
            yield result
            if len(result.results) < size:
                return
            page += 1

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET one URL with rate-limit waits and bounded retries; return the JSON object.

        Args:
            path: URL path under ``base_url``.
            params: Query parameters (None values are dropped).

        Returns:
            The decoded JSON object.

        Raises:
            OpenAQClientError: A 4xx other than 429 (not retried).
            OpenAQRateLimitError: Still 429 after ``max_retries`` retries, or a wait longer
                than ``max_wait_s`` was asked for.
            OpenAQServerError: Still 5xx after ``max_retries`` retries.
            OpenAQTransportError: Timeouts or connection errors on every attempt.
            OpenAQResponseError: The body is not a JSON object.
        """
        query = {key: value for key, value in (params or {}).items() if value is not None}
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._retry_wait,
            retry=tenacity.retry_if_exception_type(
                (_RetryableStatusError, *_RETRYABLE_TRANSPORT_ERRORS)
            ),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._get_once, path, query)
        except _RetryableStatusError as exc:
            raise exc.final_error() from None
        except httpx.TransportError as exc:
            # Retryable ones (timeouts, connection errors) land here once retries run out.
            attempts = retrying.statistics.get("attempt_number", 1)
            raise OpenAQTransportError(
                f"{type(exc).__name__} on {path} after {attempts} attempt(s): {exc}"
            ) from exc

    def _get_once(self, path: str, query: Mapping[str, Any]) -> dict[str, Any]:
        self._wait_for_rate_limit(path)
        self.request_count += 1
        response = self._http.get(path, params=query)
        self.rate_limit = RateLimit.from_headers(response.headers, self._clock()) or self.rate_limit
        status = response.status_code
        if response.is_success:
            try:
                body = response.json()
            except ValueError as exc:
                raise OpenAQResponseError(f"{path}: body is not JSON ({exc})") from exc
            if not isinstance(body, dict):
                raise OpenAQResponseError(f"{path}: body is {type(body).__name__}, not an object")
            return body
        message = _error_message(response)
        url_path = response.request.url.path
        if status == httpx.codes.TOO_MANY_REQUESTS or response.is_server_error:
            retry_after = _parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None and retry_after > self.max_wait_s:
                raise OpenAQRateLimitError(
                    status, url_path, f"{message} (Retry-After {retry_after:g}s > max_wait_s)"
                )
            raise _RetryableStatusError(status, url_path, message, retry_after)
        if status == httpx.codes.NOT_FOUND:
            raise OpenAQNotFoundError(status, url_path, message)
        raise OpenAQClientError(status, url_path, message)

    def _wait_for_rate_limit(self, path: str) -> None:
        state = self.rate_limit
        if state is None or state.remaining is None or state.reset_s is None:
            return
        if state.remaining > self.ratelimit_min_remaining:
            return
        delay = state.observed_at + state.reset_s - self._clock()
        if delay <= 0:
            return
        if delay > self.max_wait_s:
            raise OpenAQRateLimitError(
                httpx.codes.TOO_MANY_REQUESTS,
                path,
                f"rate-limit window resets in {delay:.0f}s > max_wait_s",
            )
        logger.info("OpenAQ rate limit: %s request(s) left, sleeping %.2fs", state.remaining, delay)
        self._sleep(delay)

    def _retry_wait(self, state: tenacity.RetryCallState) -> float:
        # Full jitter: uniform in [0, min(cap, base * 2^(n-1))].
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
        delay = self._rng.uniform(0.0, ceiling)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatusError) and exc.retry_after is not None:
            # The server said how long; never retry sooner than that.
            delay = max(delay, exc.retry_after)
        return delay

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "OpenAQ request failed (attempt %d: %s); retrying in %.2fs",
            state.attempt_number,
            f"HTTP {exc.status}" if isinstance(exc, _RetryableStatusError) else repr(exc),
            wait,
        )


def _page_of(
    path: str, page: int, limit: int, body: dict[str, Any], rate_limit: RateLimit | None
) -> Page:
    results = body.get("results")
    if not isinstance(results, list):
        raise OpenAQResponseError(f"{path} page {page}: body has no results list")
    meta = body.get("meta")
    return Page(path, page, limit, results, meta if isinstance(meta, dict) else {}, rate_limit)


def _merge_pages(pages: Iterable[ParsedPage]) -> ParsedPage:
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


def _fmt_time(value: TimeArg) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_numbers(values: Iterable[float]) -> str:
    # The API takes up to 4 decimals (about 11 m).
    return ",".join(f"{float(v):.4f}".rstrip("0").rstrip(".") for v in values)


def _parse_retry_after(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:200] if text else response.reason_phrase
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if key in body:
                detail = body[key]
                return detail if isinstance(detail, str) else _compact(detail)
    return _compact(body)


def _compact(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."
