"""Tables of the observation store (SQLAlchemy Core; PostgreSQL in production, SQLite locally).

The migrations in ``hourcast/storage/migrations`` create these tables; keep the two in step.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "RUN_STATUSES",
    "ingestion_runs",
    "ingestion_watermarks",
    "metadata",
    "observations",
    "series",
    "source_objects",
]

metadata = MetaData()

# JSONB on PostgreSQL so that "IS DISTINCT FROM" can compare covariates in upserts.
JsonType = JSON().with_variant(JSONB(), "postgresql")

series = Table(
    "series",
    metadata,
    Column("series_id", String(200), primary_key=True),
    Column("source", String(50), nullable=False),
    Column("location", String(300)),
    Column("sensor", String(100)),
    Column("parameter", String(100), nullable=False),
    Column("units", String(50)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("timezone", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

observations = Table(
    "observations",
    metadata,
    Column("series_id", String(200), ForeignKey("series.series_id"), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False, comment="hour start, UTC"),
    Column("value", Float, comment="null: the source reported the hour without a value"),
    Column("covariates", JsonType, comment="observed covariates (weather, holiday)"),
    Column("ingested_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    PrimaryKeyConstraint("series_id", "ts", name="pk_observations"),
)

# -- ingestion state (migration 0002) ---------------------------------------------------------

RUN_STATUSES = ("running", "succeeded", "partial", "failed")

ingestion_watermarks = Table(
    "ingestion_watermarks",
    metadata,
    Column("series_id", String(200), ForeignKey("series.series_id"), primary_key=True),
    Column("last_ts", DateTime(timezone=True), nullable=False, comment="newest stored hour, UTC"),
    Column(
        "history_start",
        DateTime(timezone=True),
        comment="earliest backfill start loaded, UTC; an earlier one extends the history",
    ),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

ingestion_runs = Table(
    "ingestion_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("source", String(50), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), comment="null: running, or killed"),
    Column("status", String(16), nullable=False),
    Column("rows_inserted", Integer, nullable=False, default=0, server_default="0"),
    Column("rows_updated", Integer, nullable=False, default=0, server_default="0"),
    Column("rows_rejected", Integer, nullable=False, default=0, server_default="0"),
    Column("details", JsonType, comment="inputs, per-series and per-object outcomes"),
    CheckConstraint(
        "status IN ('running', 'succeeded', 'partial', 'failed')", name="ck_ingestion_runs_status"
    ),
    Index("ix_ingestion_runs_source_started", "source", "started_at"),
)

source_objects = Table(
    "source_objects",
    metadata,
    Column("source", String(50), nullable=False),
    Column("key", String(1024), nullable=False, comment="object key, file path or query"),
    Column("etag", String(200), nullable=False, comment="S3 ETag or content hash"),
    Column("size", BigInteger),
    Column("rows", Integer),
    Column("detail", JsonType, comment="what the object yielded (e.g. an OpenAQ location)"),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("source", "key", name="pk_source_objects"),
)
