"""The OpenAQ v3 client: locations, sensors, hourly records, measurements, latest values."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hourcast.sources.openaq.records import ParsedPage, merge_pages, parse_hourly_page
from hourcast.sources.openaq.transport import MAX_PAGE_LIMIT, OpenAQTransport, Page, page_of

__all__ = ["OpenAQClient", "TimeArg"]

TimeArg = datetime | str


class OpenAQClient(OpenAQTransport):
    """Synchronous OpenAQ v3 client: pagination, rate-limit waits, bounded retries.

    Use as a context manager, or call :meth:`close`. The arguments are those of
    :class:`~hourcast.sources.openaq.transport.OpenAQTransport`.

    Attributes:
        request_count: HTTP requests sent, retries included.
        rate_limit: Rate-limit headers of the last response, if any.
    """

    def iter_locations(
        self,
        ids: Iterable[int] | None = None,
        *,
        coordinates: tuple[float, float] | None = None,
        radius_m: int | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        iso: str | None = None,
        parameters_id: tuple[int, ...] | None = None,
    ) -> Iterator[Page]:
        """Pages of ``GET /v3/locations`` (or one ``/v3/locations/{id}`` page per id).

        Args:
            ids: Location ids to fetch one by one; excludes the other filters.
            coordinates: Centre ``(latitude, longitude)``; needs ``radius_m``.
            radius_m: Search radius in metres around ``coordinates`` (API max 25,000).
            bbox: ``(min_lon, min_lat, max_lon, max_lat)``; excludes ``coordinates``.
            iso: ISO 3166-1 alpha-2 country code.
            parameters_id: Only locations measuring one of these parameters.

        Yields:
            Raw pages, fetched lazily.

        Raises:
            ValueError: Incompatible filters.
        """
        if ids is not None:
            if coordinates or radius_m or bbox or iso or parameters_id:
                raise ValueError("ids cannot be combined with other filters")
            for location_id in ids:
                path = f"/v3/locations/{int(location_id)}"
                body = self.get_json(path)  # one location: no pagination
                yield page_of(path, 1, MAX_PAGE_LIMIT, body, self.rate_limit)
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
        if parameters_id:
            params["parameters_id"] = ",".join(str(int(p)) for p in parameters_id)
        yield from self.iter_pages("/v3/locations", params)

    def locations(
        self,
        ids: Iterable[int] | None = None,
        *,
        coordinates: tuple[float, float] | None = None,
        radius_m: int | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        iso: str | None = None,
        parameters_id: tuple[int, ...] | None = None,
    ) -> list[dict[str, Any]]:
        """All locations matching the filters (see :meth:`iter_locations`).

        Returns:
            Raw location objects, camelCase as the API sends them.
        """
        pages = self.iter_locations(
            ids,
            coordinates=coordinates,
            radius_m=radius_m,
            bbox=bbox,
            iso=iso,
            parameters_id=parameters_id,
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
        return merge_pages(self.iter_hourly(sensor_id, datetime_from, datetime_to, limit=limit))

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

    def iter_latest(self, parameter_id: int, *, limit: int | None = None) -> Iterator[Page]:
        """Pages of ``GET /v3/parameters/{id}/latest``: the newest value of every sensor.

        One page holds up to 1,000 sensors, so an hourly look at every sensor of a parameter
        costs one request per thousand sensors.

        Args:
            parameter_id: OpenAQ parameter id (2 is PM2.5).
            limit: Page size; defaults to the client's ``page_limit``.

        Yields:
            Raw pages; each result has ``datetime`` (``utc``, ``local``), ``value``,
            ``coordinates``, ``sensorsId`` and ``locationsId``.
        """
        yield from self.iter_pages(f"/v3/parameters/{int(parameter_id)}/latest", limit=limit)

    def parameters(self) -> list[dict[str, Any]]:
        """All parameters the API knows (``GET /v3/parameters``).

        Returns:
            Raw parameter objects (``id``, ``name``, ``units``, ``displayName``, ...).
        """
        return [item for page in self.iter_pages("/v3/parameters") for item in page.results]

    # -- transport ---------------------------------------------------------------------------


def _fmt_time(value: TimeArg) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_numbers(values: Iterable[float]) -> str:
    # The API takes up to 4 decimals (about 11 m).
    return ",".join(f"{float(v):.4f}".rstrip("0").rstrip(".") for v in values)
