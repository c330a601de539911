"""Keyword-only data access for series and hourly observations.

Writes are upserts keyed by (series_id, hour): re-running an ingestion never duplicates a
row, and a row is only rewritten when its value or covariates changed.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from hourcast.series import SeriesSpec
from hourcast.storage.db import connected
from hourcast.storage.schema import observations, series

__all__ = [
    "StoredSeries",
    "UpsertResult",
    "latest_observations",
    "list_series",
    "load_observations",
    "load_series",
    "register_series",
    "upsert_observations",
]

_BATCH_ROWS = 1000


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did: new hours, changed hours, and hours already stored as given."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


def _dialect_insert(connection: Connection) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert
    if connection.dialect.name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"upserts are not implemented for {connection.dialect.name}")


def register_series(
    connection: Connection,
    *,
    spec: SeriesSpec,
    sensor: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> None:
    """Create the series row, or refresh its descriptive columns."""
    values = {
        "series_id": spec.series_id,
        "source": spec.source,
        "location": spec.location,
        "sensor": sensor,
        "parameter": spec.parameter,
        "units": spec.units,
        "latitude": latitude,
        "longitude": longitude,
        "timezone": spec.timezone,
    }
    statement = _dialect_insert(connection)(series).values(**values)
    updatable = {k: statement.excluded[k] for k in values if k != "series_id"}
    connection.execute(
        statement.on_conflict_do_update(index_elements=["series_id"], set_=updatable)
    )


@dataclass(frozen=True)
class StoredSeries:
    """The descriptive columns of one row of the ``series`` table."""

    series_id: str
    source: str
    parameter: str
    timezone: str
    units: str | None = None
    location: str | None = None


_SERIES_COLUMNS = (
    series.c.series_id,
    series.c.source,
    series.c.parameter,
    series.c.timezone,
    series.c.units,
    series.c.location,
)


def load_series(engine: Engine | Connection, *, series_id: str) -> StoredSeries | None:
    """The stored description of ``series_id``, or None if it is not registered."""
    query = select(*_SERIES_COLUMNS).where(series.c.series_id == series_id)
    with connected(engine) as connection:
        row = connection.execute(query).first()
    return None if row is None else StoredSeries(*row)


def list_series(
    engine: Engine | Connection, *, source: str, parameter: str | None = None
) -> list[StoredSeries]:
    """The stored series of one source and parameter (every parameter if None), by id."""
    query = select(*_SERIES_COLUMNS).where(series.c.source == source)
    if parameter is not None:
        query = query.where(series.c.parameter == parameter)
    with connected(engine) as connection:
        rows = connection.execute(query.order_by(series.c.series_id)).all()
    return [StoredSeries(*row) for row in rows]


def _to_utc_datetime(ts: Any) -> datetime:
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        raise ValueError(f"timestamp {stamp} has no time zone; observations are stored in UTC")
    return stamp.tz_convert("UTC").to_pydatetime()


def _clean_value(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _utc_hours(column: pd.Series) -> pd.DatetimeIndex:
    """The ``ts`` column as UTC hour starts, validated (vectorised for a tz-aware column)."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        index = pd.DatetimeIndex(column).tz_convert("UTC")
    else:  # objects, e.g. Timestamps of mixed offsets or naive ones (refused, one by one)
        index = pd.DatetimeIndex([_to_utc_datetime(ts) for ts in column]).tz_convert("UTC")
    if (index != index.floor("h")).any():
        raise ValueError("observation timestamps must be hour starts")
    if index.has_duplicates:
        raise ValueError("observation timestamps repeat within one upsert")
    return index


def upsert_observations(
    connection: Connection, *, series_id: str, frame: pd.DataFrame
) -> UpsertResult:
    """Insert or update hourly observations of one series inside the caller's transaction.

    On PostgreSQL (psycopg2) the rows are COPYed into a temporary staging table and upserted
    from it in one ``INSERT ... ON CONFLICT`` statement; elsewhere (SQLite) they are upserted
    in batches of multi-row inserts. Both only rewrite an hour whose value or covariates
    changed, and both run in the caller's transaction, so a failure stores nothing of it.

    Args:
        connection (Connection): An open connection; the caller owns the transaction.
        series_id (str): A registered series.
        frame (pd.DataFrame): Columns ``ts`` (UTC-aware hour starts, unique), ``value`` (float,
            NaN allowed) and optionally ``covariates`` (dict or None per row).

    Returns:
        UpsertResult: Counts of inserted, updated and unchanged hours.

    Raises:
        ValueError: Timestamps are naive, not on the hour, or repeated.
    """
    if frame.empty:
        return UpsertResult()
    stamps = _utc_hours(frame["ts"])
    covariates = frame["covariates"].tolist() if "covariates" in frame else [None] * len(frame)
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg2":
        return _copy_upsert(connection, series_id, stamps, frame["value"], covariates)
    rows = [
        {"series_id": series_id, "ts": ts, "value": _clean_value(v), "covariates": c}
        for ts, v, c in zip(
            stamps.to_pydatetime(), frame["value"].tolist(), covariates, strict=True
        )
    ]
    result = UpsertResult()
    for start in range(0, len(rows), _BATCH_ROWS):
        result = result + _upsert_batch(connection, series_id, rows[start : start + _BATCH_ROWS])
    return result


