"""The prediction log writer on real PostgreSQL: batches, shutdown flush, outages, bounds."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hourcast.storage.db import create_db_engine
from hourcast.storage.prediction_log import (
    PredictionLogWriter,
    PredictionRecord,
    recent_predictions,
)
from tests.conftest import database_outage

pytestmark = pytest.mark.integration

START = datetime(2026, 12, 1, tzinfo=UTC)


def record(
    number: int, *, series_id: str = "traffic:i94-westbound", model: str = "m"
) -> PredictionRecord:
    return PredictionRecord(
        request_id=f"req-{number}",
        served_at=START + timedelta(minutes=number),
        caller="user:alice",
        series_id=series_id,
        model_name=model,
        model_version="3",
        origin=datetime(2018, 9, 30, 23, tzinfo=UTC),
        horizon=2,
        forecast=[100.0 + number, math.nan],
        intervals={"80": {"lower": [90.0, 91.0], "upper": [110.0, math.inf]}},
        latency_ms=4.5,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM prediction_log")).scalar_one())


def test_full_batches_are_written_by_the_thread_and_the_rest_at_close(engine: sa.Engine) -> None:
    written: list[int] = []
    writer = PredictionLogWriter(
        engine, max_buffered=100, batch_rows=3, flush_seconds=60, on_written=written.append
    )
    writer.start()
    for number in range(3):
        assert writer.record(record(number))
    wait_for(lambda: writer.written == 3)  # a full batch: written without waiting a minute
    for number in range(3, 5):
        assert writer.record(record(number))
    time.sleep(0.3)
    assert (count(engine), writer.buffered) == (3, 2)  # a partial batch waits for its time
    writer.close()  # a clean shutdown writes it
    assert count(engine) == 5
    assert written == [3, 2]
    rows = recent_predictions(engine, limit=10)
    assert [row.request_id for row in rows] == [f"req-{n}" for n in reversed(range(5))]
    newest = rows[0]
    assert newest.forecast == [104.0, None]  # NaN is not JSON: stored as null
    assert newest.intervals == {"80": {"lower": [90.0, 91.0], "upper": [110.0, None]}}
    assert (newest.caller, newest.model_version, newest.latency_ms) == ("user:alice", "3", 4.5)
    assert newest.origin == datetime(2018, 9, 30, 23, tzinfo=UTC)


def test_rows_wait_out_an_outage_and_the_overflow_is_dropped_and_counted(
    engine: sa.Engine, pg_url: str
) -> None:
    dropped: list[int] = []
    writer = PredictionLogWriter(
        engine,
        max_buffered=5,
        batch_rows=2,
        flush_seconds=0.05,
        max_pause_seconds=0.2,
        on_dropped=dropped.append,
    )
    writer.start()
    with database_outage(pg_url):
        started = time.monotonic()
        kept = [writer.record(record(number)) for number in range(8)]
        assert time.monotonic() - started < 1.0  # recording never waits on the database
        wait_for(lambda: writer.failed_writes >= 2)
        assert kept == [True] * 5 + [False] * 3
        assert (writer.buffered, writer.dropped, writer.written, sum(dropped)) == (5, 3, 0, 3)
    wait_for(lambda: writer.written == 5)
    writer.close()
    assert count(engine) == 5
    assert sorted(r.request_id for r in recent_predictions(engine)) == [
        f"req-{n}" for n in range(5)
    ]


def test_rows_the_database_refuses_are_dropped_not_retried_forever(pg_url: str) -> None:
    unmigrated = create_db_engine(pg_url)  # no prediction_log table
    writer = PredictionLogWriter(unmigrated, max_buffered=10, batch_rows=10, flush_seconds=60)
    for number in range(3):
        writer.record(record(number))
    assert writer.flush()  # handled: not kept for a retry
    assert (writer.buffered, writer.dropped) == (0, 3)
    unmigrated.dispose()


def test_close_keeps_what_it_cannot_write_and_says_so(
    engine: sa.Engine, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    writer = PredictionLogWriter(engine, max_buffered=10, batch_rows=10, flush_seconds=60)
    writer.record(record(1))
    with database_outage(pg_url):
        writer.close()
    assert writer.buffered == 1
    assert "1 rows not written at shutdown" in caplog.text


def test_recent_rows_filter_by_series_model_and_time(engine: sa.Engine) -> None:
    writer = PredictionLogWriter(engine, max_buffered=100, batch_rows=100, flush_seconds=60)
    for number in range(6):
        series = "openaq:1" if number % 2 else "traffic:i94-westbound"
        writer.record(record(number, series_id=series, model="a" if number < 3 else "b"))
    assert writer.flush()

    def ids(**filters: object) -> list[str]:
        return [row.request_id for row in recent_predictions(engine, **filters)]  # type: ignore[arg-type]

    assert ids(series_id="openaq:1") == ["req-5", "req-3", "req-1"]
    assert ids(model_name="b") == ["req-5", "req-4", "req-3"]
    assert ids(since=START + timedelta(minutes=4)) == ["req-5", "req-4"]
    assert ids(series_id="openaq:1", model_name="a") == ["req-1"]
    assert ids(limit=2) == ["req-5", "req-4"]
