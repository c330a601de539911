"""Generated OpenAQ archive day files for the archive tests, and a moto server that holds them.

Run as ``python -m tests.openaq_archive_data PORT`` it serves them from its own process (the
bucket filled in memory, not through 18,250 PUTs), so that neither the server nor the
filling competes with the test process.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import sys
import threading
from datetime import UTC, date, datetime, timedelta, timezone

import boto3
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

from hourcast.sources.openaq.archive import archive_key
from hourcast_dev import local_stack
from hourcast_dev.openaq_fleet import FIRST_FLEET_LOCATION_ID, FIRST_FLEET_SENSOR_ID

LOCATIONS = 50
# 7 days keep the suite fast; the acceptance size is 365 (50 locations x 1 year, 18,250 files).
DAYS = int(os.environ.get("HOURCAST_ARCHIVE_TEST_DAYS", "7"))
START = date(2023, 1, 1)
END = START + timedelta(days=DAYS - 1)
BUCKET = "openaq-data-archive"
O3_SENSOR = 4_000_000
# UTC times of a day's PM2.5 measurements: midnight closes the previous day's 23:00 hour,
# 05:30 and 06:00 make one hour's mean of two, 12:00 is hour 11:00.
_TIMES = (timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=6), timedelta(hours=12))


def measurements(index: int, day: date) -> list[tuple[int, datetime, float, str]]:
    """(sensor, UTC time, value, parameter) of one location-day."""
    sensor, ordinal = FIRST_FLEET_SENSOR_ID + index, day.toordinal()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = []
    for k, offset in enumerate(_TIMES):
        value = float((index * 7 + ordinal * 3 + k * 5) % 60) + 0.25
        if k == 3 and (ordinal + index) % 17 == 0:
            value = -1.1  # instrument noise near zero: kept
        if k == 3 and (ordinal + index) % 97 == 0:
            value = -999.0  # a sentinel: rejected
        rows.append((sensor, midnight + offset, value, "pm25"))
    rows.append((O3_SENSOR + index, midnight + timedelta(hours=12), 0.031, "o3"))
    return rows


def day_file(index: int, day: date) -> bytes:
    zone = timezone(timedelta(hours=(index % 6) * 4 - 8))  # local stamps, as the archive has
    location = FIRST_FLEET_LOCATION_ID + index
    lines = ["location_id,sensors_id,location,datetime,lat,lon,parameter,units,value"]
    for sensor, when, value, parameter in measurements(index, day):
        units = "µg/m³" if parameter == "pm25" else "ppm"
        stamp = when.astimezone(zone).isoformat()
        lines.append(
            f"{location},{sensor},Fleet station {index},{stamp},34.05,-118.24,"
            f"{parameter},{units},{value}"
        )
    return gzip.compress(("\n".join(lines) + "\n").encode())


def serve(port: int) -> None:
    """Serve the bucket on ``port`` until killed; print ``ready`` once it is full."""
    os.environ.update(local_stack.MOTO_AWS_ENV)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    admin = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
    admin.create_bucket(Bucket=BUCKET)
    # Public reads, like the Open Data bucket: the backfill's requests are unsigned.
    arns = [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    statement = {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"]}
    policy = {"Version": "2012-10-17", "Statement": [{**statement, "Resource": arns}]}
    admin.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    store = s3_backends["123456789012"]["global"]
    for index in range(LOCATIONS):
        for offset in range(-1, DAYS + 1):
            day = START + timedelta(days=offset)
            key = archive_key(FIRST_FLEET_LOCATION_ID + index, day)
            store.put_object(BUCKET, key, day_file(index, day))
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
