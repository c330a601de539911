"""The OpenAQ archive on S3: one gzipped CSV per location and day, read without credentials.

The Open Data on AWS bucket ``openaq-data-archive`` holds every measurement under
``records/csv.gz/locationid={id}/year={yyyy}/month={mm}/location-{id}-{yyyymmdd}.csv.gz``,
a narrow CSV of the location's sensors (``location_id, sensors_id, location, datetime, lat,
lon, parameter, units, value``), updated about every 72 hours and not subject to the API
key's limits. Requests are unsigned (``botocore.UNSIGNED``); the endpoint is configurable so
that a moto server stands in for S3 locally.

A measurement is stamped at the end of its averaging period, so it belongs to the hour that
ends at or after it: OpenAQ's hourly rollup (``/v3/sensors/{id}/hours``) averages the
measurements with ``hour_end - 1 h < datetime <= hour_end``. :func:`hour_of` gives that hour's
start, which is what the observation store keys an hour by.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import tenacity
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hourcast.sources.openaq.records import optional_float, optional_int

__all__ = [
    "ARCHIVE_BUCKET",
    "ARCHIVE_COLUMNS",
    "ArchiveObject",
    "Measurement",
    "archive_client",
    "archive_key",
    "hour_of",
    "list_days",
    "parse_day",
    "read_day",
]

ARCHIVE_BUCKET = "openaq-data-archive"
ARCHIVE_COLUMNS = (
    "location_id",
    "sensors_id",
    "location",
    "datetime",
    "lat",
    "lon",
    "parameter",
    "units",
    "value",
)
_PREFIX = "records/csv.gz"
_KEY_DAY = re.compile(r"location-\d+-(\d{8})\.csv\.gz$")
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class ArchiveObject:
    """One day file of one location.

    Attributes:
        key: Object key.
        day: The day in the key.
        etag: The object's ETag.
        size: Bytes.
    """

    key: str
    day: date
    etag: str
    size: int


@dataclass(frozen=True)
class Measurement:
    """One row of a day file.

    Attributes:
        sensor_id: ``sensors_id``.
        when: ``datetime``, UTC.
        value: ``value`` (None when empty or not a number).
        parameter: ``parameter``.
        units: ``units``, as written.
    """

    sensor_id: int
    when: datetime
    value: float | None
    parameter: str
    units: str


def archive_key(location_id: int, day: date) -> str:
    """The key of a location's day file."""
    return (
        f"{_PREFIX}/locationid={int(location_id)}/year={day:%Y}/month={day:%m}/"
        f"location-{int(location_id)}-{day:%Y%m%d}.csv.gz"
    )


def archive_client(
    *, endpoint_url: str | None = None, region: str = "us-east-1", pool: int = 32
) -> Any:
    """An S3 client that signs nothing (the archive is public), with a connection per worker.

    Args:
        endpoint_url: S3 endpoint (a moto server locally); AWS when None.
        region: Region of the client (the bucket is in us-east-1).
        pool: Connections kept open; at least the number of parallel readers.

    Returns:
        A boto3 S3 client; botocore retries throttling and 5xx answers (standard mode).
    """
    config = Config(
        signature_version=UNSIGNED,
        max_pool_connections=pool,
        retries={"max_attempts": 5, "mode": "standard"},
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def list_days(
    s3: Any, *, bucket: str, location_id: int, first: date, last: date
) -> list[ArchiveObject]:
    """The day files of a location from ``first`` to ``last`` (inclusive), oldest first.

    Keys sort by date within a location, so the listing starts right before ``first`` and
    stops after ``last``: a year of one location is one request.
    """
    prefix = f"{_PREFIX}/locationid={int(location_id)}/"
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, StartAfter=archive_key(location_id, first - timedelta(1))
    )
    found: list[ArchiveObject] = []
    for page in pages:
        for item in page.get("Contents", []):
            match = _KEY_DAY.search(item["Key"])
            if match is None:
                continue
            day = datetime.strptime(match.group(1), "%Y%m%d").date()
            if day > last:
                return found
            if day >= first:
                etag = str(item.get("ETag", "")).strip('"')
                found.append(ArchiveObject(item["Key"], day, etag, int(item.get("Size", 0))))
    return found


def _transient(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status) >= 500
    return isinstance(error, BotoCoreError | OSError)


@tenacity.retry(
    retry=tenacity.retry_if_exception(_transient),
    stop=tenacity.stop_after_attempt(4),
    wait=tenacity.wait_random_exponential(multiplier=0.5, max=10),
    reraise=True,
)
def read_day(s3: Any, *, bucket: str, key: str) -> tuple[list[Measurement], int]:
    """Download and parse one day file (retrying a broken transfer).

    Returns:
        The measurements, and how many rows could not be read.
    """
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return parse_day(body)


def parse_day(data: bytes) -> tuple[list[Measurement], int]:
    """Parse a gzipped (or plain) day file.

    Returns:
        The measurements, and how many rows could not be read (no sensor or time).
    """
    text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    rows = csv.DictReader(io.StringIO(text.decode("utf-8-sig")))
    found: list[Measurement] = []
    bad = 0
    for row in rows:
        measurement = _measurement(row)
        if measurement is None:
            bad += 1
        else:
            found.append(measurement)
    return found, bad


def _measurement(row: dict[str, str]) -> Measurement | None:
    sensor_id = optional_int(row.get("sensors_id"))
    try:
        when = datetime.fromisoformat((row.get("datetime") or "").strip())
    except ValueError:
        return None
    if sensor_id is None or when.tzinfo is None:
        return None
    return Measurement(
        sensor_id,
        when.astimezone(UTC),
        optional_float(row.get("value")),
        (row.get("parameter") or "").strip(),
        (row.get("units") or "").strip(),
    )


def hour_of(when: datetime) -> datetime:
    """Start of the hour a measurement stamped ``when`` (its period's end) belongs to."""
    floor = when.replace(minute=0, second=0, microsecond=0)
    return floor - _HOUR if floor == when else floor


def days(first: date, last: date) -> Iterator[date]:
    """Every day from ``first`` to ``last``, inclusive."""
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)
