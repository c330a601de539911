"""Ingestion into the observation store (traffic for now)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from hourcast.series import TRAFFIC_I94, SeriesSpec
from hourcast.settings import Settings
from hourcast.sources.traffic import load_traffic
from hourcast.storage.observations import UpsertResult, register_series, upsert_observations

__all__ = ["IngestResult", "ingest_traffic", "s3_client"]

_CHUNK_HOURS = 5000


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one ingestion of one series."""

    series_id: str
    source_rows: int
    hours: int
    upsert: UpsertResult


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured region and endpoint (moto locally)."""
    import boto3

    return boto3.client(
        "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )


def ingest_traffic(
    engine: Engine, *, settings: Settings, source: str | None = None, spec: SeriesSpec = TRAFFIC_I94
) -> IngestResult:
    """Load traffic rows from ``source`` (default: settings) and upsert them.

    Each chunk of hours is committed in its own transaction, so a failure midway keeps the
    chunks already stored, and a re-run upserts the rest without duplicating any hour.
    """
    location = source or settings.traffic_source
    s3 = s3_client(settings) if location.startswith("s3://") else None
    loaded = load_traffic(location, s3=s3)
    with engine.begin() as connection:
        register_series(connection, spec=spec)
    total = UpsertResult()
    frame = loaded.frame
    for start in range(0, len(frame), _CHUNK_HOURS):
        with engine.begin() as connection:
            total = total + upsert_observations(
                connection, series_id=spec.series_id, frame=frame.iloc[start : start + _CHUNK_HOURS]
            )
    return IngestResult(
        series_id=spec.series_id, source_rows=loaded.source_rows, hours=len(frame), upsert=total
    )
