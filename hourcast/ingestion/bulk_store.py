"""Writes of many OpenAQ series at once: registration, watermarks and hourly upserts.

The steady-state run touches every selected sensor each hour and the archive backfill
thousands of hours per transaction, so these take whole batches in a few statements instead
of one round trip per series. They keep the semantics of
:func:`hourcast.storage.observations.upsert_observations` (a row is only rewritten when its
value changed) and of :func:`hourcast.storage.ingestion_state.set_watermark` (a watermark
never moves back), and write inside the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from hourcast.ingestion.openaq_sensors import SensorTarget
from hourcast.storage.ingestion_state import as_utc, utc_now
from hourcast.storage.observations import UpsertResult, upsert_observations
from hourcast.storage.schema import ingestion_watermarks, observations, series

__all__ = ["HourRow", "move_watermarks", "register_targets", "upsert_hours", "watermarks_of"]

HourRow = tuple[str, datetime, float | None]
"""``(series_id, hour start UTC, value)``."""

_BATCH = 1000


def _insert(connection: Connection) -> Any:
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[connection.dialect.name]


def register_targets(connection: Connection, targets: Iterable[SensorTarget]) -> None:
    """Register the series of the sensors not registered yet (registered ones stay as they are)."""
    wanted = {t.series_id: t for t in targets}
    ids = list(wanted)
    for start in range(0, len(ids), _BATCH):
        query = select(series.c.series_id).where(
            series.c.series_id.in_(ids[start : start + _BATCH])
        )
        for known in connection.execute(query).scalars():
            del wanted[known]
    rows = []
    for target in wanted.values():
        spec = target.spec()
        rows.append(
            {
                "series_id": spec.series_id,
                "source": spec.source,
                "location": spec.location,
                "sensor": str(target.sensor_id),
                "parameter": spec.parameter,
                "units": spec.units,
                "latitude": target.latitude,
                "longitude": target.longitude,
                "timezone": spec.timezone,
            }
        )
    if rows:
        # executemany: compiled once, sent in batches (SQLAlchemy's insertmanyvalues).
        statement = _insert(connection)(series).on_conflict_do_nothing(index_elements=["series_id"])
        connection.execute(statement, rows)


def watermarks_of(connection: Connection, series_ids: Sequence[str]) -> dict[str, datetime]:
    """Newest stored hour (the watermark) of each series that has one."""
    marks: dict[str, datetime] = {}
    for start in range(0, len(series_ids), _BATCH):
        chunk = list(series_ids[start : start + _BATCH])
        query = select(ingestion_watermarks.c.series_id, ingestion_watermarks.c.last_ts).where(
            ingestion_watermarks.c.series_id.in_(chunk)
        )
        for series_id, last_ts in connection.execute(query):
            marks[series_id] = as_utc(last_ts)  # type: ignore[assignment]
    return marks


def move_watermarks(
    connection: Connection, marks: dict[str, tuple[datetime, datetime | None]]
) -> None:
    """Move watermarks forward to ``(last_ts, history_start)``; one never moves back.

    A stored ``history_start`` is kept; a new watermark takes the one given.
    """
    rows = [
        {"series_id": s, "last_ts": last, "history_start": first, "updated_at": utc_now()}
        for s, (last, first) in marks.items()
    ]
    if not rows:
        return
    table = ingestion_watermarks
    statement = _insert(connection)(table)
    excluded = statement.excluded
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["series_id"],
            set_={
                "last_ts": excluded.last_ts,
                "history_start": func.coalesce(table.c.history_start, excluded.history_start),
                "updated_at": excluded.updated_at,
            },
            where=excluded.last_ts > table.c.last_ts,
        )
        # RETURNING makes SQLAlchemy batch the rows (insertmanyvalues) instead of psycopg2's
        # executemany, which sends them one by one.
        .returning(table.c.series_id),
        rows,
    )


def upsert_hours(connection: Connection, rows: Sequence[HourRow]) -> UpsertResult:
    """Insert or update hourly values of many series, inside the caller's transaction.

    Args:
        connection: Open connection; the caller owns the transaction.
        rows: ``(series_id, hour start, value)``, series registered, no key repeated.

    Returns:
        Inserted, updated and unchanged hours.
    """
    if connection.dialect.name != "postgresql":
        return _upsert_per_series(connection, rows)
    if not rows:
        return UpsertResult()
    params = [{"series_id": s, "ts": ts, "value": v} for s, ts, v in rows]
    statement = postgresql.insert(observations)
    excluded = statement.excluded
    upsert = statement.on_conflict_do_update(
        index_elements=["series_id", "ts"],
        set_={"value": excluded.value, "updated_at": func.now()},
        where=observations.c.value.is_distinct_from(excluded.value),
    ).returning(observations.c.ingested_at == func.now())
    # executemany with RETURNING: one compiled statement, rows sent in batches; a row comes
    # back only when it was inserted (ingested in this transaction: now() is its start; the
    # xmax trick does not work on a partitioned table) or its value changed.
    flags = list(connection.execute(upsert, params).scalars())
    inserted = sum(1 for flag in flags if flag)
    return UpsertResult(inserted, len(flags) - inserted, len(rows) - len(flags))


def _upsert_per_series(connection: Connection, rows: Sequence[HourRow]) -> UpsertResult:
    grouped: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
    for series_id, ts, value in rows:
        grouped[series_id].append((ts, value))
    result = UpsertResult()
    for series_id, hours in grouped.items():
        frame = pd.DataFrame(
            {
                "ts": pd.to_datetime([ts for ts, _ in hours], utc=True),
                "value": [float("nan") if v is None else v for _, v in hours],
            }
        )
        result = result + upsert_observations(connection, series_id=series_id, frame=frame)
    return result
