"""Incremental, idempotent ingestion of OpenAQ v3 hourly records into the observation store.

A run resolves a selection of locations (ids, coordinates + radius, bbox or country) to the
sensors measuring the wanted parameters, registers one series per sensor
(``openaq:<sensor_id>``) and pulls ``/v3/sensors/{id}/hours``:

* the first run of a sensor pulls ``[backfill_start, until)`` in pages of 1000;
* later runs pull ``[watermark - overlap, until)``: late or corrected hours inside the
  overlap are upserted, never duplicated;
* an earlier ``backfill_start`` than the one loaded extends the history once.

Each page is upserted and the watermark advanced in one transaction, so a process killed
between pages keeps every page it stored and the next run resumes from there. Pages come
oldest first (as the API sends them), which is what makes "newest stored hour" a safe
resume point.

Records the parser rejects (bad timestamps, non-numeric values, unknown units, an hour
repeated in a page) and records that contradict the series (other units or parameter, a
physically implausible value, an hour in the future) are counted per reason in the run log
and never stored. A sensor whose requests keep failing after the client's retries is logged
with its error; the other sensors still load and the run ends ``partial``.

The location listing is remembered in ``source_objects`` for ``discovery_max_age`` so that a
steady-state hourly run costs one request per sensor.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from hourcast.ingestion.outcome import (
    NullProgress,
    Progress,
    RunOutcome,
    SeriesOutcome,
    end_run,
    log_progress,
    logged_run,
)
from hourcast.quality import plausible_range
from hourcast.series import SeriesSpec, openaq_sensor_spec
from hourcast.settings import Settings
from hourcast.sources.openaq import (
    HourlyRecord,
    OpenAQClient,
    OpenAQError,
    ParsedPage,
    normalize_units,
)
from hourcast.storage.ingestion_state import (
    as_utc,
    get_source_object,
    get_watermark,
    remember_source_object,
    set_watermark,
    utc_now,
)
from hourcast.storage.observations import register_series, upsert_observations

__all__ = [
    "DEFAULT_OVERLAP",
    "OPENAQ_SOURCE",
    "OpenAQSelection",
    "SensorTarget",
    "discover_sensors",
    "ingest_openaq_sensors",
    "openaq_client",
]

logger = logging.getLogger(__name__)

OPENAQ_SOURCE = "openaq"
DEFAULT_OVERLAP = timedelta(hours=3)
DEFAULT_DISCOVERY_MAX_AGE = timedelta(hours=24)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class OpenAQSelection:
    """Which sensors to ingest: locations chosen one of four ways, then filtered.

    Attributes:
        locations: Location ids; excludes the other location filters.
        coordinates: ``(latitude, longitude)``; needs ``radius_m``.
        radius_m: Radius around ``coordinates`` in metres (API max 25,000).
        bbox: ``(min_lon, min_lat, max_lon, max_lat)``.
        iso: ISO 3166-1 alpha-2 country code.
        parameters: Parameter names to keep (e.g. ``pm25``); empty keeps all.
        sensors: Sensor ids to keep; empty keeps all sensors of the locations.

    Raises:
        ValueError: No location filter, or incompatible ones (the message names the field).
    """

    locations: tuple[int, ...] = ()
    coordinates: tuple[float, float] | None = None
    radius_m: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    iso: str | None = None
    parameters: tuple[str, ...] = ()
    sensors: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        others = self.coordinates or self.radius_m or self.bbox or self.iso
        if not self.locations and not others:
            raise ValueError("locations: give location ids, coordinates + radius, bbox or iso")
        if self.locations and others:
            raise ValueError("locations: ids cannot be combined with coordinates, bbox or iso")
        if (self.coordinates is None) != (self.radius_m is None):
            raise ValueError("coordinates: coordinates and radius go together")
        if self.coordinates is not None and self.bbox is not None:
            raise ValueError("bbox: use either coordinates + radius or bbox, not both")
        if any(int(i) <= 0 for i in (*self.locations, *self.sensors)):
            raise ValueError("locations: ids must be positive integers")

    def listing_key(self) -> str:
        """The key under which the location listing is remembered (no sensor filters)."""
        query = {
            "ids": sorted(int(i) for i in self.locations) or None,
            "coordinates": list(self.coordinates) if self.coordinates else None,
            "radius": self.radius_m,
            "bbox": list(self.bbox) if self.bbox else None,
            "iso": self.iso.upper() if self.iso else None,
        }
        return "v3/locations?" + json.dumps({k: v for k, v in query.items() if v is not None})

    def keeps(self, target: SensorTarget) -> bool:
        """Whether a sensor passes the parameter and sensor filters."""
        wanted = {p.lower() for p in self.parameters}
        if wanted and target.parameter.lower() not in wanted:
            return False
        return not self.sensors or target.sensor_id in {int(s) for s in self.sensors}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready inputs for the run log."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class SensorTarget:
    """One sensor to ingest, with what its series needs.

    Attributes:
        sensor_id: OpenAQ sensor id.
        location_id: OpenAQ location id.
        location_name: Location name.
        parameter: Parameter name.
        units: Canonical units.
        timezone: IANA zone of the location.
        latitude: Location latitude.
        longitude: Location longitude.
    """

    sensor_id: int
    location_id: int
    location_name: str
    parameter: str
    units: str
    timezone: str
    latitude: float | None = None
    longitude: float | None = None

    @property
    def series_id(self) -> str:
        """``openaq:<sensor_id>``."""
        return f"openaq:{self.sensor_id}"

    def spec(self) -> SeriesSpec:
        """The series spec to register."""
        return openaq_sensor_spec(
            sensor_id=self.sensor_id,
            location=f"{self.location_name} (OpenAQ location {self.location_id})",
            parameter=self.parameter,
            units=self.units,
            timezone=self.timezone,
        )


@dataclass
class _Discovery:
    targets: list[SensorTarget] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cached: bool = False


def openaq_client(settings: Settings, **options: Any) -> OpenAQClient:
    """A client for ``HOURCAST_OPENAQ_BASE_URL`` with ``HOURCAST_OPENAQ_API_KEY``.

    Args:
        settings (Settings): Process settings.
        **options: Passed to :class:`OpenAQClient` (retries, backoff, timeout).
    """
    key = settings.openaq_api_key.get_secret_value() if settings.openaq_api_key else None
    return OpenAQClient(settings.openaq_base_url, key, **options)


def _targets_of(locations: Iterable[dict[str, Any]]) -> _Discovery:
    found = _Discovery()
    for location in locations:
        coordinates = location.get("coordinates") or {}
        for sensor in location.get("sensors") or []:
            parameter = sensor.get("parameter") or {}
            units = normalize_units(parameter.get("units"))
            if units is None or not parameter.get("name"):
                found.skipped.append(
                    f"sensor {sensor.get('id')}: unknown parameter or units {parameter!r}"
                )
                continue
            found.targets.append(
                SensorTarget(
                    sensor_id=int(sensor["id"]),
                    location_id=int(location["id"]),
                    location_name=str(location.get("name") or location["id"]),
                    parameter=str(parameter["name"]),
                    units=units,
                    timezone=str(location.get("timezone") or "UTC"),
                    latitude=coordinates.get("latitude"),
                    longitude=coordinates.get("longitude"),
                )
            )
    return found


def discover_sensors(
    engine: Engine,
    *,
    client: OpenAQClient,
    selection: OpenAQSelection,
    max_age: timedelta = DEFAULT_DISCOVERY_MAX_AGE,
) -> tuple[list[SensorTarget], list[str], bool]:
    """The sensors of the selected locations that pass the filters.

    The listing (one request per location id, or the paged search) is remembered in
    ``source_objects`` and reused while younger than ``max_age``.

    Args:
        engine (Engine): The observation store.
        client (OpenAQClient): The API client.
        selection (OpenAQSelection): Locations and filters.
        max_age (timedelta): Reuse a remembered listing up to this age. Defaults to 24 h.

    Returns:
        tuple: Sensors to ingest, notes on sensors skipped, and whether the listing came
        from memory.

    Raises:
        OpenAQError: The listing could not be fetched.
    """
    key = selection.listing_key()
    remembered = get_source_object(engine, source=OPENAQ_SOURCE, key=key)
    if remembered is not None and utc_now() - remembered.ingested_at < max_age:
        found = _Discovery([SensorTarget(**t) for t in remembered.detail or []], cached=True)
    else:
        locations = client.locations(
            list(selection.locations) or None,
            coordinates=selection.coordinates,
            radius_m=selection.radius_m,
            bbox=selection.bbox,
            iso=selection.iso,
        )
        found = _targets_of(locations)
        listing = [asdict(t) for t in found.targets]
        text = json.dumps(listing, sort_keys=True, ensure_ascii=False)
        with engine.begin() as connection:
            remember_source_object(
                connection,
                source=OPENAQ_SOURCE,
                key=key,
                etag=hashlib.sha256(text.encode()).hexdigest(),
                size=len(text),
                rows=len(listing),
                detail=listing,
            )
    kept = [t for t in found.targets if selection.keeps(t)]
    return kept, found.skipped, found.cached


def _accept(
    record: HourlyRecord, target: SensorTarget, now: datetime, outcome: SeriesOutcome
) -> bool:
    """Reject what the parser let through but the series cannot hold."""
    if record.units != target.units:
        outcome.reject("units mismatch", f"{record.units!r} for a {target.units} series")
        return False
    if record.parameter is not None and record.parameter.lower() != target.parameter.lower():
        outcome.reject("parameter mismatch", f"{record.parameter!r} in a {target.parameter} series")
        return False
    if record.ts > now:
        outcome.reject("future timestamp", f"hour {record.ts.isoformat()} is after now")
        return False
    bounds = plausible_range(target.parameter, target.units)
    if bounds is not None and record.value is not None:
        low, high = bounds
        if not low <= record.value <= high:
            detail = f"{record.value:g} {target.units} at {record.ts.isoformat()}"
            outcome.reject("implausible value", detail)
            return False
    return True


def _store_page(
    engine: Engine,
    *,
    page: ParsedPage,
    target: SensorTarget,
    outcome: SeriesOutcome,
    history_start: datetime | None,
    now: datetime,
) -> datetime | None:
    """Upsert one page and move the watermark in one transaction; return its newest hour."""
    for rejected in page.rejected:
        outcome.reject(rejected.reason.value, rejected.detail)
    records = [r for r in page.records if _accept(r, target, now, outcome)]
    outcome.pages += 1
    if not records:
        return None
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime([r.ts for r in records], utc=True),
            "value": [float("nan") if r.value is None else r.value for r in records],
        }
    )
    newest = max(r.ts for r in records)
    with engine.begin() as connection:
        result = upsert_observations(connection, series_id=target.series_id, frame=frame)
        set_watermark(
            connection, series_id=target.series_id, last_ts=newest, history_start=history_start
        )
    outcome.add_upsert(result)
    outcome.saw(min(r.ts for r in records), newest)
    return newest


_BACKFILL, _EXTEND, _INCREMENT = "backfill", "extend", "increment"


def _windows(
    engine: Engine,
    target: SensorTarget,
    *,
    backfill_start: datetime,
    until: datetime,
    overlap: timedelta,
) -> list[tuple[datetime, datetime, str]]:
    """``(start, end, kind)`` windows to pull for a sensor, oldest first."""
    mark = get_watermark(engine, series_id=target.series_id)
    if mark is None:
        return [(backfill_start, until, _BACKFILL)] if backfill_start < until else []
    windows: list[tuple[datetime, datetime, str]] = []
    if mark.history_start is not None and backfill_start < min(mark.history_start, until):
        windows.append((backfill_start, min(mark.history_start, until), _EXTEND))
    if mark.last_ts - overlap < until:
        windows.append((mark.last_ts - overlap, until, _INCREMENT))
    return windows


def _ingest_sensor(
    engine: Engine,
    *,
    client: OpenAQClient,
    target: SensorTarget,
    outcome: SeriesOutcome,
    backfill_start: datetime,
    until: datetime,
    overlap: timedelta,
    page_limit: int,
    progress: Progress,
) -> None:
    with engine.begin() as connection:
        register_series(
            connection,
            spec=target.spec(),
            sensor=str(target.sensor_id),
            latitude=target.latitude,
            longitude=target.longitude,
        )
    windows = _windows(engine, target, backfill_start=backfill_start, until=until, overlap=overlap)
    hours = max(sum((end - start) / _HOUR for start, end, _ in windows), 1.0)
    progress.begin(target.series_id, description=target.series_id, total=hours)
    done = 0.0
    for start, end, kind in windows:
        outcome.windows.append((start, end))
        now = utc_now()
        for page in client.iter_hourly(target.sensor_id, start, end, limit=page_limit):
            newest = _store_page(
                engine,
                page=page,
                target=target,
                outcome=outcome,
                # A first backfill records its start with its first page; an extension only
                # once it is complete (below), so a killed extension is redone.
                history_start=start if kind == _BACKFILL else None,
                now=now,
            )
            if newest is not None:
                progress.advance(target.series_id, completed=done + (newest - start) / _HOUR)
        done += (end - start) / _HOUR
        mark = get_watermark(engine, series_id=target.series_id) if kind == _EXTEND else None
        if mark is not None:
            with engine.begin() as connection:
                set_watermark(
                    connection,
                    series_id=target.series_id,
                    last_ts=mark.last_ts,
                    history_start=start,
                )
    progress.advance(target.series_id, completed=hours)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")
    return as_utc(value)  # type: ignore[return-value]


def ingest_openaq_sensors(
    engine: Engine,
    *,
    client: OpenAQClient,
    selection: OpenAQSelection,
    backfill_start: datetime,
    until: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    page_limit: int = 1000,
    discovery_max_age: timedelta = DEFAULT_DISCOVERY_MAX_AGE,
    progress: Progress | None = None,
) -> RunOutcome:
    """Ingest the hourly records of the selected sensors, logging the run.

    Args:
        engine (Engine): The observation store (migrated).
        client (OpenAQClient): The API client; its retry settings bound how long a failing
            sensor is retried.
        selection (OpenAQSelection): Locations, parameters and sensors.
        backfill_start (datetime): Where a sensor's history starts on its first run (aware).
        until (datetime | None): End of the pulled windows, exclusive. Defaults to now.
        overlap (timedelta): How far before the watermark later runs start. Defaults to 3 h.
        page_limit (int): Records per request, at most 1000. Defaults to 1000.
        discovery_max_age (timedelta): Reuse of the remembered location listing. Defaults
            to 24 h.
        progress (Progress | None): Receives per-sensor progress. Defaults to none.

    Returns:
        RunOutcome: Status (``succeeded``, ``partial`` or ``failed``) and per-series counts,
        as written to ``ingestion_runs``.

    Raises:
        ValueError: ``backfill_start`` or ``until`` is naive, or ``overlap`` is negative.
    """
    start = _aware(backfill_start, "backfill_start")
    end = utc_now() if until is None else _aware(until, "until")
    if overlap < timedelta(0):
        raise ValueError("overlap must not be negative")
    progress = progress or NullProgress()
    inputs = {
        **selection.to_dict(),
        "backfill_start": start.isoformat(),
        "until": end.isoformat(),
        "overlap_hours": overlap / _HOUR,
        "base_url": client.base_url,
    }
    with logged_run(engine, source=OPENAQ_SOURCE, inputs=inputs) as outcome:
        requests_before = client.request_count
        try:
            targets, skipped, cached = discover_sensors(
                engine, client=client, selection=selection, max_age=discovery_max_age
            )
        except OpenAQError as exc:
            outcome.error = f"listing locations failed: {exc}"
            return end_run(engine, outcome=outcome)
        outcome.notes.extend(skipped)
        outcome.notes.append(
            f"location listing {'from memory' if cached else 'fetched'} "
            f"({client.request_count - requests_before} request(s))"
        )
        if not targets:
            outcome.error = "no sensor of the selected locations matches the filters"
            return end_run(engine, outcome=outcome)
        progress.begin("sensors", description="sensors", total=len(targets))
        for done, target in enumerate(targets, start=1):
            series = SeriesOutcome(target.series_id, target.parameter, target.units)
            outcome.series.append(series)
            before = client.request_count
            try:
                _ingest_sensor(
                    engine,
                    client=client,
                    target=target,
                    outcome=series,
                    backfill_start=start,
                    until=end,
                    overlap=overlap,
                    page_limit=page_limit,
                    progress=progress,
                )
            except OpenAQError as exc:
                series.error = str(exc)
                logger.warning("OpenAQ %s failed, continuing: %s", target.series_id, exc)
            finally:
                series.requests = client.request_count - before
            logger.info(
                "OpenAQ %s: %d inserted, %d updated, %d rejected in %d request(s)",
                target.series_id,
                series.inserted,
                series.updated,
                series.rejected,
                series.requests,
            )
            progress.end(target.series_id, note=series.error or "")
            progress.advance("sensors", completed=done)
            log_progress(engine, outcome=outcome)
        progress.end("sensors")
        return end_run(engine, outcome=outcome)
