"""Rows per second of ``upsert_observations`` on a throwaway PostgreSQL database.

Usage: ``.venv/bin/python scripts/benchmark_upsert.py --series 100 --hours 10000``

Loads ``series x hours`` synthetic hourly rows into a fresh database migrated to head (first
load: every row new), then loads them again (re-run: every row unchanged), one transaction
each, and prints the rows per second of both. The database is dropped at the end. The server
is the one of ``HOURCAST_TEST_DATABASE_URL`` (default: the local PostgreSQL at 127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from hourcast.series import openaq_sensor_spec
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import UpsertResult, register_series, upsert_observations
from hourcast_dev import postgres


def _load(engine: Engine, frames: dict[str, pd.DataFrame]) -> tuple[float, UpsertResult]:
    started = time.perf_counter()
    total = UpsertResult()
    with engine.begin() as connection:
        for sid, frame in frames.items():
            total = total + upsert_observations(connection, series_id=sid, frame=frame)
    return time.perf_counter() - started, total


def main() -> None:
    """Parse the sizes, load twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--hours", type=int, default=10_000)
    args = parser.parse_args()
    admin = postgres.admin_url()
    url = postgres.create_database(admin, "hourcast_bench_upsert")
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        rng = np.random.default_rng(0)
        stamps = pd.date_range("2024-01-01", periods=args.hours, freq="h", tz="UTC")
        frames = {}
        with engine.begin() as connection:
            for i in range(args.series):
                spec = openaq_sensor_spec(
                    sensor_id=i,
                    location=f"bench {i}",
                    parameter="pm25",
                    units="µg/m³",
                    timezone="UTC",
                )
                register_series(connection, spec=spec)
                frames[spec.series_id] = pd.DataFrame(
                    {"ts": stamps, "value": rng.gamma(2.0, 10.0, args.hours)}
                )
        rows = args.series * args.hours
        for label in ("first load", "re-run"):
            seconds, result = _load(engine, frames)
            print(
                f"{label}: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
                f"(inserted {result.inserted:,}, updated {result.updated:,}, "
                f"unchanged {result.unchanged:,})"
            )
    finally:
        engine.dispose()
        postgres.drop_database(admin, url)


if __name__ == "__main__":
    main()
