"""Observations partitioned by time on PostgreSQL: yearly RANGE partitions on ``ts``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09

The table is rebuilt as ``PARTITION BY RANGE (ts)`` with the same columns, primary key
(``pk_observations`` on series_id, ts: it includes the partition key, as PostgreSQL requires)
and foreign key, so ``INSERT ... ON CONFLICT (series_id, ts)`` upserts exactly as before. The
rows move over inside the migration's transaction: a failure leaves the old table as it was.

Partitions: one per UTC year from 2000 through 2060, plus a DEFAULT partition for anything
outside. The range is made wide enough here rather than creating partitions as rows arrive:
creating a partition takes an exclusive lock on the parent table, which would make an
ingestion's upsert wait on, or deadlock with, the API's reads and another ingestion, and DDL
inside the write path could fail halfway. An hour past 2060 (or before 2000) still lands in
DEFAULT, so no write is ever refused; a later migration can add years.

SQLite (the embedded default) has no partitioning: the plain table stays.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FIRST_YEAR, LAST_YEAR = 2000, 2060

_COLUMNS = """
    series_id VARCHAR(200) NOT NULL REFERENCES series (series_id),
    ts TIMESTAMP WITH TIME ZONE NOT NULL,
    value DOUBLE PRECISION,
    covariates JSONB,
    ingested_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_observations PRIMARY KEY (series_id, ts)
"""
_COPY = "series_id, ts, value, covariates, ingested_at, updated_at"
_COMMENTS = {
    "ts": "hour start, UTC",
    "value": "null: the source reported the hour without a value",
    "covariates": "observed covariates (weather, holiday)",
}


def _rebuild(partitioned: bool) -> None:
    """Replace observations by a new table (partitioned or plain) holding the same rows."""
    old = "observations_unpartitioned" if partitioned else "observations_partitioned"
    op.execute(f"ALTER TABLE observations RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_observations TO pk_{old}")
    op.execute(
        f"CREATE TABLE observations ({_COLUMNS})"
        + (" PARTITION BY RANGE (ts)" if partitioned else "")
    )
    if partitioned:
        for year in range(FIRST_YEAR, LAST_YEAR + 1):
            op.execute(
                f"CREATE TABLE observations_y{year} PARTITION OF observations FOR VALUES "
                f"FROM ('{year}-01-01 00:00:00+00') TO ('{year + 1}-01-01 00:00:00+00')"
            )
        op.execute("CREATE TABLE observations_default PARTITION OF observations DEFAULT")
    for column, text in _COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN observations.{column} IS '{text}'")
    op.execute(f"INSERT INTO observations ({_COPY}) SELECT {_COPY} FROM {old}")
    op.execute(f"DROP TABLE {old}")  # a partitioned one with its partitions
    op.execute("ANALYZE observations")


def upgrade() -> None:
    """Rebuild observations as a yearly-partitioned table (PostgreSQL only) with its rows."""
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(partitioned=True)


def downgrade() -> None:
    """Back to one plain table with the same rows (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(partitioned=False)
