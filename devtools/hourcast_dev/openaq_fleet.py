"""A synthetic fleet of PM2.5 sensors for the fake OpenAQ server, and its latest values.

Thousands of sensors, one per location, spread over several time zones and countries, whose
hourly values are the real Beijing PM2.5 series with a shifted phase and scale per sensor.
The fake serves them like its other sensors (``/hours``, ``/latest``, location search), so the
steady-state ingestion can be measured at 5,000 sensors against real HTTP.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["FIRST_FLEET_LOCATION_ID", "FIRST_FLEET_SENSOR_ID", "FleetSpec", "latest_item"]

FIRST_FLEET_LOCATION_ID = 2_000_000
FIRST_FLEET_SENSOR_ID = 3_000_000

# (IANA zone, ISO country, country name, latitude, longitude): where the fleet's stations are.
_SITES: tuple[tuple[str, str, str, float, float], ...] = (
    ("America/Los_Angeles", "US", "United States", 34.05, -118.24),
    ("America/Chicago", "US", "United States", 41.88, -87.63),
    ("Europe/Berlin", "DE", "Germany", 52.52, 13.40),
    ("Asia/Kolkata", "IN", "India", 28.61, 77.21),
    ("Asia/Shanghai", "CN", "China", 39.90, 116.40),
    ("Australia/Sydney", "AU", "Australia", -33.87, 151.21),
)


@dataclass(frozen=True)
class FleetSpec:
    """How many synthetic sensors, and which hours they hold.

    Attributes:
        count: Sensors (one per location).
        start: First hour (UTC) of every sensor.
        hours: Hours per sensor, consecutive from ``start``.
    """

    count: int
    start: datetime
    hours: int

    def hour_epochs(self) -> list[int]:
        """Hour starts of every fleet sensor, as UTC epoch seconds."""
        first = int(self.start.astimezone(UTC).timestamp())
        return [first + 3600 * i for i in range(self.hours)]

    def values(self, index: int, base: list[float]) -> list[float]:
        """Values of sensor ``index``: ``base`` with its own phase and scale."""
        # Scales up to 1: the Beijing peaks (994 µg/m³) stay inside the plausible range.
        shift, scale = (index * 37) % len(base), 0.5 + (index % 6) / 10
        return [round(base[(shift + i) % len(base)] * scale, 1) for i in range(self.hours)]

    def site(self, index: int) -> tuple[str, str, str, float, float]:
        """Zone, country code, country name, latitude and longitude of sensor ``index``."""
        zone, code, name, lat, lon = _SITES[index % len(_SITES)]
        # Spread the stations a little (about 1 km apart) around the city.
        return zone, code, name, lat + (index // len(_SITES)) * 0.01 % 1, lon


def local_offset(zone: str, when: datetime) -> timedelta:
    """UTC offset of ``zone`` at ``when`` (the fleet's local stamps follow DST)."""
    offset = when.astimezone(ZoneInfo(zone)).utcoffset()
    return offset if offset is not None else timedelta(0)


def latest_item(
    record: dict[str, Any], *, sensor_id: int, location: dict[str, Any]
) -> dict[str, Any]:
    """One result of ``/v3/parameters/{id}/latest`` from a sensor's newest hourly record.

    Args:
        record: The sensor's newest hourly record (camelCase, as ``/hours`` serves it).
        sensor_id: The sensor.
        location: The sensor's location object.

    Returns:
        ``datetime`` (the hour's end, ``utc`` and ``local``), ``value``, ``coordinates``,
        ``sensorsId`` and ``locationsId``, as the real API sends them.
    """
    return {
        "datetime": record["period"]["datetimeTo"],
        "value": record["value"],
        "coordinates": location["coordinates"],
        "sensorsId": sensor_id,
        "locationsId": location["id"],
    }


def visible(hours: list[int], now_epoch: float | None) -> int:
    """How many of ``hours`` (sorted hour starts) have ended by ``now_epoch`` (None: all)."""
    if now_epoch is None:
        return len(hours)
    return bisect.bisect_right(hours, now_epoch - 3600)
