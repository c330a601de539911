"""Prediction log: every forecast the API served, to be joined with the actuals later.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Create the prediction_log table and its indexes for recent rows by series and model."""
    op.create_table(
        "prediction_log",
        # SQLite numbers rows only for an INTEGER primary key.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller", sa.String(200), nullable=False, comment="user:<name> or key:<key id>"),
        sa.Column("series_id", sa.String(200), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column(
            "origin",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="last observed hour, UTC; forecast hour i is origin + i hours",
        ),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("forecast", _JSON, nullable=False, comment="point forecasts, hour 1 first"),
        sa.Column(
            "intervals", _JSON, nullable=False, comment='{"80": {"lower": [...], "upper": [...]}}'
        ),
        sa.Column("latency_ms", sa.Float, nullable=False),
    )
    op.create_index("ix_prediction_log_served_at", "prediction_log", ["served_at"])
    op.create_index("ix_prediction_log_series_served", "prediction_log", ["series_id", "served_at"])
    op.create_index("ix_prediction_log_model_served", "prediction_log", ["model_name", "served_at"])


def downgrade() -> None:
    """Drop the table with its indexes."""
    op.drop_index("ix_prediction_log_model_served", table_name="prediction_log")
    op.drop_index("ix_prediction_log_series_served", table_name="prediction_log")
    op.drop_index("ix_prediction_log_served_at", table_name="prediction_log")
    op.drop_table("prediction_log")
