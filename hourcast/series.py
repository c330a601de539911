"""The series Hourcast knows how to forecast, and what each one needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "KNOWN_SERIES",
    "TRAFFIC_I94",
    "SeriesSpec",
    "UnknownSeriesError",
    "get_series",
    "openaq_sensor_spec",
]

_MAX_NAMED = 20  # a global model may know many sensors; an error message names this many


class UnknownSeriesError(KeyError):
    """A series id that no model serves.

    Args:
        series_id: The id asked for.
        known: The ids that are served; defaults to ``KNOWN_SERIES``.
    """

    def __init__(self, series_id: str, known: Iterable[str] | None = None) -> None:
        super().__init__(series_id)
        self.series_id = series_id
        self.known = sorted(KNOWN_SERIES if known is None else known)

    def __str__(self) -> str:
        shown = ", ".join(self.known[:_MAX_NAMED]) or "none"
        more = len(self.known) - _MAX_NAMED
        if more > 0:
            shown += f" and {more} more (GET /v1/models lists them)"
        return f"unknown series_id {self.series_id!r}; known series: {shown}"


@dataclass(frozen=True)
class SeriesSpec:
    """Static facts about one hourly series.

    Attributes:
        series_id: ``source:name``, e.g. ``traffic:i94-westbound``.
        source: Where records come from (``traffic`` or ``openaq``).
        location: Human-readable location.
        parameter: Measured quantity.
        units: Units of the values.
        timezone: IANA zone used for calendar features (local hour, weekday, holidays).
        holiday_calendar: Key of the holiday calendar for calendar features, or None.
    """

    series_id: str
    source: str
    location: str
    parameter: str
    units: str
    timezone: str
    holiday_calendar: str | None = None


TRAFFIC_I94 = SeriesSpec(
    series_id="traffic:i94-westbound",
    source="traffic",
    location="I-94 westbound, MN DoT ATR station 301 (Minneapolis-St Paul)",
    parameter="traffic_volume",
    units="vehicles/h",
    timezone="America/Chicago",
    holiday_calendar="US-MN",
)

KNOWN_SERIES: dict[str, SeriesSpec] = {TRAFFIC_I94.series_id: TRAFFIC_I94}


def get_series(series_id: str) -> SeriesSpec:
    """The spec of ``series_id``.

    Raises:
        UnknownSeriesError: No such series.
    """
    try:
        return KNOWN_SERIES[series_id]
    except KeyError:
        raise UnknownSeriesError(series_id) from None


def openaq_sensor_spec(
    *, sensor_id: int, location: str, parameter: str, units: str, timezone: str
) -> SeriesSpec:
    """The spec of the hourly series of one OpenAQ sensor (``openaq:<sensor_id>``).

    Args:
        sensor_id: OpenAQ sensor id.
        location: Location name, e.g. ``Beijing US Embassy (OpenAQ location 900000)``.
        parameter: Parameter name, e.g. ``pm25``.
        units: Canonical units, e.g. ``µg/m³``.
        timezone: IANA zone of the location.

    Returns:
        SeriesSpec: A spec with no holiday calendar.
    """
    return SeriesSpec(
        series_id=f"openaq:{int(sensor_id)}",
        source="openaq",
        location=location,
        parameter=parameter,
        units=units,
        timezone=timezone,
    )
