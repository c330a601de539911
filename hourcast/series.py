"""The series Hourcast knows how to forecast, and what each one needs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KNOWN_SERIES",
    "TRAFFIC_I94",
    "SeriesSpec",
    "UnknownSeriesError",
    "get_series",
    "openaq_sensor_spec",
]


class UnknownSeriesError(KeyError):
    """A series id that no model serves."""

    def __init__(self, series_id: str) -> None:
        super().__init__(series_id)
        self.series_id = series_id

    def __str__(self) -> str:
        known = ", ".join(sorted(KNOWN_SERIES))
        return f"unknown series_id {self.series_id!r}; known series: {known}"


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
        model_name: Registered MLflow model that forecasts it.
        holiday_calendar: Key of the holiday calendar for calendar features, or None.
    """

    series_id: str
    source: str
    location: str
    parameter: str
    units: str
    timezone: str
    model_name: str
    holiday_calendar: str | None = None


TRAFFIC_I94 = SeriesSpec(
    series_id="traffic:i94-westbound",
    source="traffic",
    location="I-94 westbound, MN DoT ATR station 301 (Minneapolis-St Paul)",
    parameter="traffic_volume",
    units="vehicles/h",
    timezone="America/Chicago",
    model_name="hourcast-traffic-volume",
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
        SeriesSpec: A spec with no holiday calendar; its model would be
        ``hourcast-openaq-<parameter>-<sensor_id>``.
    """
    return SeriesSpec(
        series_id=f"openaq:{int(sensor_id)}",
        source="openaq",
        location=location,
        parameter=parameter,
        units=units,
        timezone=timezone,
        model_name=f"hourcast-openaq-{parameter}-{int(sensor_id)}",
    )
