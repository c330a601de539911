"""Time reading the last 21 days of 1,000 series from the partitioned store (PostgreSQL).

Usage: ``.venv/bin/python scripts/benchmark_history.py [--series 1000] [--days 365]``

Fills a throwaway database (migrated to head) with ``series x days`` hourly rows in one SQL
statement, then times ``latest_observations_many`` and ``latest_history_arrays_many`` (one
query for every series) three times each, and the one-series ``latest_observations`` in a
loop (two queries per series). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa

from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.history import latest_history_arrays_many, latest_observations_many
from hourcast.storage.observations import latest_observations
from hourcast.storage.schema import series
from hourcast_dev import postgres

_FILL = """
INSERT INTO observations (series_id, ts, value)
SELECT 'bench:' || n, hour, random() * 50
FROM generate_series(1, :count) AS n,
     generate_series(timestamptz '2024-06-01 00:00+00' - make_interval(days => :days),
                     timestamptz '2024-06-01 00:00+00', interval '1 hour') AS hour
"""


def main() -> None:
    """Fill, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    admin = postgres.admin_url()
    url = postgres.create_database(admin, "hourcast_bench_history")
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        ids = [f"bench:{n}" for n in range(1, args.series + 1)]
        rows = [
            {"series_id": sid, "source": "bench", "parameter": "pm25", "timezone": "UTC"}
            for sid in ids
        ]
        with engine.begin() as connection:
            connection.execute(series.insert(), rows)
            connection.execute(sa.text(_FILL), {"count": args.series, "days": args.days})
            connection.execute(sa.text("ANALYZE observations"))
            stored = connection.execute(sa.text("SELECT count(*) FROM observations")).scalar()
        print(f"stored: {stored:,} rows ({args.series:,} series x {args.days} days)")
        hours = 24 * 21
        for _ in range(3):
            started = time.perf_counter()
            frames = latest_observations_many(engine, series_ids=ids, hours=hours)
            middle = time.perf_counter()
            latest_history_arrays_many(engine, series_ids=ids, hours=hours)
            done = time.perf_counter()
            read = sum(len(frame) for frame in frames.values())
            print(
                f"one query, {args.series:,} series x {hours} h ({read:,} rows): "
                f"frames {middle - started:.2f} s, arrays {done - middle:.2f} s"
            )
        started = time.perf_counter()
        for sid in ids:
            latest_observations(engine, series_id=sid, hours=hours)
        print(f"latest_observations per series: {time.perf_counter() - started:.2f} s")
    finally:
        engine.dispose()
        postgres.drop_database(admin, url)


if __name__ == "__main__":
    main()
