"""Count the requests of the hourly OpenAQ steady state for thousands of sensors.

Starts the fake OpenAQ v3 server in-process with a synthetic fleet of PM2.5 sensors, runs the
steady state (``hourcast.ingestion.openaq_latest``) over every PM2.5 station three times, and
prints what the server counted (``/_admin/stats``):

1. the first run: the location listing (remembered for 24 h) and ``/latest``;
2. an hour later, no sensor has a gap: ``/latest`` only (target: at most 10 requests);
3. three hours later, every sensor has a gap: ``/latest`` plus ``/hours`` within the budget.

Usage: .venv/bin/python scripts/count_openaq_latest_requests.py [--sensors 5000]
[--gap-budget 20] [--database-url postgresql+psycopg2://...] (default: a temporary SQLite file)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from hourcast.ingestion.openaq_latest import ingest_openaq_latest
from hourcast.ingestion.openaq_sensors import OpenAQSelection
from hourcast.sources.openaq import OpenAQClient
from hourcast.storage.db import create_db_engine, upgrade
from hourcast_dev.openaq_fake import FakeServer, FleetSpec, create_app

START = datetime(2024, 3, 1, tzinfo=UTC)
NOW = START + timedelta(hours=24)


def main() -> None:
    """Run the three steady-state runs and print the request counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=5000)
    parser.add_argument("--gap-budget", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'store.db'}"
        engine = create_db_engine(url)
        upgrade(engine)
        app = create_app(fleet=FleetSpec(args.sensors, START, 48), now=NOW)
        with FakeServer(app) as server:
            runs = [
                ("first run (listing + /latest)", NOW, 0),
                ("steady state, no gap", NOW + timedelta(hours=1), args.gap_budget),
                ("3 hours later, every sensor a gap", NOW + timedelta(hours=4), args.gap_budget),
            ]
            for name, now, budget in runs:
                httpx.post(f"{server.url}/_admin/clock", json={"now": now.isoformat()})
                httpx.post(f"{server.url}/_admin/reset")
                began = time.monotonic()
                with OpenAQClient(server.url) as client:
                    outcome = ingest_openaq_latest(
                        engine,
                        client=client,
                        selection=OpenAQSelection(parameters=("pm25",)),
                        gap_budget=budget,
                    )
                seconds = time.monotonic() - began
                stats = httpx.get(f"{server.url}/_admin/stats").json()
                hours = sum(n for path, n in stats["by_path"].items() if path.endswith("/hours"))
                print(
                    f"{name}: {stats['total']} requests ({hours} to /hours), "
                    f"status {outcome.status}, {outcome.inserted} inserted, {seconds:.1f} s"
                )
                print(f"  {outcome.notes[-1]}")
        engine.dispose()


if __name__ == "__main__":
    main()
