"""A local fake of the OpenAQ v3 API, for tests and the offline demo.

It answers in the raw API's shape (camelCase keys, ``{"meta": ..., "results": [...]}``,
``meta.found`` as the string ``">{limit}"`` when there are more results than one page holds,
``x-ratelimit-*`` headers on every ``/v3`` response) from real data in
``devtools/hourcast_dev/data`` (shipped with this development package, not with ``hourcast``):

* sensor 1502 (PM2.5, location 847 "South Long Beach") and sensor 3917 (O3) from the two
  recorded ``/hours`` pages, converted back from the SDK's snake_case to camelCase;
* sensor 900001 at location 900000 "Beijing US Embassy": the UCI Beijing PM2.5 series,
  local time UTC+8 converted to UTC, ``NA`` hours left out (the real API omits empty hours).

Faults (status codes with ``Retry-After``, delays, malformed records) and a fixed-window rate
limiter are controlled at run time through ``/_admin`` endpoints or the :func:`create_app`
arguments. Run it with ``python -m hourcast_dev.openaq_fake --port 8089``, or in-process
with :class:`FakeServer`.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import calendar
import copy
import csv
import json
import math
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hourcast_dev.openaq_fleet import (
    FIRST_FLEET_LOCATION_ID,
    FIRST_FLEET_SENSOR_ID,
    FleetSpec,
    latest_item,
    local_offset,
    visible,
)

__all__ = [
    "BEIJING_LOCATION_ID",
    "BEIJING_SENSOR_ID",
    "DATA_DIR",
    "FakeDataset",
    "FakeServer",
    "FakeState",
    "FaultSpec",
    "FleetSpec",
    "RateLimitSpec",
    "SensorSeries",
    "create_app",
    "load_dataset",
    "main",
    "with_fleet",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
BEIJING_SENSOR_ID = 900001
BEIJING_LOCATION_ID = 900000

_MAX_LIMIT = 1000
_MAX_RADIUS_M = 25_000
_ISO_Z = "%Y-%m-%dT%H:%M:%SZ"
_SENSOR_PATH = re.compile(r"^/v3/sensors/(\d+)(?:/|$)")
_SERIES_PATH = re.compile(r"^/v3/sensors/\d+/(?:hours|measurements)/?$")
_CAMEL_SPLIT = re.compile(r"_([a-z0-9])")
_BEIJING_OFFSET = timedelta(hours=8)
_T = TypeVar("_T")

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

# Parameters as OpenAQ numbers them.
_PARAMETERS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "pm10",
        "units": "µg/m³",
        "displayName": "PM10",
        "description": "PM10 mass concentration",
    },
    {
        "id": 2,
        "name": "pm25",
        "units": "µg/m³",
        "displayName": "PM2.5",
        "description": "PM2.5 mass concentration",
    },
    {
        "id": 7,
        "name": "no2",
        "units": "ppm",
        "displayName": "NO₂",
        "description": "Nitrogen dioxide concentration",
    },
    {
        "id": 8,
        "name": "co",
        "units": "ppm",
        "displayName": "CO",
        "description": "Carbon monoxide concentration",
    },
    {
        "id": 9,
        "name": "so2",
        "units": "ppm",
        "displayName": "SO₂",
        "description": "Sulfur dioxide concentration",
    },
    {
        "id": 10,
        "name": "o3",
        "units": "ppm",
        "displayName": "O₃",
        "description": "Ozone concentration",
    },
]


@dataclass(frozen=True)
class _LocationInfo:
    """Static facts of one served location (what the recorded pages do not carry)."""

    id: int
    name: str
    locality: str | None
    timezone: str
    country: tuple[str, str]
    latitude: float
    longitude: float
    provider: str
    sensor_ids: tuple[int, ...]


# Sensor and location ids 1502/847 and the station names are real; coordinates of 847 are
# approximate, and the location of sensor 3917 is not in the recording, so its id, name and
# coordinates (central Denver) are placeholders.
_LOCATIONS: tuple[_LocationInfo, ...] = (
    _LocationInfo(
        847,
        "South Long Beach",
        "Long Beach",
        "America/Los_Angeles",
        ("US", "United States"),
        33.7922,
        -118.1753,
        "recorded OpenAQ page (sensor_1502_hours.json)",
        (1502,),
    ),
    _LocationInfo(
        903917,
        "Sensor 3917 station (US Mountain time, placeholder)",
        None,
        "America/Denver",
        ("US", "United States"),
        39.7392,
        -104.9903,
        "recorded OpenAQ page (sensor_3917_hours.json)",
        (3917,),
    ),
    _LocationInfo(
        BEIJING_LOCATION_ID,
        "Beijing US Embassy",
        "Beijing",
        "Asia/Shanghai",
        ("CN", "China"),
        39.954,
        116.468,
        "UCI ML Repository, Beijing PM2.5 (Liang et al. 2015), CC BY 4.0",
        (BEIJING_SENSOR_ID,),
    ),
)

_FIXTURE_FILES = {1502: "sensor_1502_hours.json", 3917: "sensor_3917_hours.json"}
_BEIJING_CSV = "beijing_pm25/PRSA_data_2010.1.1-2014.10.8.csv"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


class SensorSeries:
    """The hourly records of one sensor, sorted by hour, rendered to JSON cheaply.

    Build one with :meth:`from_records` (a few thousand record objects, rendered once) or
    :meth:`from_values` (a long value series, rendered per request from a template, so tens
    of thousands of hours cost two lists of numbers, not tens of thousands of dicts).

    Attributes:
        sensor_id: Sensor id.
        parameter: Parameter object (camelCase) of the sensor.
        hours: Hour starts as UTC epoch seconds, ascending, unique.
    """

    def __init__(
        self,
        sensor_id: int,
        parameter: dict[str, Any],
        hours: list[int],
        render: Callable[[int, str], str],
    ) -> None:
        """Wrap sorted hours and a renderer.

        Args:
            sensor_id: Sensor id.
            parameter: Parameter object of the sensor.
            hours: Hour starts (UTC epoch seconds), ascending and unique.
            render: ``render(index, kind)`` returns the JSON text of one record as served by
                ``kind`` (``"hours"`` or ``"measurements"``).
        """
        self.sensor_id = sensor_id
        self.parameter = parameter
        self.hours = hours
        self._render = render

    @classmethod
    def from_records(
        cls, sensor_id: int, parameter: dict[str, Any], records: Sequence[dict[str, Any]]
    ) -> SensorSeries:
        """A series from camelCase hour records (sorted here by ``datetimeFrom.utc``).

        Args:
            sensor_id: Sensor id.
            parameter: Parameter object of the sensor.
            records: Hour records in the served (camelCase) shape.

        Returns:
            The series, every record rendered once up front.
        """
        keyed = sorted(
            ((_epoch(r["period"]["datetimeFrom"]["utc"]), r) for r in records),
            key=lambda pair: pair[0],
        )
        rendered = {
            "hours": [_dumps(r) for _, r in keyed],
            "measurements": [_dumps(_as_measurement(r)) for _, r in keyed],
        }
        return cls(sensor_id, parameter, [h for h, _ in keyed], lambda i, k: rendered[k][i])

    @classmethod
    def from_values(
        cls,
        sensor_id: int,
        parameter: dict[str, Any],
        hours: list[int],
        values: list[float],
        utc_offset: timedelta,
    ) -> SensorSeries:
        """A series of one-observation hours from parallel lists of hours and values.

        Args:
            sensor_id: Sensor id.
            parameter: Parameter object of the sensor.
            hours: Hour starts (UTC epoch seconds), ascending and unique.
            values: The hourly values.
            utc_offset: Fixed offset of the station's local time (for the ``local`` stamps).

        Returns:
            The series, records rendered on demand.
        """
        parameter_json = _dumps(parameter)
        local_tz = timezone(utc_offset)

        def render(index: int, kind: str) -> str:
            start = datetime.fromtimestamp(hours[index], UTC)
            value = repr(float(values[index]))  # same text as json.dumps for finite floats
            summary = "null" if kind == "measurements" else _SUMMARY_TEMPLATE.format(v=value)
            return _RECORD_TEMPLATE.format(
                label="raw" if kind == "measurements" else "1hour",
                start=_stamp_json(start, local_tz),
                end=_stamp_json(start + timedelta(hours=1), local_tz),
                value=value,
                parameter=parameter_json,
                summary=summary,
            )

        return cls(sensor_id, parameter, hours, render)

    def __len__(self) -> int:
        return len(self.hours)

    def window(self, start: int | None, end: int | None) -> tuple[int, int]:
        """Index range of the hours in ``[start, end)`` (epoch seconds; None is open).

        Args:
            start: Inclusive lower bound on the hour start.
            end: Exclusive upper bound on the hour start.

        Returns:
            ``(lo, hi)`` indices into :attr:`hours`.
        """
        lo = 0 if start is None else bisect.bisect_left(self.hours, start)
        hi = len(self.hours) if end is None else bisect.bisect_left(self.hours, end)
        return lo, max(lo, hi)

    def record_json(self, index: int, kind: str = "hours") -> str:
        """The JSON text of one record, as served by ``kind``."""
        return self._render(index, kind)

    def record(self, index: int, kind: str = "hours") -> dict[str, Any]:
        """A fresh (mutable) copy of one record, as served by ``kind``."""
        record: dict[str, Any] = json.loads(self._render(index, kind))
        return record

    def first_last(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """``datetimeFirst`` and ``datetimeLast`` objects, or None when empty."""
        if not self.hours:
            return None
        return self.record(0)["period"]["datetimeFrom"], self.record(-1)["period"]["datetimeTo"]

    def latest(self) -> dict[str, Any] | None:
        """The last record as a ``latest`` object (datetime, value), or None when empty."""
        if not self.hours:
            return None
        last = self.record(-1)
        return {"datetime": last["period"]["datetimeTo"], "value": last["value"]}


@dataclass(frozen=True)
class FakeDataset:
    """Everything the fake serves, loaded once.

    Attributes:
        series: Hourly series by sensor id.
        locations: Location objects (camelCase) by location id.
        sensors: Sensor objects (camelCase) by sensor id.
        parameters: Parameter objects.
    """

    series: dict[int, SensorSeries]
    locations: dict[int, dict[str, Any]]
    sensors: dict[int, dict[str, Any]]
    parameters: list[dict[str, Any]]


@lru_cache(maxsize=4)
def load_dataset(data_dir: Path = DATA_DIR) -> FakeDataset:
    """Load and convert the bundled data (cached per directory).

    Args:
        data_dir: Directory holding ``openaq/`` and ``beijing_pm25/``.

    Returns:
        The dataset the fake serves.

    Raises:
        FileNotFoundError: A data file is missing.
    """
    series: dict[int, SensorSeries] = {}
    for sensor_id, name in _FIXTURE_FILES.items():
        raw = json.loads((data_dir / "openaq" / name).read_text(encoding="utf-8"))
        records = [_fixture_record(r) for r in raw["results"]]
        series[sensor_id] = SensorSeries.from_records(sensor_id, records[0]["parameter"], records)
    hours, values = _read_beijing(data_dir)
    series[BEIJING_SENSOR_ID] = SensorSeries.from_values(
        BEIJING_SENSOR_ID, _parameter_object("pm25"), hours, values, _BEIJING_OFFSET
    )
    sensors = {sid: _sensor_object(s) for sid, s in series.items()}
    locations = {info.id: _location_object(info, series, sensors) for info in _LOCATIONS}
    return FakeDataset(series, locations, sensors, copy.deepcopy(_PARAMETERS))


def with_fleet(dataset: FakeDataset, fleet: FleetSpec, data_dir: Path = DATA_DIR) -> FakeDataset:
    """``dataset`` plus a synthetic fleet of PM2.5 sensors, one per location.

    Args:
        dataset: The bundled data (:func:`load_dataset`).
        fleet: How many sensors and which hours.
        data_dir: Where the Beijing series (the fleet's base values) is.

    Returns:
        A new dataset; sensor ids from 3,000,000, location ids from 2,000,000.
    """
    series = dict(dataset.series)
    sensors = dict(dataset.sensors)
    locations = dict(dataset.locations)
    hours, base = fleet.hour_epochs(), _read_beijing(data_dir)[1]
    parameter = _parameter_object("pm25")
    for index in range(fleet.count):
        sensor_id, location_id = FIRST_FLEET_SENSOR_ID + index, FIRST_FLEET_LOCATION_ID + index
        zone, code, country, lat, lon = fleet.site(index)
        offset = local_offset(zone, fleet.start)  # local stamps keep the start's offset
        values = fleet.values(index, base)
        series[sensor_id] = SensorSeries.from_values(sensor_id, parameter, hours, values, offset)
        sensors[sensor_id] = _sensor_object(series[sensor_id])
        info = _LocationInfo(
            location_id,
            f"Fleet station {index}",
            None,
            zone,
            (code, country),
            lat,
            lon,
            "synthetic fleet (Beijing PM2.5 shifted and scaled)",
            (sensor_id,),
        )
        locations[location_id] = _location_object(info, series, sensors)
    return FakeDataset(series, locations, sensors, dataset.parameters)


def _read_beijing(data_dir: Path) -> tuple[list[int], list[float]]:
    hours: list[int] = []
    values: list[float] = []
    offset_s = int(_BEIJING_OFFSET.total_seconds())
    with (data_dir / _BEIJING_CSV).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        year, month, day, hour, pm25 = (
            header.index(c) for c in ("year", "month", "day", "hour", "pm2.5")
        )
        for row in reader:
            if row[pm25] in {"NA", ""}:
                continue  # no record for the hour, as in the real API
            local = (int(row[year]), int(row[month]), int(row[day]), int(row[hour]), 0, 0)
            # Local time is UTC+8 all year (no DST), so UTC is a fixed shift.
            hours.append(calendar.timegm(local) - offset_s)
            values.append(float(row[pm25]))
    order = sorted(range(len(hours)), key=hours.__getitem__)
    return [hours[i] for i in order], [values[i] for i in order]


def _camel(key: str) -> str:
    return _CAMEL_SPLIT.sub(lambda m: m.group(1).upper(), key)


def _camelize(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _camelize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camelize(v) for v in value]
    return value


def _fixture_record(raw: dict[str, Any]) -> dict[str, Any]:
    record = _camelize(raw)
    # The raw API has flagInfo, which the SDK dropped; put it back after "value".
    out: dict[str, Any] = {}
    for key, value in record.items():
        out[key] = value
        if key == "value":
            out["flagInfo"] = {"hasFlags": False}
    return out


def _parameter_object(name: str) -> dict[str, Any]:
    info = next(p for p in _PARAMETERS if p["name"] == name)
    return {"id": info["id"], "name": name, "units": info["units"], "displayName": None}


def _stamp_json(ts: datetime, local_tz: timezone) -> str:
    local = ts.astimezone(local_tz).isoformat()
    return f'{{"utc":"{ts.strftime(_ISO_Z)}","local":"{local}"}}'


# The shape of one hourly record of the raw API; fields in the order it sends them.
_RECORD_TEMPLATE = (
    '{{"period":{{"label":"{label}","interval":"01:00:00","datetimeFrom":{start},'
    '"datetimeTo":{end}}},"value":{value},"flagInfo":{{"hasFlags":false}},'
    '"parameter":{parameter},"coordinates":null,"summary":{summary},'
    '"coverage":{{"expectedCount":1,"expectedInterval":"01:00:00","observedCount":1,'
    '"observedInterval":"01:00:00","percentComplete":100.0,"percentCoverage":100.0,'
    '"datetimeFrom":{start},"datetimeTo":{end}}}}}'
)
_SUMMARY_TEMPLATE = (
    '{{"min":{v},"q02":{v},"q25":{v},"median":{v},"q75":{v},"q98":{v},"max":{v},"sd":null}}'
)


def _as_measurement(record: dict[str, Any]) -> dict[str, Any]:
    # /measurements serves the same hourly values, labelled as raw measurements.
    return {**record, "period": {**record["period"], "label": "raw"}, "summary": None}


def _sensor_object(series: SensorSeries) -> dict[str, Any]:
    span = series.first_last()
    return {
        "id": series.sensor_id,
        "name": f"{series.parameter['name']} {series.parameter['units']}",
        "parameter": series.parameter,
        "datetimeFirst": span[0] if span else None,
        "datetimeLast": span[1] if span else None,
        "coverage": None,
        "latest": series.latest(),
        "summary": None,
    }


def _location_object(
    info: _LocationInfo, series: Mapping[int, SensorSeries], sensors: Mapping[int, dict[str, Any]]
) -> dict[str, Any]:
    spans = [s for sid in info.sensor_ids if (s := series[sid].first_last())]
    first = min((s[0] for s in spans), key=lambda d: d["utc"], default=None)
    last = max((s[1] for s in spans), key=lambda d: d["utc"], default=None)
    return {
        "id": info.id,
        "name": info.name,
        "locality": info.locality,
        "timezone": info.timezone,
        "country": {"id": None, "code": info.country[0], "name": info.country[1]},
        "owner": {"id": None, "name": "Unknown Governmental Organization"},
        "provider": {"id": None, "name": info.provider},
        "isMobile": False,
        "isMonitor": True,
        "instruments": [{"id": 2, "name": "Government Monitor"}],
        "sensors": [
            {"id": sid, "name": sensors[sid]["name"], "parameter": sensors[sid]["parameter"]}
            for sid in info.sensor_ids
        ],
        "coordinates": {"latitude": info.latitude, "longitude": info.longitude},
        "licenses": None,
        "bounds": [info.longitude, info.latitude, info.longitude, info.latitude],
        "distance": None,
        "datetimeFirst": first,
        "datetimeLast": last,
    }


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# Faults, rate limit, stats
# --------------------------------------------------------------------------------------------


class FaultSpec(BaseModel):
    """One fault rule. The first active rule matching a ``/v3`` request is applied to it.

    Examples: ``{"sensor_id": 1502, "status": 429, "retry_after": 2, "times": 1}``,
    ``{"status": 500, "times": 2}``, ``{"delay_s": 1.5, "times": 1}``, ``{"malformed": true}``.
    """

    model_config = ConfigDict(extra="forbid")

    sensor_id: int | None = Field(None, description="Only /v3/sensors/{sensor_id}/... requests.")
    path_prefix: str | None = Field(None, description="Only paths starting with this.")
    status: int | None = Field(None, ge=400, le=599, description="Answer with this status.")
    retry_after: float | None = Field(None, ge=0, description="Retry-After header, seconds.")
    delay_s: float | None = Field(None, ge=0, le=300, description="Wait before answering.")
    malformed: bool = Field(
        False,
        description="Corrupt records 1, 3, 5, 7 of /hours and /measurements pages: bad "
        "timestamp, value 'abc', units 'furlongs', hour of record 6 repeated.",
    )
    times: int | None = Field(None, ge=1, description="Requests to apply it to; None: until reset.")
    detail: str | None = Field(None, description="Message in the error body.")

    def matches(self, path: str, sensor_id: int | None) -> bool:
        """Whether the rule applies to a request.

        Args:
            path: Request path.
            sensor_id: Sensor id in the path, if any.

        Returns:
            True when every condition of the rule holds.
        """
        if self.sensor_id is not None and self.sensor_id != sensor_id:
            return False
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return False
        # A malformed-only rule would be wasted on endpoints without hourly records.
        only_malformed = self.malformed and self.status is None and self.delay_s is None
        return not (only_malformed and not _SERIES_PATH.match(path))


class RateLimitSpec(BaseModel):
    """Fixed-window rate limit: ``limit`` requests per ``window_s`` seconds."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(ge=1)
    window_s: float = Field(gt=0, le=3600)


class FakeState:
    """Mutable state of one fake app: fault rules, rate-limit window, request counts."""

    def __init__(
        self, rate_limit: RateLimitSpec, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Create the state.

        Args:
            rate_limit: Rate limit in force after a reset.
            clock: Monotonic clock in seconds.
        """
        self._lock = threading.Lock()
        self._clock = clock
        self._default_rate_limit = rate_limit
        self.rate_limit = rate_limit
        self.faults: list[tuple[FaultSpec, int | None]] = []
        self._window_start: float | None = None
        self._used = 0
        self.total = 0
        self.by_path: Counter[str] = Counter()
        self.by_sensor: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.faults_applied = 0
        self.with_api_key = 0

    def reset(self) -> None:
        """Forget faults, counts and the rate-limit window; restore the default rate limit."""
        with self._lock:
            self.faults.clear()
            self.rate_limit = self._default_rate_limit
            self._window_start, self._used = None, 0
            self.total, self.faults_applied, self.with_api_key = 0, 0, 0
            self.by_path.clear()
            self.by_sensor.clear()
            self.by_status.clear()

    def add_fault(self, spec: FaultSpec) -> None:
        """Append a fault rule (it applies after the rules already there)."""
        with self._lock:
            self.faults.append((spec, spec.times))

    def set_rate_limit(self, spec: RateLimitSpec) -> None:
        """Replace the rate limit and start a fresh window."""
        with self._lock:
            self.rate_limit = spec
            self._window_start, self._used = None, 0

    def admit(self) -> tuple[bool, list[tuple[bytes, bytes]], float]:
        """Count a request against the window.

        Returns:
            ``(allowed, rate-limit headers, seconds until reset)``.
        """
        with self._lock:
            now = self._clock()
            window = self.rate_limit.window_s
            if self._window_start is None or now >= self._window_start + window:
                self._window_start, self._used = now, 0
            allowed = self._used < self.rate_limit.limit
            if allowed:
                self._used += 1
            reset_s = max(0.0, self._window_start + window - now)
            headers = [
                (b"x-ratelimit-limit", str(self.rate_limit.limit).encode()),
                (b"x-ratelimit-remaining", str(self.rate_limit.limit - self._used).encode()),
                (b"x-ratelimit-used", str(self._used).encode()),
                # Whole seconds, rounded up so a client sleeping this long lands past the reset.
                (b"x-ratelimit-reset", str(math.ceil(reset_s)).encode()),
            ]
            return allowed, headers, reset_s

    def take_fault(self, path: str, sensor_id: int | None) -> FaultSpec | None:
        """The first active rule matching a request, using up one of its ``times``."""
        with self._lock:
            for index, (spec, left) in enumerate(self.faults):
                if not spec.matches(path, sensor_id):
                    continue
                if left is not None:
                    if left <= 1:
                        del self.faults[index]
                    else:
                        self.faults[index] = (spec, left - 1)
                self.faults_applied += 1
                return spec
            return None

    def count(self, path: str, sensor_id: int | None, *, with_api_key: bool = False) -> None:
        """Count one ``/v3`` request."""
        with self._lock:
            self.total += 1
            self.with_api_key += with_api_key
            self.by_path[path] += 1
            if sensor_id is not None:
                self.by_sensor[str(sensor_id)] += 1

    def count_status(self, status: int) -> None:
        """Count one response status."""
        with self._lock:
            self.by_status[str(status)] += 1

    def stats(self) -> dict[str, Any]:
        """Request counts (total, per path, per sensor, per status), pending faults, limits."""
        with self._lock:
            return {
                "total": self.total,
                "by_path": dict(self.by_path),
                "by_sensor": dict(self.by_sensor),
                "by_status": dict(self.by_status),
                "with_api_key": self.with_api_key,
                "faults_applied": self.faults_applied,
                "faults_pending": [
                    {**spec.model_dump(exclude_defaults=True), "times_left": left}
                    for spec, left in self.faults
                ],
                "rate_limit": self.rate_limit.model_dump(),
            }


class _FakeMiddleware:
    """Counts ``/v3`` requests, applies the rate limit and faults, adds the headers."""

    def __init__(self, app: ASGIApp, state: FakeState) -> None:
        self.app = app
        self.state = state

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v3/"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        match = _SENSOR_PATH.match(path)
        sensor_id = int(match.group(1)) if match else None
        state = self.state
        with_key = any(name == b"x-api-key" for name, _ in scope.get("headers", []))
        state.count(path, sensor_id, with_api_key=with_key)
        allowed, headers, _ = state.admit()

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
                state.count_status(message["status"])
            await send(message)

        if not allowed:
            # Like the real API: no Retry-After, only the x-ratelimit-* headers (reset in s).
            body = {"detail": "Too many requests: rate limit exceeded (fake OpenAQ)"}
            response = JSONResponse(body, 429)
            await response(scope, receive, send_with_headers)
            return

        fault = state.take_fault(path, sensor_id)
        if fault is not None and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.status is not None:
            extra = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            detail = fault.detail or f"Injected fault: HTTP {fault.status} (fake OpenAQ)"
            response = JSONResponse({"detail": detail}, fault.status, headers=extra)
            await response(scope, receive, send_with_headers)
            return
        if fault is not None and fault.malformed:
            scope.setdefault("state", {})["hourcast_malformed"] = True
        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------------------------
# App
# --------------------------------------------------------------------------------------------


def create_app(
    *,
    data_dir: Path = DATA_DIR,
    faults: Iterable[FaultSpec | Mapping[str, Any]] = (),
    rate_limit: int = 10_000,
    rate_window_s: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    fleet: FleetSpec | None = None,
    now: datetime | None = None,
) -> FastAPI:
    """Build the fake OpenAQ v3 app; the data are loaded here, once.

    Args:
        data_dir: Directory holding ``openaq/`` and ``beijing_pm25/``.
        faults: Fault rules active from the start (see :class:`FaultSpec`); ``/_admin/reset``
            clears them too.
        rate_limit: Requests allowed per window (the real API allows 60 a minute; the
            default here is generous so tests and demos do not throttle by accident).
        rate_window_s: Window length in seconds.
        clock: Monotonic clock for the rate-limit window.
        fleet: A synthetic fleet of PM2.5 sensors to serve as well (see :func:`with_fleet`).
        now: The fake's present: only hours that have ended by then are served (``/hours``,
            ``/latest``); None serves every hour. ``POST /_admin/clock`` moves it.

    Returns:
        The ASGI app; its :class:`FakeState` is ``app.state.fake``.
    """
    dataset = load_dataset(Path(data_dir))
    if fleet is not None:
        dataset = with_fleet(dataset, fleet, Path(data_dir))
    location_of = {s["id"]: loc for loc in dataset.locations.values() for s in loc["sensors"]}
    present: dict[str, float | None] = {"now": None if now is None else now.timestamp()}
    state = FakeState(RateLimitSpec(limit=rate_limit, window_s=rate_window_s), clock)
    for spec in faults:
        state.add_fault(spec if isinstance(spec, FaultSpec) else FaultSpec.model_validate(spec))

    app = FastAPI(
        title="Fake OpenAQ v3",
        description="Local fake of the OpenAQ v3 API serving bundled real data, with "
        "fault injection under /_admin.",
        version="0.1.0",
    )
    app.state.fake = state
    app.state.dataset = dataset
    app.add_middleware(_FakeMiddleware, state=state)

    limit_q = Query(100, ge=1, le=_MAX_LIMIT, description="Results per page (max 1000).")
    page_q = Query(1, ge=1, description="Page number, from 1.")

    @app.get("/v3/locations")
    async def list_locations(
        *,
        coordinates: str | None = Query(None, description="latitude,longitude"),
        radius: int | None = Query(None, ge=1, le=_MAX_RADIUS_M, description="Metres."),
        bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat"),
        iso: str | None = Query(None, description="ISO 3166-1 alpha-2 country code."),
        parameters_id: str | None = Query(None, description="Parameter ids, comma-separated."),
        limit: int = limit_q,
        page: int = page_q,
    ) -> Response:
        items = _filter_locations(dataset, coordinates, radius, bbox, iso)
        if parameters_id:
            ids = {int(v) for v in _numbers(parameters_id, parameters_id.count(",") + 1, "ids")}
            items = [i for i in items if any(s["parameter"]["id"] in ids for s in i["sensors"])]
        return _paged(items, limit, page)

    @app.get("/v3/locations/{location_id}")
    async def get_location(location_id: int) -> Response:
        if location_id not in dataset.locations:
            raise HTTPException(404, detail="Location not found")
        return _paged([dataset.locations[location_id]], 100, 1)

    @app.get("/v3/locations/{location_id}/sensors")
    async def location_sensors(location_id: int) -> Response:
        # Not paged (limit and page are ignored); an unknown location is 200 with nothing.
        location = dataset.locations.get(location_id, {"sensors": []})
        sensors = [dataset.sensors[s["id"]] for s in location["sensors"]]
        return _paged(sensors, max(len(sensors), 1), 1)

    def latest_of(sensor_ids: Iterable[int]) -> list[dict[str, Any]]:
        items = []
        for sensor_id in sensor_ids:
            series = dataset.series[sensor_id]
            shown = visible(series.hours, present["now"])
            if shown:
                record = series.record(shown - 1)
                location = location_of[sensor_id]
                items.append(latest_item(record, sensor_id=sensor_id, location=location))
        return items

    @app.get("/v3/locations/{location_id}/latest")
    async def location_latest(
        location_id: int, limit: int = limit_q, page: int = page_q
    ) -> Response:
        location = _require(dataset.locations, location_id, "Location")
        return _paged(latest_of(s["id"] for s in location["sensors"]), limit, page)

    @app.get("/v3/parameters/{parameter_id}/latest")
    async def parameter_latest(
        parameter_id: int, limit: int = limit_q, page: int = page_q
    ) -> Response:
        ids = sorted(
            sid for sid, series in dataset.series.items() if series.parameter["id"] == parameter_id
        )
        start = (page - 1) * limit
        # Only the requested page is rendered; found is the whole count, as the API has it.
        items = latest_of(ids[start : start + limit])
        return _page_response([_dumps(i) for i in items], len(ids), limit, page)

    @app.post("/_admin/clock")
    async def set_clock(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        value = body.get("now")
        present["now"] = None if value is None else datetime.fromisoformat(value).timestamp()
        return {"now": value}

    @app.get("/v3/sensors/{sensor_id}")
    async def get_sensor(sensor_id: int) -> Response:
        return _paged([_require(dataset.sensors, sensor_id, "Sensor")], 100, 1)

    async def series_page(
        request: Request,
        sensor_id: int,
        *,
        kind: str,
        dt_from: str | None,
        dt_to: str | None,
        limit: int,
        page: int,
    ) -> Response:
        series = dataset.series.get(sensor_id)
        if series is None:
            return _page_response([], 0, limit, page)  # the real API: 200, no results
        zone = location_of[sensor_id]["timezone"]
        start_s = _query_epoch(dt_from, "datetime_from", zone)
        end_s = _query_epoch(dt_to, "datetime_to", zone)
        if start_s is not None and end_s is not None and end_s <= start_s:
            raise HTTPException(422, detail="datetime_to must be after datetime_from")
        # The API filters on the hour's end: end > datetime_from and end <= datetime_to.
        lo, hi = series.window(
            None if start_s is None else math.floor(start_s) - 3600 + 1,
            None if end_s is None else math.floor(end_s) - 3600 + 1,
        )
        hi = min(hi, visible(series.hours, present["now"]))
        lo = min(lo, hi)
        start = lo + (page - 1) * limit
        stop = min(hi, start + limit)
        indices = range(start, stop) if start < hi else range(0)
        if getattr(request.state, "hourcast_malformed", False):
            parts = [_dumps(r) for r in _corrupt([series.record(i, kind) for i in indices])]
        else:
            parts = [series.record_json(i, kind) for i in indices]
        return _page_response(parts, hi - lo, limit, page)

    @app.get("/v3/sensors/{sensor_id}/hours")
    async def sensor_hours(
        *,
        request: Request,
        sensor_id: int,
        datetime_from: str | None = Query(None, description="ISO-8601, inclusive."),
        datetime_to: str | None = Query(None, description="ISO-8601, exclusive."),
        limit: int = limit_q,
        page: int = page_q,
    ) -> Response:
        return await series_page(
            request,
            sensor_id,
            kind="hours",
            dt_from=datetime_from,
            dt_to=datetime_to,
            limit=limit,
            page=page,
        )

    @app.get("/v3/sensors/{sensor_id}/measurements")
    async def sensor_measurements(
        *,
        request: Request,
        sensor_id: int,
        datetime_from: str | None = Query(None, description="ISO-8601, inclusive."),
        datetime_to: str | None = Query(None, description="ISO-8601, exclusive."),
        limit: int = limit_q,
        page: int = page_q,
    ) -> Response:
        return await series_page(
            request,
            sensor_id,
            kind="measurements",
            dt_from=datetime_from,
            dt_to=datetime_to,
            limit=limit,
            page=page,
        )

    @app.get("/v3/parameters")
    async def list_parameters(limit: int = limit_q, page: int = page_q) -> Response:
        return _paged(dataset.parameters, limit, page)

    @app.post("/_admin/faults")
    async def add_faults(
        spec: FaultSpec | list[FaultSpec] = Body(...),  # noqa: B008
    ) -> dict[str, Any]:
        for item in spec if isinstance(spec, list) else [spec]:
            state.add_fault(item)
        return {"faults_pending": state.stats()["faults_pending"]}

    @app.get("/_admin/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults_pending": state.stats()["faults_pending"]}

    @app.post("/_admin/ratelimit")
    async def set_rate_limit(spec: RateLimitSpec) -> dict[str, Any]:
        state.set_rate_limit(spec)
        return {"rate_limit": spec.model_dump()}

    @app.post("/_admin/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    @app.get("/_admin/stats")
    async def stats() -> dict[str, Any]:
        return state.stats()

    return app


def _require(items: Mapping[int, _T], key: int, what: str) -> _T:
    try:
        return items[key]
    except KeyError:
        raise HTTPException(404, detail=f"{what} {key} not found") from None


def _meta(total: int, limit: int, page: int) -> dict[str, Any]:
    # Like the real API: a string, not a number, when there is more than one page.
    found: int | str = total if total <= limit else f">{limit}"
    return {"name": "openaq-api", "website": "/", "page": page, "limit": limit, "found": found}


def _page_response(parts: list[str], total: int, limit: int, page: int) -> Response:
    body = '{"meta":' + _dumps(_meta(total, limit, page)) + ',"results":[' + ",".join(parts) + "]}"
    return Response(body.encode("utf-8"), media_type="application/json")


def _paged(items: Sequence[dict[str, Any]], limit: int, page: int) -> Response:
    start = (page - 1) * limit
    parts = [_dumps(item) for item in items[start : start + limit]]
    return _page_response(parts, len(items), limit, page)


def _query_epoch(text: str | None, name: str, zone: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        ts = datetime.fromisoformat(text.strip())
    except ValueError:
        raise HTTPException(422, detail=f"{name}: not an ISO-8601 datetime: {text!r}") from None
    # Like the real API: a time without an offset is the location's local time.
    ts = ts.replace(tzinfo=ZoneInfo(zone)) if ts.tzinfo is None else ts
    return ts.timestamp()


def _numbers(text: str, count: int, name: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise HTTPException(422, detail=f"{name}: expected {count} comma-separated numbers")
    return values


def _filter_locations(
    dataset: FakeDataset,
    coordinates: str | None,
    radius: int | None,
    bbox: str | None,
    iso: str | None,
) -> list[dict[str, Any]]:
    if (coordinates is None) != (radius is None):
        raise HTTPException(422, detail="coordinates and radius must be given together")
    if coordinates is not None and bbox is not None:
        raise HTTPException(422, detail="use either coordinates and radius, or bbox")
    out = []
    for location in dataset.locations.values():
        lat = location["coordinates"]["latitude"]
        lon = location["coordinates"]["longitude"]
        if iso is not None and location["country"]["code"] != iso.strip().upper():
            continue
        if bbox is not None:
            min_lon, min_lat, max_lon, max_lat = _numbers(bbox, 4, "bbox")
            if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
                continue
        if coordinates is not None and radius is not None:
            c_lat, c_lon = _numbers(coordinates, 2, "coordinates")
            distance = _haversine_m(c_lat, c_lon, lat, lon)
            if distance > radius:
                continue
            out.append({**location, "distance": round(distance, 1)})
            continue
        out.append(location)
    return out


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _corrupt(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Break records 1, 3, 5 and 7 of a page (those that exist) in four different ways."""
    if len(records) > 1:
        records[1]["period"]["datetimeFrom"]["utc"] = "not-a-timestamp"
    if len(records) > 3:
        records[3]["value"] = "abc"
    if len(records) > 5:
        records[5]["parameter"]["units"] = "furlongs"
    if len(records) > 7:
        records[7]["period"] = copy.deepcopy(records[6]["period"])
    return records


# --------------------------------------------------------------------------------------------
# Runners
# --------------------------------------------------------------------------------------------


class FakeServer:
    """Run an app (the fake by default) with uvicorn in a daemon thread on a loopback port.

    Example:
        >>> with FakeServer() as server:  # doctest: +SKIP
        ...     httpx.get(f"{server.url}/v3/parameters")
    """

    def __init__(
        self,
        app: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        """Prepare the server; nothing runs until :meth:`start` or ``with``.

        Args:
            app: ASGI app; a fresh :func:`create_app` when None.
            host: Interface to bind.
            port: Port; 0 picks a free one.
            log_level: uvicorn log level.
        """
        self.app = app if app is not None else create_app()
        self.host = host
        self.port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Self:
        """Bind the port and serve in a background thread; return once it accepts requests.

        Args:
            timeout_s: How long to wait for uvicorn to start.

        Returns:
            The server itself.

        Raises:
            RuntimeError: uvicorn did not start in time.
        """
        # Bind here (not in uvicorn) so port 0 resolves without a race.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level=self._log_level, lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="fake-openaq"
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("fake OpenAQ server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: serve the fake OpenAQ v3 API with uvicorn.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m hourcast_dev.openaq_fake",
        description="Serve a local fake of the OpenAQ v3 API (api.openaq.org) from the data "
        "of the hourcast-dev package: sensors 1502 and 3917 (recorded pages) and sensor 900001 "
        "(Beijing PM2.5, location 900000). Faults are set at run time with POST /_admin/faults, "
        'e.g. {"status": 429, "retry_after": 2, "times": 1}; POST /_admin/reset clears '
        "them; GET /_admin/stats counts requests. Point the client at it with "
        "OpenAQClient(base_url='http://HOST:PORT').",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8089, help="port (default: %(default)s)")
    parser.add_argument(
        "--data-dir", type=Path, default=DATA_DIR, help="data directory (default: %(default)s)"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=10_000,
        help="requests per window before 429s (default: %(default)s; the real API: 60)",
    )
    parser.add_argument(
        "--rate-window", type=float, default=60.0, help="window, seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help="fault rule active from the start, as JSON; repeatable",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        faults = [FaultSpec.model_validate_json(text) for text in args.fault]
    except ValueError as exc:
        parser.error(f"--fault: {exc}")
    app = create_app(
        data_dir=args.data_dir,
        faults=faults,
        rate_limit=args.rate_limit,
        rate_window_s=args.rate_window,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