def _upsert_batch(
    connection: Connection, series_id: str, rows: list[dict[str, Any]]
) -> UpsertResult:
    stamps = [row["ts"] for row in rows]
    existing_query = select(func.count()).where(
        observations.c.series_id == series_id,
        observations.c.ts.in_(stamps),
    )
    existing = int(connection.execute(existing_query).scalar_one())
    statement = _dialect_insert(connection)(observations).values(rows)
    excluded = statement.excluded
    changed = observations.c.value.is_distinct_from(excluded.value) | (
        observations.c.covariates.is_distinct_from(excluded.covariates)
    )
    statement = statement.on_conflict_do_update(
        index_elements=["series_id", "ts"],
        set_={
            "value": excluded.value,
            "covariates": excluded.covariates,
            "updated_at": func.now(),
        },
        where=changed,
    )
    touched = connection.execute(statement).rowcount
    inserted = len(rows) - existing
    updated = max(touched - inserted, 0)
    return UpsertResult(inserted=inserted, updated=updated, unchanged=existing - updated)


# A temporary table lives as long as the database session (a pooled connection); it is
# emptied before each load, and at commit.
_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS observations_staging "
    "(ts TIMESTAMPTZ NOT NULL, value DOUBLE PRECISION, covariates JSONB) ON COMMIT DELETE ROWS"
)
_COPY = "COPY observations_staging (ts, value, covariates) FROM STDIN WITH (FORMAT csv)"
# Hours already stored (counted before the upsert: a partitioned table cannot return xmax,
# the usual way to tell inserted rows from updated ones).
_EXISTING = """
SELECT count(*) FROM observations o JOIN observations_staging s
    ON o.series_id = %(series_id)s AND o.ts = s.ts
"""
_UPSERT = """
INSERT INTO observations AS o (series_id, ts, value, covariates)
SELECT %(series_id)s, ts, value, covariates FROM observations_staging
ON CONFLICT (series_id, ts) DO UPDATE
    SET value = EXCLUDED.value, covariates = EXCLUDED.covariates, updated_at = now()
    WHERE o.value IS DISTINCT FROM EXCLUDED.value
       OR o.covariates IS DISTINCT FROM EXCLUDED.covariates
"""


def _csv(stamps: pd.DatetimeIndex, values: pd.Series, covariates: list[Any]) -> io.StringIO:
    """The rows as CSV for COPY: an empty field is NULL (a NaN value, no covariates)."""
    table = pd.DataFrame(
        {
            "ts": stamps.strftime("%Y-%m-%d %H:%M:%S+00"),
            "value": pd.to_numeric(values, errors="raise").to_numpy(dtype=float),
            "covariates": [None if c is None else json.dumps(c) for c in covariates],
        }
    )
    buffer = io.StringIO()
    table.to_csv(buffer, header=False, index=False, na_rep="", float_format="%.17g")
    buffer.seek(0)
    return buffer


def _copy_upsert(
    connection: Connection,
    series_id: str,
    stamps: pd.DatetimeIndex,
    values: pd.Series,
    covariates: list[Any],
) -> UpsertResult:
    """COPY into the staging table, then one upsert from it (PostgreSQL, psycopg2)."""
    # Statements through SQLAlchemy (its errors, events and logging); COPY needs the driver's
    # own cursor, on the same connection and transaction.
    connection.exec_driver_sql(_STAGING)
    connection.exec_driver_sql("TRUNCATE observations_staging")
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection has no open database connection")
    with driver.cursor() as cursor:
        cursor.copy_expert(_COPY, _csv(stamps, values, covariates))
    parameters = {"series_id": series_id}
    existing = int(connection.exec_driver_sql(_EXISTING, parameters).scalar_one())
    touched = connection.exec_driver_sql(_UPSERT, parameters).rowcount
    inserted = len(stamps) - existing
    updated = touched - inserted
    return UpsertResult(inserted=inserted, updated=updated, unchanged=existing - updated)


def _frame_from_rows(rows: list[Any], with_covariates: bool) -> pd.DataFrame:
    columns = ["ts", "value", "covariates"] if with_covariates else ["ts", "value"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["value"] = frame["value"].astype(float)
    return frame.sort_values("ts", ignore_index=True)


def load_observations(
    engine: Engine | Connection,
    *,
    series_id: str,
    start: datetime | pd.Timestamp | None = None,
    end: datetime | pd.Timestamp | None = None,
    with_covariates: bool = False,
) -> pd.DataFrame:
    """Observations of one series with ``start <= ts <= end`` (both optional), oldest first.

    Returns:
        pd.DataFrame: ``ts`` (UTC-aware), ``value`` (float, NaN for null) and, if asked,
        ``covariates``.
    """
    columns = [observations.c.ts, observations.c.value]
    if with_covariates:
        columns.append(observations.c.covariates)
    query = select(*columns).where(observations.c.series_id == series_id)
    if start is not None:
        query = query.where(observations.c.ts >= _to_utc_datetime(start))
    if end is not None:
        query = query.where(observations.c.ts <= _to_utc_datetime(end))
    with connected(engine) as connection:
        rows = connection.execute(query.order_by(observations.c.ts)).all()
    return _frame_from_rows([tuple(r) for r in rows], with_covariates)


def latest_observations(engine: Engine, *, series_id: str, hours: int) -> pd.DataFrame:
    """The observations of the last ``hours`` hours of the series (up to its newest hour)."""
    with engine.connect() as connection:
        newest = connection.execute(
            select(func.max(observations.c.ts)).where(observations.c.series_id == series_id)
        ).scalar_one_or_none()
    if newest is None:
        return _frame_from_rows([], with_covariates=False)
    newest_ts = pd.Timestamp(newest)
    newest_ts = newest_ts.tz_localize("UTC") if newest_ts.tzinfo is None else newest_ts
    return load_observations(
        engine, series_id=series_id, start=newest_ts - pd.Timedelta(hours=hours - 1)
    )
