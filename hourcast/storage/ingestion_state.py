"""Keyword-only access to the ingestion state: watermarks, the run log, source objects.

Watermarks are written inside the caller's transaction, next to the observations they
describe, so a process killed between two pages never leaves a watermark ahead of the data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, and_, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hourcast.storage.db import connected
from hourcast.storage.schema import (
    RUN_STATUSES,
    ingestion_runs,
    ingestion_watermarks,
    source_objects,
)

__all__ = [
    "RunRecord",
    "SourceObject",
    "Watermark",
    "as_utc",
    "finish_run",
    "get_run",
    "get_source_object",
    "get_watermark",
    "list_runs",
    "remember_source_object",
    "set_watermark",
    "start_run",
    "update_run",
    "utc_now",
]


def utc_now() -> datetime:
    """The current instant, UTC-aware."""
    return datetime.now(UTC)


def as_utc(value: Any) -> datetime | None:
    """A stored timestamp as a UTC-aware datetime (SQLite hands them back naive, in UTC)."""
    if value is None:
        return None
    stamp: datetime = pd.Timestamp(value).to_pydatetime() if isinstance(value, str) else value
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _upsert(connection: Connection, table: Table) -> Any:
    # INSERT ... ON CONFLICT exists on both dialects, under dialect-specific constructs.
    dialects = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    try:
        return dialects[connection.dialect.name](table)
    except KeyError:
        raise NotImplementedError(
            f"upserts need PostgreSQL or SQLite, not {connection.dialect.name}"
        ) from None


# -- watermarks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watermark:
    """How far the ingestion of one series got.

    Attributes:
        series_id: The series.
        last_ts: Newest hour stored, UTC.
        history_start: Earliest backfill start loaded, UTC (None if unknown).
        updated_at: When the watermark last moved.
    """

    series_id: str
    last_ts: datetime
    history_start: datetime | None
    updated_at: datetime | None


def get_watermark(connection: Connection | Engine, *, series_id: str) -> Watermark | None:
    """The watermark of ``series_id``, or None before its first stored hour."""
    query = select(ingestion_watermarks).where(ingestion_watermarks.c.series_id == series_id)
    with connected(connection) as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return Watermark(
        series_id=row["series_id"],
        last_ts=as_utc(row["last_ts"]),  # type: ignore[arg-type]
        history_start=as_utc(row["history_start"]),
        updated_at=as_utc(row["updated_at"]),
    )


def set_watermark(
    connection: Connection,
    *,
    series_id: str,
    last_ts: datetime,
    history_start: datetime | None = None,
) -> None:
    """Move the watermark forward inside the caller's transaction; it never moves back.

    Args:
        connection (Connection): Open connection; the caller owns the transaction (the one
            that stored the observations up to ``last_ts``).
        series_id (str): A registered series.
        last_ts (datetime): Newest hour now stored (aware).
        history_start (datetime | None): Backfill start of this load; kept if earlier than
            the stored one. Defaults to None (leave as is).
    """
    last = as_utc(last_ts)
    start = as_utc(history_start)
    statement = _upsert(connection, ingestion_watermarks).values(
        series_id=series_id, last_ts=last, history_start=start, updated_at=utc_now()
    )
    excluded = statement.excluded
    table = ingestion_watermarks.c
    # CASE rather than GREATEST/LEAST: the same SQL works on SQLite and PostgreSQL.
    newest = case((excluded.last_ts > table.last_ts, excluded.last_ts), else_=table.last_ts)
    earliest = case(
        (table.history_start.is_(None), excluded.history_start),
        (excluded.history_start < table.history_start, excluded.history_start),
        else_=table.history_start,
    )
    moves = or_(
        excluded.last_ts > table.last_ts,
        and_(
            excluded.history_start.is_not(None),
            or_(table.history_start.is_(None), excluded.history_start < table.history_start),
        ),
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["series_id"],
            set_={"last_ts": newest, "history_start": earliest, "updated_at": excluded.updated_at},
            where=moves,  # an unchanged watermark keeps its row (and updated_at) as is
        )
    )


# -- run log ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One row of the ingestion run log."""

    run_id: str
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    rows_inserted: int
    rows_updated: int
    rows_rejected: int
    details: dict[str, Any]


