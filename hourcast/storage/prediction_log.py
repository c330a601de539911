"""The prediction log: every forecast the API serves, written off the request path.

:class:`PredictionLogWriter` keeps served forecasts in memory and writes them in batches from
a background thread. A database outage does not reach the requests: rows wait in the buffer
(up to ``max_buffered``) and are written when the database is back; past that bound new rows
are dropped and counted. :meth:`PredictionLogWriter.close` writes what is left on shutdown.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from hourcast.storage.schema import prediction_log

__all__ = [
    "LoggedPrediction",
    "PredictionLogWriter",
    "PredictionRecord",
    "insert_predictions",
    "recent_predictions",
]

log = logging.getLogger(__name__)

Intervals = Mapping[str, Mapping[str, Sequence[float]]]
"""``{"80": {"lower": [...], "upper": [...]}}``, one value per forecast hour."""


@dataclass(frozen=True)
class PredictionRecord:
    """One served forecast of one series (a batch request gives one per series)."""

    request_id: str
    served_at: datetime
    caller: str
    series_id: str
    model_name: str
    model_version: str
    origin: datetime
    horizon: int
    forecast: Sequence[float]
    intervals: Intervals = field(default_factory=dict)
    latency_ms: float = 0.0


@dataclass(frozen=True)
class LoggedPrediction(PredictionRecord):
    """A row of the log, with its id."""

    id: int = 0


def _numbers(values: Sequence[float]) -> list[float | None]:
    # JSON has no NaN or Infinity (PostgreSQL refuses them): store null.
    return [float(v) if math.isfinite(v) else None for v in values]


_RECORD_FIELDS = tuple(item.name for item in fields(PredictionRecord))


def _row(record: PredictionRecord) -> dict[str, Any]:
    # A shallow copy: dataclasses.asdict deep-copies every number of every list, which took
    # most of the writer thread's time (and the GIL from the requests) under load.
    row = {name: getattr(record, name) for name in _RECORD_FIELDS}
    row["forecast"] = _numbers(record.forecast)
    row["intervals"] = {
        str(level): {side: _numbers(values) for side, values in bounds.items()}
        for level, bounds in record.intervals.items()
    }
    return row


def insert_predictions(engine: Engine, records: Sequence[PredictionRecord]) -> None:
    """Write ``records`` in one transaction (one multi-row INSERT)."""
    if records:
        with engine.begin() as connection:
            connection.execute(prediction_log.insert(), [_row(r) for r in records])


def recent_predictions(
    engine: Engine,
    *,
    series_id: str | None = None,
    model_name: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[LoggedPrediction]:
    """The newest rows first, filtered by series, model name and serving time."""
    query = select(prediction_log).order_by(
        prediction_log.c.served_at.desc(), prediction_log.c.id.desc()
    )
    if series_id is not None:
        query = query.where(prediction_log.c.series_id == series_id)
    if model_name is not None:
        query = query.where(prediction_log.c.model_name == model_name)
    if since is not None:
        query = query.where(prediction_log.c.served_at >= since)
    with engine.connect() as connection:
        rows = connection.execute(query.limit(limit)).mappings().all()
    return [LoggedPrediction(**row) for row in rows]


class PredictionLogWriter:
    """Buffers prediction records and writes them in batches from a background thread.

    :meth:`record` never blocks on the database and never raises: it appends to a bounded
    in-memory buffer. The thread writes up to ``batch_rows`` rows at a time every
    ``flush_seconds`` (sooner when a batch is full). A failed write keeps its rows, in order,
    and is retried with a growing pause (up to ``max_pause_seconds``) while the database is
    unreachable; rows the database refuses are dropped and counted, so that they cannot hold
    back the rows after them.

    Args:
        engine (Engine): Where the log table is.
        max_buffered (int): Rows held while they cannot be written; further rows are dropped.
        batch_rows (int): Rows per INSERT.
        flush_seconds (float): Pause between writes while rows arrive.
        max_pause_seconds (float): Longest pause between retries while the database is down.
            Defaults to 5.
        on_dropped (Callable[[int], None] | None): Told how many rows were dropped.
        on_written (Callable[[int], None] | None): Told how many rows were written.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_buffered: int,
        batch_rows: int,
        flush_seconds: float,
        max_pause_seconds: float = 5.0,
        on_dropped: Callable[[int], None] | None = None,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._max_buffered = max_buffered
        self._batch_rows = batch_rows
        self._flush_seconds = flush_seconds
        self._max_pause = max(max_pause_seconds, flush_seconds)
        self._on_dropped = on_dropped
        self._on_written = on_written
        self._rows: deque[PredictionRecord] = deque()
        self._lock = threading.Lock()  # guards _rows and the counters
        self._writing = threading.Lock()  # one writer at a time (thread, or close())
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0
        self.failed_writes = 0

    @property
    def buffered(self) -> int:
        """Rows waiting to be written."""
        return len(self._rows)

    def record(self, record: PredictionRecord) -> bool:
        """Queue a row; False (and counted as dropped) when the buffer is full."""
        with self._lock:
            if len(self._rows) >= self._max_buffered:
                self.dropped += 1
                dropped = True
            else:
                self._rows.append(record)
                dropped = False
                full_batch = len(self._rows) >= self._batch_rows
        if dropped:
            if self._on_dropped is not None:
                self._on_dropped(1)
            return False
        if full_batch:
            self._wake.set()
        return True

    def start(self) -> None:
        """Start the background writer."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def flush(self) -> bool:
        """Write every buffered row now; False if the database refused (rows kept)."""
        with self._writing:
            while self._rows:
                if not self._write_batch():
                    return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and write what is left (clean shutdown); log what could not be."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if not self.flush():
            log.error("prediction log: %d rows not written at shutdown", self.buffered)

    def _run(self) -> None:
        pause = self._flush_seconds
        while not self._stopping.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            if self._stopping.is_set():
                return
            pause = self._flush_seconds if self.flush() else min(pause * 2, self._max_pause)

    def _write_batch(self) -> bool:
        # Only the holder of _writing removes rows, so the first n are still these after the
        # write; rows appended meanwhile go to the right.
        with self._lock:
            batch = list(islice(self._rows, self._batch_rows))
        try:
            insert_predictions(self._engine, batch)
        except (OperationalError, InterfaceError) as exc:
            # The database is away: keep the rows and try again later.
            self.failed_writes += 1
            if self.failed_writes == 1 or self.failed_writes % 10 == 0:
                log.warning(
                    "prediction log: database unreachable, %d rows waiting (%s)",
                    self.buffered,
                    type(exc).__name__,
                )
            return False
        except SQLAlchemyError as exc:
            # The database is there but refuses these rows (e.g. the table is missing):
            # retrying would block every later row, so they are dropped and counted.
            reason = exc.orig if isinstance(exc, DBAPIError) else exc
            log.error("prediction log: %d rows refused and dropped: %s", len(batch), reason)
            self._remove(len(batch), written=False)
            return True
        self._remove(len(batch), written=True)
        return True

    def _remove(self, count: int, *, written: bool) -> None:
        with self._lock:
            for _ in range(count):
                self._rows.popleft()
            if written:
                self.written += count
            else:
                self.dropped += count
        callback = self._on_written if written else self._on_dropped
        if callback is not None:
            callback(count)
