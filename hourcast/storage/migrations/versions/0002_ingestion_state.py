"""Ingestion state: watermarks per series, the run log, and the memory of source objects.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Create the watermark, run-log and source-object tables."""
    op.create_table(
        "ingestion_watermarks",
        sa.Column("series_id", sa.String(200), sa.ForeignKey("series.series_id"), primary_key=True),
        sa.Column(
            "last_ts", sa.DateTime(timezone=True), nullable=False, comment="newest stored hour, UTC"
        ),
        sa.Column(
            "history_start",
            sa.DateTime(timezone=True),
            comment="earliest backfill start loaded, UTC; an earlier one extends the history",
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_table(
        "ingestion_runs",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), comment="null: running, or killed"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_inserted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_rejected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("details", _JSON, comment="inputs, per-series and per-object outcomes"),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'partial', 'failed')",
            name="ck_ingestion_runs_status",
        ),
    )
    op.create_index("ix_ingestion_runs_source_started", "ingestion_runs", ["source", "started_at"])
    op.create_table(
        "source_objects",
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False, comment="object key, file path or query"),
        sa.Column("etag", sa.String(200), nullable=False, comment="S3 ETag or content hash"),
        sa.Column("size", sa.BigInteger),
        sa.Column("rows", sa.Integer),
        sa.Column("detail", _JSON, comment="what the object yielded (e.g. an OpenAQ location)"),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "key", name="pk_source_objects"),
    )


def downgrade() -> None:
    """Drop the three tables and the run log's index."""
    op.drop_table("source_objects")
    op.drop_index("ix_ingestion_runs_source_started", table_name="ingestion_runs")
    op.drop_table("ingestion_runs")
    op.drop_table("ingestion_watermarks")
