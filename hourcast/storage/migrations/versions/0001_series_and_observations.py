"""Series registry and hourly observations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the series registry and the observations table keyed by series and hour."""
    op.create_table(
        "series",
        sa.Column("series_id", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("location", sa.String(300)),
        sa.Column("sensor", sa.String(100)),
        sa.Column("parameter", sa.String(100), nullable=False),
        sa.Column("units", sa.String(50)),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_table(
        "observations",
        sa.Column("series_id", sa.String(200), sa.ForeignKey("series.series_id"), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False, comment="hour start, UTC"),
        sa.Column("value", sa.Float),
        sa.Column("covariates", sa.JSON().with_variant(JSONB(), "postgresql")),
        sa.Column(
            "ingested_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("series_id", "ts", name="pk_observations"),
    )


def downgrade() -> None:
    """Drop both tables, observations first (they reference the series)."""
    op.drop_table("observations")
    op.drop_table("series")
