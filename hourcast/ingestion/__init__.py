"""Incremental, idempotent ingestion runs (OpenAQ v3, traffic CSV/S3) with a run log."""

from hourcast.ingestion.outcome import (
    IngestionError,
    ObjectOutcome,
    Progress,
    RunOutcome,
    SeriesOutcome,
)

__all__ = ["IngestionError", "ObjectOutcome", "Progress", "RunOutcome", "SeriesOutcome"]
