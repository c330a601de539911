"""Tables of the observation store (SQLAlchemy Core; PostgreSQL in production, SQLite locally).

The migrations in ``hourcast/storage/migrations`` create these tables; keep the two in step.
"""

from __future__ import annotations

from typing import Any

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
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "RETRAIN_OUTCOMES",
    "ROLES",
    "RUN_STATUSES",
    "api_keys",
    "ingestion_runs",
    "ingestion_watermarks",
    "metadata",
    "monitoring_drift",
    "monitoring_metrics",
    "observations",
    "prediction_log",
    "retrain_decisions",
    "series",
    "source_objects",
    "users",
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
    # Yearly partitions 2000-2060 and a DEFAULT one, created by migration 0006 (PostgreSQL).
    postgresql_partition_by="RANGE (ts)",
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

# -- API callers (migration 0003) -------------------------------------------------------------

ROLES = ("user", "admin")

users = Table(
    "users",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("password_hash", String(255), nullable=False, comment="argon2id (pwdlib)"),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("disabled_at", DateTime(timezone=True), comment="null: may sign in"),
    CheckConstraint("role IN ('user', 'admin')", name="ck_users_role"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True, comment="public part, shown in lists"),
    Column("name", String(100), nullable=False, comment="the service that holds it"),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, comment="SHA-256 of the whole key"),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True), comment="null: valid"),
    CheckConstraint("role IN ('user', 'admin')", name="ck_api_keys_role"),
    UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
)

# -- prediction log (migration 0004) ----------------------------------------------------------

# SQLite numbers rows only for an INTEGER primary key.
RowId = BigInteger().with_variant(Integer(), "sqlite")

prediction_log = Table(
    "prediction_log",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("served_at", DateTime(timezone=True), nullable=False),
    Column("caller", String(200), nullable=False, comment="user:<name> or key:<key id>"),
    Column("series_id", String(200), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(50), nullable=False),
    Column(
        "origin",
        DateTime(timezone=True),
        nullable=False,
        comment="last observed hour, UTC; forecast hour i is origin + i hours",
    ),
    Column("horizon", Integer, nullable=False),
    Column("forecast", JsonType, nullable=False, comment="point forecasts, hour 1 first"),
    Column(
        "intervals", JsonType, nullable=False, comment='{"80": {"lower": [...], "upper": [...]}}'
    ),
    Column("latency_ms", Float, nullable=False),
    Index("ix_prediction_log_served_at", "served_at"),
    Index("ix_prediction_log_series_served", "series_id", "served_at"),
    Index("ix_prediction_log_model_served", "model_name", "served_at"),
)

# -- monitoring (migration 0005) --------------------------------------------------------------

RETRAIN_OUTCOMES = ("started", "cooldown", "failed")


def _monitor_columns(time_column: str) -> list[Column[Any]]:
    """The columns every monitoring row starts with: the run, its time, the target's version."""
    return [
        Column("id", RowId, primary_key=True),
        Column("monitor_run_id", String(36), nullable=False),
        Column(time_column, DateTime(timezone=True), nullable=False),
        Column("target", String(50), nullable=False),
        Column("model_name", String(200), nullable=False),
        Column("model_version", String(50), nullable=False),
    ]


monitoring_metrics = Table(
    "monitoring_metrics",
    metadata,
    *_monitor_columns("computed_at"),
    Column("series_id", String(200), comment="null: every series of the model"),
    Column("step", Integer, comment="horizon step; null: every step"),
    Column(
        "window_start",
        DateTime(timezone=True),
        nullable=False,
        comment="forecasts served from here",
    ),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("scored_hours", Integer, nullable=False, comment="forecast hours with an actual"),
    Column("mae", Float),
    Column("coverage", JsonType, comment='share of actuals inside, by level: {"80": 0.81}'),
    Column("backtest_mae", Float, comment="the version's backtest MAE, all series and steps"),
    Index("ix_monitoring_metrics_target_computed", "target", "computed_at"),
)

monitoring_drift = Table(
    "monitoring_drift",
    metadata,
    *_monitor_columns("computed_at"),
    Column("series_id", String(200), nullable=False),
    Column("psi", Float, comment="population stability index, recent vs reference"),
    Column("recent_start", DateTime(timezone=True)),
    Column("recent_end", DateTime(timezone=True)),
    Column("recent_hours", Integer, nullable=False),
    Column(
        "reference_start",
        DateTime(timezone=True),
        comment="the reference: the last days of the version's training data",
    ),
    Column("reference_end", DateTime(timezone=True)),
    Column("reference_hours", Integer, nullable=False),
    Index("ix_monitoring_drift_target_computed", "target", "computed_at"),
)

retrain_decisions = Table(
    "retrain_decisions",
    metadata,
    *_monitor_columns("decided_at"),
    Column(
        "outcome",
        String(16),
        nullable=False,
        comment="started, cooldown (one was started recently) or failed",
    ),
    Column("reason", Text, nullable=False, comment="why retraining was due"),
    Column("metrics", JsonType, nullable=False, comment="the figures and limits decided on"),
    Column("mage_run_id", Integer, comment="the Mage pipeline run started"),
    Column("error", Text, comment="why it could not be started"),
    CheckConstraint(
        "outcome IN ('started', 'cooldown', 'failed')", name="ck_retrain_decisions_outcome"
    ),
    Index("ix_retrain_decisions_target_decided", "target", "decided_at"),
)