def start_run(engine: Engine, *, source: str, details: dict[str, Any] | None = None) -> str:
    """Log a new run as ``running`` (committed at once, so a killed run stays visible).

    Returns:
        str: The run id (a UUID).
    """
    run_id = str(uuid.uuid4())
    with engine.begin() as connection:
        connection.execute(
            ingestion_runs.insert().values(
                run_id=run_id,
                source=source,
                started_at=utc_now(),
                status="running",
                rows_inserted=0,
                rows_updated=0,
                rows_rejected=0,
                details=details or {},
            )
        )
    return run_id


def update_run(
    connection: Connection,
    *,
    run_id: str,
    inserted: int,
    updated: int,
    rejected: int,
    details: dict[str, Any],
) -> None:
    """Record the progress of a running run (counts so far and details)."""
    connection.execute(
        update(ingestion_runs)
        .where(ingestion_runs.c.run_id == run_id)
        .values(
            rows_inserted=inserted, rows_updated=updated, rows_rejected=rejected, details=details
        )
    )


def finish_run(
    engine: Engine,
    *,
    run_id: str,
    status: str,
    inserted: int,
    updated: int,
    rejected: int,
    details: dict[str, Any],
) -> None:
    """Close a run with its final status and counts.

    Raises:
        ValueError: ``status`` is not a final status.
    """
    if status not in RUN_STATUSES or status == "running":
        raise ValueError(f"final status must be succeeded, partial or failed, got {status!r}")
    with engine.begin() as connection:
        update_run(
            connection,
            run_id=run_id,
            inserted=inserted,
            updated=updated,
            rejected=rejected,
            details=details,
        )
        connection.execute(
            update(ingestion_runs)
            .where(ingestion_runs.c.run_id == run_id)
            .values(status=status, finished_at=utc_now())
        )


def _run_record(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        source=row["source"],
        started_at=as_utc(row["started_at"]),  # type: ignore[arg-type]
        finished_at=as_utc(row["finished_at"]),
        status=row["status"],
        rows_inserted=row["rows_inserted"],
        rows_updated=row["rows_updated"],
        rows_rejected=row["rows_rejected"],
        details=row["details"] or {},
    )


def get_run(engine: Engine, *, run_id: str) -> RunRecord | None:
    """One run of the log, or None."""
    with engine.connect() as connection:
        row = (
            connection.execute(select(ingestion_runs).where(ingestion_runs.c.run_id == run_id))
            .mappings()
            .first()
        )
    return None if row is None else _run_record(row)


def list_runs(engine: Engine, *, source: str | None = None, limit: int = 50) -> list[RunRecord]:
    """The newest runs first, optionally of one source."""
    query = select(ingestion_runs).order_by(ingestion_runs.c.started_at.desc()).limit(limit)
    if source is not None:
        query = query.where(ingestion_runs.c.source == source)
    with engine.connect() as connection:
        return [_run_record(row) for row in connection.execute(query).mappings()]


# -- source objects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceObject:
    """What is remembered of one source object (an S3 object, a file, an API listing)."""

    source: str
    key: str
    etag: str
    size: int | None
    rows: int | None
    detail: Any
    ingested_at: datetime


def get_source_object(
    connection: Connection | Engine, *, source: str, key: str
) -> SourceObject | None:
    """The memory of one object, or None if it was never ingested."""
    query = select(source_objects).where(
        source_objects.c.source == source, source_objects.c.key == key
    )
    with connected(connection) as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return SourceObject(
        source=row["source"],
        key=row["key"],
        etag=row["etag"],
        size=row["size"],
        rows=row["rows"],
        detail=row["detail"],
        ingested_at=as_utc(row["ingested_at"]),  # type: ignore[arg-type]
    )


def remember_source_object(
    connection: Connection,
    *,
    source: str,
    key: str,
    etag: str,
    size: int | None = None,
    rows: int | None = None,
    detail: Any = None,
) -> None:
    """Record (or refresh) that an object was ingested, inside the caller's transaction."""
    values = {
        "source": source,
        "key": key,
        "etag": etag,
        "size": size,
        "rows": rows,
        "detail": detail,
        "ingested_at": utc_now(),
    }
    statement = _upsert(connection, source_objects).values(**values)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["source", "key"],
            set_={k: statement.excluded[k] for k in values if k not in ("source", "key")},
        )
    )
