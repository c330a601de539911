"""Count the OpenAQ requests of a 365-day backfill and of the hourly run that follows it.

Starts the fake OpenAQ v3 server in-process, ingests the Beijing sensor (location 900000,
sensor 900001, PM2.5) into a temporary SQLite store, and prints what the server counted
(``/_admin/stats``) for each run. Targets: the backfill in at most 10 requests (1 location
listing + 9 pages of 1000 hours), the steady-state run in 1 request per sensor.

Usage: .venv/bin/python scripts/count_openaq_requests.py [--days 365]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from hourcast.ingestion.openaq import ingest_openaq_sensors
from hourcast.ingestion.openaq_sensors import OpenAQSelection
from hourcast.sources.openaq import OpenAQClient
from hourcast.storage.db import create_db_engine, upgrade
from hourcast_dev.openaq_fake import (
    BEIJING_LOCATION_ID,
    BEIJING_SENSOR_ID,
    FakeServer,
    create_app,
)

# The fake's Beijing series ends at 2014-10-08 15:00 UTC; the window ends just after it.
END = datetime(2014, 10, 8, 16, tzinfo=UTC)
BACKFILL_TARGET = 10
STEADY_TARGET_PER_SENSOR = 1


def _stats(url: str) -> dict:
    return httpx.get(f"{url}/_admin/stats").json()


def main(argv: list[str] | None = None) -> int:
    """Run both ingestions, print the request counts; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="backfill length (default 365)")
    args = parser.parse_args(argv)
    selection = OpenAQSelection(locations=(BEIJING_LOCATION_ID,), parameters=("pm25",))
    start = END - timedelta(days=args.days)
    runs = [
        ("backfill", END, BACKFILL_TARGET),
        ("steady-state", END + timedelta(hours=1), STEADY_TARGET_PER_SENSOR),
    ]
    missed = 0
    with tempfile.TemporaryDirectory() as folder, FakeServer(create_app()) as server:
        engine = create_db_engine(f"sqlite:///{Path(folder) / 'store.db'}")
        upgrade(engine)
        print(f"fake OpenAQ at {server.url}; sensor {BEIJING_SENSOR_ID}, {args.days}-day backfill")
        header = ("run", "window (UTC)", "requests", "target", "new", "same")
        print("{:<13} {:<36} {:>8} {:>7} {:>6} {:>6}".format(*header))
        for name, until, target in runs:
            httpx.post(f"{server.url}/_admin/reset").raise_for_status()
            with OpenAQClient(server.url) as client:
                outcome = ingest_openaq_sensors(
                    engine, client=client, selection=selection, backfill_start=start, until=until
                )
            stats = _stats(server.url)
            windows = [w for series in outcome.series for w in series.windows]
            window = ", ".join(f"{a:%Y-%m-%d %H:%M} .. {b:%Y-%m-%d %H:%M}" for a, b in windows)
            same = sum(series.unchanged for series in outcome.series)
            print(
                f"{name:<13} {window:<36} {stats['total']:>8} {'<=' + str(target):>7} "
                f"{outcome.inserted + outcome.updated:>6} {same:>6}"
            )
            print(f"{'':<13} by path: {stats['by_path']}")
            if outcome.status != "succeeded" or stats["total"] > target:
                missed += 1
        engine.dispose()
    print("all targets met" if not missed else f"{missed} target(s) missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
