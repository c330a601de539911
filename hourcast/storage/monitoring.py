"""Data access of the monitor: the forecasts it scores and the tables it writes (migration 0005).

The monitor (:mod:`hourcast.monitoring`) reads the prediction log, writes one row per model
version, series and horizon step to ``monitoring_metrics`` (plus the rows over every series
and every step, where those columns are null), one row per series to ``monitoring_drift``,
and every retraining it found due to ``retrain_decisions``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, func, select, text

from hourcast.storage.db import connected
from hourcast.storage.schema import (
    monitoring_drift,
    monitoring_metrics,
    prediction_log,
    retrain_decisions,
)

__all__ = [
    "FORECAST_COLUMNS",
    "insert_rows",
    "last_started_retrain",
    "latest_drift",
    "latest_metrics",
    "metrics_history",
    "retrain_lock",
    "served_forecasts",
]

FORECAST_COLUMNS = (
    "model_version",
    "series_id",
    "served_at",
    "origin",
    "forecast",
    "intervals",
)


def served_forecasts(
    bind: Engine | Connection, *, model_name: str, since: datetime, until: datetime
) -> pd.DataFrame:
    """The forecasts of ``model_name`` served from ``since`` to ``until``, newest per origin.

    The API logs every request, so one forecast (same version, series and origin) is often
    logged many times; the newest of them stands for all, so a popular series does not weigh
    more in the rolling metrics than a quiet one.

    Returns:
        pd.DataFrame: :data:`FORECAST_COLUMNS`; ``forecast`` holds the point forecasts (hour 1
        first) and ``intervals`` ``{"80": {"lower": [...], "upper": [...]}}``.
    """
    log = prediction_log.c
    newest_first = func.row_number().over(
        partition_by=(log.model_version, log.series_id, log.origin),
        order_by=(log.served_at.desc(), log.id.desc()),
    )
    ranked = (
        select(*(log[name] for name in FORECAST_COLUMNS), newest_first.label("rank"))
        .where(log.model_name == model_name, log.served_at >= since, log.served_at <= until)
        .subquery()
    )
    query = (
        select(*(ranked.c[name] for name in FORECAST_COLUMNS))
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.series_id, ranked.c.origin)
    )
    with connected(bind) as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(FORECAST_COLUMNS))
    for column in ("served_at", "origin"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into one of the monitoring tables, in the caller's transaction."""
    if table not in (monitoring_metrics, monitoring_drift, retrain_decisions):
        raise ValueError(f"not a monitoring table: {table.name}")
    if rows:
        connection.execute(table.insert(), [dict(row) for row in rows])


@contextmanager
def retrain_lock(connection: Connection, target: str) -> Iterator[None]:
    """Hold the retraining decision of ``target`` until the caller's transaction ends.

    Two monitor runs at once (an hourly run and one started by hand) must not both find the
    cooldown over and both start a training. On PostgreSQL a transaction-level advisory lock
    makes the second wait for the first's decision; SQLite writes one transaction at a time.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"hourcast-retrain:{target}"},
        )
    yield


def last_started_retrain(connection: Connection, target: str) -> tuple[datetime, int | None] | None:
    """When the monitor last started a retraining of ``target`` (and the Mage run), or None."""
    decisions = retrain_decisions.c
    row = connection.execute(
        select(decisions.decided_at, decisions.mage_run_id)
        .where(decisions.target == target, decisions.outcome == "started")
        .order_by(decisions.decided_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    decided = pd.Timestamp(row[0])  # SQLite gives it back without its zone (stored as UTC)
    decided = decided.tz_localize("UTC") if decided.tzinfo is None else decided.tz_convert("UTC")
    return decided.to_pydatetime(), row[1]


def _latest_run(bind: Engine | Connection, table: Table) -> pd.DataFrame:
    newest = select(func.max(table.c.computed_at)).scalar_subquery()
    query = select(table).where(table.c.computed_at == newest).order_by(table.c.id)
    with connected(bind) as connection:
        rows = connection.execute(query).mappings().all()
    return pd.DataFrame([dict(row) for row in rows], columns=list(table.c.keys()))


def latest_metrics(bind: Engine | Connection) -> pd.DataFrame:
    """The rows of ``monitoring_metrics`` that the newest monitor run wrote."""
    return _latest_run(bind, monitoring_metrics)


def latest_drift(bind: Engine | Connection) -> pd.DataFrame:
    """The rows of ``monitoring_drift`` that the newest monitor run wrote."""
    return _latest_run(bind, monitoring_drift)


def metrics_history(bind: Engine | Connection, *, since: datetime) -> pd.DataFrame:
    """Per monitor run since ``since`` and target: the figures of the version in use.

    The version in use is the one the run measured drift for (the one served last).

    Returns:
        pd.DataFrame: ``computed_at``, ``target``, ``model_version``, ``scored_hours``,
        ``mae``, ``backtest_mae``, ``coverage`` (the rolling figures over every series and
        step) and ``psi`` (the largest of the target's series; NaN if none could be
        computed), oldest run first.
    """
    metrics, drift = monitoring_metrics.c, monitoring_drift.c
    worst = (
        select(
            drift.monitor_run_id,
            drift.target,
            drift.model_version,
            func.max(drift.psi).label("psi"),
        )
        .where(drift.computed_at >= since)
        .group_by(drift.monitor_run_id, drift.target, drift.model_version)
        .subquery()
    )
    query = (
        select(
            metrics.computed_at,
            metrics.target,
            metrics.model_version,
            metrics.scored_hours,
            metrics.mae,
            metrics.backtest_mae,
            metrics.coverage,
            worst.c.psi,
        )
        .join(
            worst,
            (worst.c.monitor_run_id == metrics.monitor_run_id)
            & (worst.c.target == metrics.target)
            & (worst.c.model_version == metrics.model_version),
        )
        .where(metrics.series_id.is_(None), metrics.step.is_(None), metrics.computed_at >= since)
        .order_by(metrics.computed_at, metrics.target)
    )
    with connected(bind) as connection:
        rows = connection.execute(query).all()
    columns = [
        "computed_at",
        "target",
        "model_version",
        "scored_hours",
        "mae",
        "backtest_mae",
        "coverage",
        "psi",
    ]
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    frame["computed_at"] = pd.to_datetime(frame["computed_at"], utc=True)
    for column in ("mae", "backtest_mae", "psi"):
        frame[column] = frame[column].astype(float)
    return frame
