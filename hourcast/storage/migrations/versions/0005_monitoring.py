"""Monitoring: rolling accuracy of the served models, input drift, and retraining decisions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
# SQLite numbers rows only for an INTEGER primary key.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_columns(time_column: str) -> list[sa.Column[Any]]:
    """The columns every monitoring row starts with: the run, its time, the target's version."""
    return [
        sa.Column("id", _ID, primary_key=True),
        sa.Column("monitor_run_id", sa.String(36), nullable=False),
        sa.Column(time_column, sa.DateTime(timezone=True), nullable=False),
        sa.Column("target", sa.String(50), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
    ]


def upgrade() -> None:
    """Create monitoring_metrics, monitoring_drift and retrain_decisions with their indexes."""
    op.create_table(
        "monitoring_metrics",
        *_run_columns("computed_at"),
        sa.Column("series_id", sa.String(200), comment="null: every series of the model"),
        sa.Column("step", sa.Integer, comment="horizon step; null: every step"),
        sa.Column(
            "window_start",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="forecasts served from here",
        ),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "scored_hours", sa.Integer, nullable=False, comment="forecast hours with an actual"
        ),
        sa.Column("mae", sa.Float),
        sa.Column("coverage", _JSON, comment='share of actuals inside, by level: {"80": 0.81}'),
        sa.Column(
            "backtest_mae", sa.Float, comment="the version's backtest MAE, all series and steps"
        ),
    )
    op.create_index(
        "ix_monitoring_metrics_target_computed", "monitoring_metrics", ["target", "computed_at"]
    )
    op.create_table(
        "monitoring_drift",
        *_run_columns("computed_at"),
        sa.Column("series_id", sa.String(200), nullable=False),
        sa.Column("psi", sa.Float, comment="population stability index, recent vs reference"),
        sa.Column("recent_start", sa.DateTime(timezone=True)),
        sa.Column("recent_end", sa.DateTime(timezone=True)),
        sa.Column("recent_hours", sa.Integer, nullable=False),
        sa.Column(
            "reference_start",
            sa.DateTime(timezone=True),
            comment="the reference: the last days of the version's training data",
        ),
        sa.Column("reference_end", sa.DateTime(timezone=True)),
        sa.Column("reference_hours", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_monitoring_drift_target_computed", "monitoring_drift", ["target", "computed_at"]
    )
    op.create_table(
        "retrain_decisions",
        *_run_columns("decided_at"),
        sa.Column(
            "outcome",
            sa.String(16),
            nullable=False,
            comment="started, cooldown (one was started recently) or failed",
        ),
        sa.Column("reason", sa.Text, nullable=False, comment="why retraining was due"),
        sa.Column("metrics", _JSON, nullable=False, comment="the figures and limits decided on"),
        sa.Column("mage_run_id", sa.Integer, comment="the Mage pipeline run started"),
        sa.Column("error", sa.Text, comment="why it could not be started"),
        sa.CheckConstraint(
            "outcome IN ('started', 'cooldown', 'failed')", name="ck_retrain_decisions_outcome"
        ),
    )
    op.create_index(
        "ix_retrain_decisions_target_decided", "retrain_decisions", ["target", "decided_at"]
    )


def downgrade() -> None:
    """Drop the three tables with their indexes."""
    op.drop_index("ix_retrain_decisions_target_decided", table_name="retrain_decisions")
    op.drop_table("retrain_decisions")
    op.drop_index("ix_monitoring_drift_target_computed", table_name="monitoring_drift")
    op.drop_table("monitoring_drift")
    op.drop_index("ix_monitoring_metrics_target_computed", table_name="monitoring_metrics")
    op.drop_table("monitoring_metrics")
