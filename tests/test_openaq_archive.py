"""Backfill from the OpenAQ archive layout in a moto S3 bucket into real PostgreSQL.

The bucket holds generated day files in the archive's key layout and CSV format (gzipped,
``location_id, sensors_id, location, datetime, lat, lon, parameter, units, value``, local
times with their offset): a PM2.5 sensor per location with sub-hourly and on-the-hour
measurements (one at midnight closes the previous day's last hour), near-zero negative means,
the odd -999 sentinel, and an O3 sensor the selection leaves out. The expected hours are
computed here, independently, from the generated measurements.

``HOURCAST_ARCHIVE_TEST_DAYS`` sets how many days: 7 by default (350 files, to keep the
suite fast), 365 for the acceptance size (50 locations x 1 year, 18,250 files; about 10 min on
the busy 2-core machine, the S3 reads through moto being the bottleneck).
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from hourcast.ingestion.openaq_archive import backfill_openaq_archive, location_mark
from hourcast.ingestion.openaq_sensors import OpenAQSelection, discover_sensors
from hourcast.sources.openaq import OpenAQClient
from hourcast.sources.openaq.archive import archive_client, hour_of, parse_day
from hourcast.storage.db import create_db_engine, upgrade
from hourcast_dev import local_stack
from hourcast_dev.openaq_fake import FakeServer, FleetSpec, create_app
from hourcast_dev.openaq_fleet import FIRST_FLEET_LOCATION_ID, FIRST_FLEET_SENSOR_ID
from tests.conftest import ROOT, PostgresDatabases
from tests.openaq_archive_data import (
    BUCKET,
    DAYS,
    END,
    LOCATIONS,
    START,
    day_file,
    measurements,
)


def _expected() -> dict[tuple[str, datetime], float]:
    """The hours the archive holds from START to END: what /hours would give."""
    rows = [
        (sensor, when, value, day >= START and day <= END)
        for index in range(LOCATIONS)
        for day in (START + timedelta(d) for d in range(-1, DAYS + 1))
        for sensor, when, value, parameter in measurements(index, day)
        if parameter == "pm25"
    ]
    frame = pd.DataFrame(rows, columns=["sensor", "when", "value", "own"])
    # The hour a measurement closes: (start, start + 1 h], labelled by its start.
    frame["hour"] = (frame["when"] - pd.Timedelta(microseconds=1)).dt.floor("h")
    touched = frame[frame["own"]][["sensor", "hour"]].drop_duplicates()
    means = frame.groupby(["sensor", "hour"])["value"].mean().reset_index()
    kept = means.merge(touched)
    kept = kept[kept["value"].between(-5.0, 1000.0)]
    return {
        (f"openaq:{s}", h.to_pydatetime()): v
        for s, h, v in zip(kept["sensor"], kept["hour"], kept["value"], strict=True)
    }


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto server of its own, its bucket filled with the generated archive."""
    port = local_stack.free_port()
    command = [sys.executable, "-m", "tests.openaq_archive_data", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        for line in server.stdout:  # the bucket is full once it says so
            if line.strip() == "ready":
                break
        else:
            pytest.fail(f"the archive's moto server stopped (exit {server.wait()})")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    fleet = FleetSpec(LOCATIONS, datetime(2024, 1, 1, tzinfo=UTC), 2)
    with FakeServer(create_app(fleet=fleet)) as server:
        yield server.url


def _locations() -> tuple[int, ...]:
    return tuple(FIRST_FLEET_LOCATION_ID + i for i in range(LOCATIONS))


def _backfill(engine: sa.Engine, api: str, s3_endpoint: str) -> object:
    selection = OpenAQSelection(locations=_locations(), parameters=("pm25",))
    with OpenAQClient(api) as client:
        targets, skipped, _ = discover_sensors(engine, client=client, selection=selection)
    assert skipped == []
    return backfill_openaq_archive(
        engine,
        s3=archive_client(endpoint_url=s3_endpoint),
        bucket=BUCKET,
        targets=targets,
        start=START,
        end=END,
    )


def _rows(engine: sa.Engine) -> dict[tuple[str, datetime], float]:
    query = sa.text("SELECT series_id, ts, value FROM observations")
    with engine.connect() as connection:
        return {(s, ts.astimezone(UTC)): v for s, ts, v in connection.execute(query)}


def _changes(engine: sa.Engine) -> tuple[int, datetime]:
    query = sa.text("SELECT count(*), max(updated_at) FROM observations")
    with engine.connect() as connection:
        count, newest = connection.execute(query).one()
    return int(count), newest


def test_hour_of_and_parse_day_read_the_archive_format() -> None:
    assert hour_of(datetime(2023, 1, 2, tzinfo=UTC)) == datetime(2023, 1, 1, 23, tzinfo=UTC)
    assert hour_of(datetime(2023, 1, 2, 5, 30, tzinfo=UTC)) == datetime(2023, 1, 2, 5, tzinfo=UTC)
    broken = b"x,,broken,not-a-time,,,pm25,ug/m3,1\n"
    rows, bad = parse_day(gzip.compress(gzip.decompress(day_file(3, START)) + broken))
    assert bad == 1
    assert len(rows) == 5
    first = rows[0]
    assert (first.sensor_id, first.when, first.units) == (
        FIRST_FLEET_SENSOR_ID + 3,
        datetime(2023, 1, 1, tzinfo=UTC),
        "µg/m³",
    )


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(3600)  # the acceptance size (HOURCAST_ARCHIVE_TEST_DAYS=365) needs it
def test_backfill_loads_exactly_the_archive_hours_idempotently_and_survives_kill_9(
    engine: sa.Engine, postgres: PostgresDatabases, api: str, s3_endpoint: str, tmp_path: Path
) -> None:
    expected = _expected()
    began = time.monotonic()
    first = _backfill(engine, api, s3_endpoint)
    seconds = time.monotonic() - began
    print(
        f"backfill: {len(expected)} hours from {LOCATIONS * DAYS} files in {seconds:.1f} s "
        f"({len(expected) / seconds:.0f} rows/s, {LOCATIONS * DAYS / seconds:.0f} files/s)"
    )
    assert first.status == "succeeded", [o.error for o in first.objects if o.error]
    assert _rows(engine) == pytest.approx(expected)
    assert sum(1 for v in expected.values() if v < 0) > 0  # noise near zero is in there
    assert first.rejected > 0  # the -999 sentinels
    assert location_mark(engine, FIRST_FLEET_LOCATION_ID).last == END

    before = _changes(engine)
    again = _backfill(engine, api, s3_endpoint)
    assert (again.status, again.inserted, again.updated) == ("succeeded", 0, 0)
    assert _changes(engine) == before

    # The CLI killed with SIGKILL midway, then run again: the same rows.
    other = postgres.create("hourcast_archive_kill")
    try:
        store = create_db_engine(other)
        upgrade(store)
        command = [
            str(Path(sys.executable).parent / "hourcast"), "ingest", "openaq-archive",
            "--start", START.isoformat(), "--end", END.isoformat(), "--parameter", "pm25",
            "--base-url", api, "--endpoint-url", s3_endpoint, "--bucket", BUCKET,
            *(f"--location={location}" for location in _locations()),
        ]  # fmt: skip
        env = {**os.environ, "HOURCAST_DATABASE_URL": other, "HOURCAST_HOME": str(tmp_path)}
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while _changes(store)[0] < len(expected) // 3 and time.monotonic() < deadline:
            assert process.poll() is None, "the backfill ended before it could be killed"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        partial = _changes(store)[0]
        assert 0 < partial < len(expected)
        resumed = subprocess.run(
            command, check=False, cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert _rows(store) == _rows(engine)
        store.dispose()
    finally:
        postgres.drop(other)
