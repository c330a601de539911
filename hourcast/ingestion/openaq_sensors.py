"""Which OpenAQ sensors to ingest: a selection of locations, resolved to their sensors.

A selection names locations (ids, coordinates + radius, bbox or country) and filters their
sensors by parameter and id. The location listing is remembered in ``source_objects`` for
``discovery_max_age`` so that a steady-state hourly run costs one request per sensor.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from hourcast.series import SeriesSpec, openaq_sensor_spec
from hourcast.settings import Settings
from hourcast.sources.openaq import OpenAQClient, OpenAQNotFoundError, normalize_units
from hourcast.sources.openaq.records import optional_int
from hourcast.storage.ingestion_state import (
    get_source_object,
    remember_source_object,
    utc_now,
)

__all__ = [
    "DEFAULT_DISCOVERY_MAX_AGE",
    "OPENAQ_SOURCE",
    "OpenAQSelection",
    "SensorTarget",
    "discover_sensors",
    "openaq_client",
    "selection_from_settings",
]

logger = logging.getLogger(__name__)

OPENAQ_SOURCE = "openaq"
DEFAULT_DISCOVERY_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class OpenAQSelection:
    """Which sensors to ingest: locations chosen one of five ways, then filtered.

    By location ids, coordinates + radius, bounding box, country, or, with none of those,
    every location measuring ``parameters`` (the world's PM2.5 stations, say).

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
        if not self.locations and not others and not self.parameters:
            raise ValueError(
                "locations: give location ids, coordinates + radius, bbox, iso or parameters"
            )
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
            "parameters": list(self.search_parameters()) or None,
        }
        return "v3/locations?" + json.dumps({k: v for k, v in query.items() if v is not None})

    def search_parameters(self) -> tuple[str, ...]:
        """Parameters that choose the locations: only when no other location filter is given.

        Then the selection is the whole world's stations of these parameters; otherwise the
        parameters only filter the sensors of the chosen locations.
        """
        if self.locations or self.coordinates or self.bbox or self.iso:
            return ()
        return tuple(sorted({p.lower() for p in self.parameters}))

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
        parameter_id: OpenAQ parameter id (2 is PM2.5), for ``/v3/parameters/{id}/latest``.
    """

    sensor_id: int
    location_id: int
    location_name: str
    parameter: str
    units: str
    timezone: str
    latitude: float | None = None
    longitude: float | None = None
    parameter_id: int | None = None

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


def selection_from_settings(settings: Settings) -> OpenAQSelection:
    """The sensors of ``HOURCAST_OPENAQ_LOCATIONS`` / ``_ISO`` / ``_BBOX`` / ``_PARAMETERS``.

    Raises:
        ValueError: The settings make no valid selection (the message names the setting).
    """
    try:
        return OpenAQSelection(
            locations=settings.openaq_locations,
            bbox=settings.openaq_bbox,
            iso=settings.openaq_iso,
            parameters=tuple(p.lower() for p in settings.openaq_parameters),
        )
    except ValueError as exc:
        field_name, _, message = str(exc).partition(": ")
        raise ValueError(f"HOURCAST_OPENAQ_{field_name.upper()}: {message}") from exc


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
                    parameter_id=optional_int(parameter.get("id")),
                )
            )
    return found


def _list_locations(
    client: OpenAQClient, selection: OpenAQSelection
) -> tuple[list[dict[str, Any]], list[str]]:
    """The selected locations, and a note per listed id the API does not know (404)."""
    if not selection.locations:
        wanted = selection.search_parameters()
        parameter_ids = None
        if wanted:
            known = {p["name"].lower(): int(p["id"]) for p in client.parameters()}
            unknown = sorted(set(wanted) - set(known))
            if unknown:
                raise ValueError(f"parameters: OpenAQ does not know {', '.join(unknown)}")
            parameter_ids = tuple(known[name] for name in wanted)
        found = client.locations(
            coordinates=selection.coordinates,
            radius_m=selection.radius_m,
            bbox=selection.bbox,
            iso=selection.iso,
            parameters_id=parameter_ids,
        )
        return found, []
    locations: list[dict[str, Any]] = []
    missing: list[str] = []
    for location_id in selection.locations:
        try:
            locations += client.locations([location_id])
        except OpenAQNotFoundError as exc:
            # A retired or mistyped id must not stop the others.
            logger.warning("OpenAQ location %s skipped: %s", location_id, exc.message)
            missing.append(f"location {location_id}: skipped, {exc.message} (404)")
    return locations, missing


def discover_sensors(
    engine: Engine,
    *,
    client: OpenAQClient,
    selection: OpenAQSelection,
    max_age: timedelta = DEFAULT_DISCOVERY_MAX_AGE,
) -> tuple[list[SensorTarget], list[str], bool]:
    """The sensors of the selected locations that pass the filters.

    The listing (one request per location id, or the paged search) is remembered in
    ``source_objects`` and reused while younger than ``max_age``. A listed location id the
    API answers 404 for (unknown or retired) is logged and skipped; the others still load.

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
        locations, missing = _list_locations(client, selection)
        found = _targets_of(locations)
        found.skipped[:0] = missing
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
