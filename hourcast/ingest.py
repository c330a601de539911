"""Ingestion into the observation store: the entry points the CLI and the Mage blocks call.

The runs themselves live in :mod:`hourcast.ingestion` (``openaq`` and ``traffic``); these
functions build their clients from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from hourcast.ingestion.openaq import (
    DEFAULT_OVERLAP,
    OpenAQSelection,
    ingest_openaq_sensors,
    openaq_client,
)
from hourcast.ingestion.outcome import IngestionError, Progress, RunOutcome
from hourcast.ingestion.traffic import ingest_traffic_objects
from hourcast.series import TRAFFIC_I94, SeriesSpec
from hourcast.settings import Settings
from hourcast.storage.observations import UpsertResult

__all__ = [
    "IngestResult",
    "IngestionError",
    "OpenAQSelection",
    "ingest_openaq",
    "ingest_traffic",
    "s3_client",
]


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one traffic ingestion of one series.

    Attributes:
        series_id: The series.
        source_rows: CSV rows read in this run (0 when every object was unchanged).
        hours: Hourly rows derived from them.
        upsert: Inserted, updated and unchanged hours.
        run_id: Id in the run log (``ingestion_runs``).
        status: ``succeeded`` or ``partial`` (a failed run raises instead).
        objects_read: Objects read because they were new or changed.
        objects_skipped: Objects skipped because their ETag (or hash) was unchanged.
        rejected: Hours rejected (implausible volume, future hour).
        outcome: The full run outcome (per-object details).
    """

    series_id: str
    source_rows: int
    hours: int
    upsert: UpsertResult
    run_id: str | None = None
    status: str = "succeeded"
    objects_read: int = 0
    objects_skipped: int = 0
    rejected: int = 0
    outcome: RunOutcome | None = None


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured region and endpoint (moto locally)."""
    import boto3

    return boto3.client(
        "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )


def ingest_traffic(
    engine: Engine,
    *,
    settings: Settings,
    source: str | None = None,
    spec: SeriesSpec = TRAFFIC_I94,
    progress: Progress | None = None,
) -> IngestResult:
    """Upsert the traffic rows of the new or changed objects of ``source``.

    Args:
        engine (Engine): The observation store (migrated).
        settings (Settings): Process settings (S3 region and endpoint).
        source (str | None): CSV path or ``s3://bucket/prefix``. Defaults to
            ``HOURCAST_TRAFFIC_SOURCE``.
        spec (SeriesSpec): The series. Defaults to the I-94 series.
        progress (Progress | None): Receives per-object progress.

    Returns:
        IngestResult: Counts of this run; a re-run with unchanged objects reads nothing.

    Raises:
        IngestionError: The run failed as a whole (no such file or objects, every object
            unreadable); it is logged as ``failed`` first.
    """
    location = source or settings.traffic_source
    s3 = s3_client(settings) if location.startswith("s3://") else None
    outcome, source_rows = ingest_traffic_objects(
        engine, source=location, spec=spec, s3=s3, progress=progress
    )
    outcome.raise_for_status()
    series = outcome.series[0]
    return IngestResult(
        series_id=spec.series_id,
        source_rows=source_rows,
        hours=sum(o.hours for o in outcome.objects),
        upsert=UpsertResult(series.inserted, series.updated, series.unchanged),
        run_id=outcome.run_id,
        status=outcome.status,
        objects_read=sum(o.status == "read" for o in outcome.objects),
        objects_skipped=sum(o.status == "skipped" for o in outcome.objects),
        rejected=series.rejected,
        outcome=outcome,
    )


def ingest_openaq(
    engine: Engine,
    *,
    settings: Settings,
    selection: OpenAQSelection,
    backfill_start: datetime,
    until: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    progress: Progress | None = None,
    client_options: dict[str, Any] | None = None,
) -> RunOutcome:
    """Ingest OpenAQ hourly records from ``HOURCAST_OPENAQ_BASE_URL``.

    See :func:`hourcast.ingestion.openaq.ingest_openaq_sensors` for the arguments.

    Args:
        engine (Engine): The observation store (migrated).
        settings (Settings): Process settings (OpenAQ base URL and key).
        selection (OpenAQSelection): Locations, parameters and sensors.
        backfill_start (datetime): First hour of a new sensor's history (aware).
        until (datetime | None): End of the windows, exclusive. Defaults to now.
        overlap (timedelta): Re-read before the watermark. Defaults to 3 h.
        progress (Progress | None): Receives per-sensor progress.
        client_options (dict | None): Extra :class:`OpenAQClient` options (retries...).

    Returns:
        RunOutcome: Status and per-series counts (a failed run is returned, not raised).
    """
    with openaq_client(settings, **(client_options or {})) as client:
        return ingest_openaq_sensors(
            engine,
            client=client,
            selection=selection,
            backfill_start=backfill_start,
            until=until,
            overlap=overlap,
            progress=progress,
        )
