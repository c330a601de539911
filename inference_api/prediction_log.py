"""The API's prediction log: ``app.state.prediction_log``, its metrics, and request ids.

Routes call :meth:`ApiPredictionLog.record` once per forecast series; it fills in the request
id, the caller and the latency and hands the row to the background writer
(:class:`hourcast.storage.prediction_log.PredictionLogWriter`), so nothing waits on the
database. The metrics count rows written and dropped (buffer full while the database was
away) and show the rows waiting.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from fastapi import Request
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine

from hourcast.settings import Settings
from hourcast.storage.prediction_log import PredictionLogWriter, PredictionRecord

__all__ = ["ApiPredictionLog", "request_id"]

log = logging.getLogger("inference_api.prediction_log")

WRITTEN = Counter("hourcast_prediction_log_written_total", "Prediction-log rows written.")
DROPPED = Counter(
    "hourcast_prediction_log_dropped_total",
    "Prediction-log rows dropped: the buffer was full while the database could not be written.",
)
BUFFERED = Gauge("hourcast_prediction_log_buffered", "Prediction-log rows waiting to be written.")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id(request: Request) -> str:
    """The request's id: the caller's ``X-Request-ID`` if sensible, else a new one (kept)."""
    known = getattr(request.state, "request_id", None)
    if isinstance(known, str):
        return known
    sent = request.headers.get("x-request-id", "")
    chosen = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
    request.state.request_id = chosen
    return chosen


class ApiPredictionLog:
    """The prediction log as routes see it.

    Args:
        writer (PredictionLogWriter): The buffered background writer.
    """

    def __init__(self, writer: PredictionLogWriter) -> None:
        self.writer = writer

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> ApiPredictionLog:
        """A writer on ``engine`` sized by the ``api_prediction_log_*`` settings."""

        def written(rows: int) -> None:
            WRITTEN.inc(rows)
            BUFFERED.set(writer.buffered)

        writer = PredictionLogWriter(
            engine,
            max_buffered=settings.api_prediction_log_buffer,
            batch_rows=settings.api_prediction_log_batch,
            flush_seconds=settings.api_prediction_log_flush_seconds,
            on_dropped=DROPPED.inc,
            on_written=written,
        )
        return cls(writer)

    def start(self) -> None:
        """Start writing in the background."""
        self.writer.start()

    def close(self) -> None:
        """Write what is buffered (clean shutdown)."""
        self.writer.close()
        BUFFERED.set(self.writer.buffered)

    def record(
        self,
        request: Request,
        *,
        series_id: str,
        model_name: str,
        model_version: str,
        origin: datetime,
        values: Sequence[float],
        intervals: Mapping[int, tuple[Sequence[float], Sequence[float]]],
        started: float,
    ) -> None:
        """Log one served forecast; never raises (a log failure must not fail the forecast).

        Args:
            request (Request): The request served (its id and caller go into the row).
            series_id (str): The series forecast.
            model_name (str): Registered model name.
            model_version (str): Its version.
            origin (datetime): The last observed hour; forecast hour i is origin + i hours.
            values (Sequence[float]): The point forecasts, hour 1 first.
            intervals (Mapping[int, tuple[Sequence[float], Sequence[float]]]): Lower and upper
                bounds by level.
            started (float): ``time.perf_counter()`` when the request began.
        """
        try:
            principal = getattr(request.state, "principal", None)
            record = PredictionRecord(
                request_id=request_id(request),
                served_at=datetime.now(UTC),
                caller=principal.caller if principal is not None else "unknown",
                series_id=series_id,
                model_name=model_name,
                model_version=model_version,
                origin=origin,
                horizon=len(values),
                forecast=[float(v) for v in values],
                intervals={
                    str(level): {"lower": list(lower), "upper": list(upper)}
                    for level, (lower, upper) in intervals.items()
                },
                latency_ms=(time.perf_counter() - started) * 1000.0,
            )
            self.writer.record(record)
            BUFFERED.set(self.writer.buffered)
        except Exception:
            log.exception("prediction log: could not record a forecast of %s", series_id)
            DROPPED.inc()
