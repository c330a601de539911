"""Tables of the observation store (SQLAlchemy Core; PostgreSQL in production, SQLite locally).

The migrations in ``hourcast/storage/migrations`` create these tables; keep the two in step.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["metadata", "observations", "series"]

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
