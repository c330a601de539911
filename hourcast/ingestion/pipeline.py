"""What the Mage ingestion blocks call: a run, its summary frame, the stored data checked.

The blocks read their variables with :mod:`hourcast.pipeline_variables`; the pipeline's first
block has migrated the store (``migrate_store``), so nothing here migrates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, select

from hourcast.ingestion.openaq import DEFAULT_OVERLAP, ingest_openaq
from hourcast.ingestion.openaq_latest import ingest_openaq_latest
from hourcast.ingestion.openaq_sensors import OpenAQSelection, openaq_client
from hourcast.ingestion.outcome import IngestionError, RunOutcome
from hourcast.ingestion.quality import check_observations
from hourcast.ingestion.traffic import ingest_traffic
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine
from hourcast.storage.observations import latest_observations, load_observations
from hourcast.storage.schema import series as series_table

__all__ = [
    "SUMMARY_COLUMNS",
    "ingested_observations",
    "quality_issues",
    "run_openaq",
    "run_traffic",
    "summary_frame",
]

SUMMARY_COLUMNS = [
    "run_id",
    "status",
    "series_id",
    "parameter",
    "units",
    "inserted",
    "updated",
    "rejected",
    "error",
    "first_ts",
    "last_ts",
]


def summary_frame(outcome: RunOutcome) -> pd.DataFrame:
    """One row per series of a run (columns :data:`SUMMARY_COLUMNS`)."""
    rows = [
        {
            "run_id": outcome.run_id,
            "status": outcome.status,
            "series_id": s.series_id,
            "parameter": s.parameter,
            "units": s.units,
            "inserted": s.inserted,
            "updated": s.updated,
            "rejected": s.rejected,
            "error": s.error or outcome.error,
            "first_ts": s.first_ts,
            "last_ts": s.last_ts,
        }
        for s in outcome.series
    ]
    if not rows:
        rows = [{"run_id": outcome.run_id, "status": outcome.status, "error": outcome.error}]
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for column in ("first_ts", "last_ts"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def run_openaq(
    *,
    settings: Settings,
    selection: OpenAQSelection,
    backfill_start: datetime | None = None,
    until: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    mode: str = "hours",
    gap_budget: int | None = None,
) -> RunOutcome:
    """Run an OpenAQ ingestion of ``selection`` into the store of ``settings``.

    Args:
        settings (Settings): The observation store and the OpenAQ API.
        selection (OpenAQSelection): The sensors.
        backfill_start (datetime | None): Where a new sensor's history starts. Defaults to
            30 days before ``until``.
        until (datetime | None): End of the pulled window, exclusive. Defaults to now.
        overlap (timedelta): Re-read before the watermark. Defaults to 3 hours.
        mode (str): ``hours`` (each sensor's ``/hours`` from its watermark) or ``latest``
            (the hourly steady state: ``/latest`` for all, ``/hours`` for gaps).
        gap_budget (int | None): ``/hours`` requests a ``latest`` run may spend on gaps;
            None is ``HOURCAST_OPENAQ_GAP_BUDGET``.
    """
    if mode == "latest":
        budget = settings.openaq_gap_budget if gap_budget is None else gap_budget
        engine = create_db_engine(settings.resolved_database_url)
        try:
            with openaq_client(settings) as client:
                return ingest_openaq_latest(
                    engine, client=client, selection=selection, gap_budget=budget, overlap=overlap
                )
        finally:
            engine.dispose()
    if backfill_start is None:
        backfill_start = (until or pd.Timestamp.now(tz="UTC").to_pydatetime()) - timedelta(days=30)
    engine = create_db_engine(settings.resolved_database_url)
    try:
        return ingest_openaq(
            engine,
            settings=settings,
            selection=selection,
            backfill_start=backfill_start,
            until=until,
            overlap=overlap,
        )
    finally:
        engine.dispose()


def run_traffic(*, settings: Settings, source: str | None = None) -> RunOutcome:
    """Run a traffic ingestion of ``source`` (default ``HOURCAST_TRAFFIC_SOURCE``).

    A run that failed as a whole is returned, not raised, so the block's tests report it.
    """
    engine = create_db_engine(settings.resolved_database_url)
    try:
        result = ingest_traffic(engine, settings=settings, source=source)
    except IngestionError as exc:
        return exc.outcome
    finally:
        engine.dispose()
    assert result.outcome is not None  # always set by ingest_traffic
    return result.outcome


def _series_facts(engine: Engine, series_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    query = select(series_table.c.series_id, series_table.c.parameter, series_table.c.units)
    with engine.connect() as connection:
        rows = connection.execute(query.where(series_table.c.series_id.in_(series_ids))).all()
    return {row.series_id: (row.parameter, row.units) for row in rows}


def ingested_observations(
    engine: Engine, *, summary: pd.DataFrame, fallback_hours: int = 168
) -> pd.DataFrame:
    """The stored observations a run touched, to check them.

    For each series of ``summary``: its hours between ``first_ts`` and ``last_ts``, or, when
    the run stored nothing new, its latest ``fallback_hours`` hours.

    Returns:
        pd.DataFrame: ``series_id``, ``parameter``, ``units``, ``ts``, ``value``.
    """
    rows = summary.dropna(subset=["series_id"])
    facts = _series_facts(engine, [str(s) for s in rows["series_id"]])
    frames = []
    for series_id, first, last in zip(
        rows["series_id"], rows["first_ts"], rows["last_ts"], strict=True
    ):
        if series_id not in facts:
            continue
        if pd.isna(first):
            stored = latest_observations(engine, series_id=series_id, hours=fallback_hours)
        else:
            stored = load_observations(
                engine, series_id=series_id, start=pd.Timestamp(first), end=pd.Timestamp(last)
            )
        parameter, units = facts[series_id]
        frames.append(stored.assign(series_id=series_id, parameter=parameter, units=units))
    columns = ["series_id", "parameter", "units", "ts", "value"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def quality_issues(frame: pd.DataFrame, *, max_null_ratio: float = 0.5) -> list[str]:
    """Every failed check of every series in ``frame`` (see :func:`ingested_observations`)."""
    issues = []
    for series_id, group in frame.groupby("series_id"):
        parameter, units = group["parameter"].iloc[0], group["units"].iloc[0]
        found = check_observations(
            group,
            parameter=str(parameter),
            units=None if pd.isna(units) else str(units),
            max_null_ratio=max_null_ratio,
        )
        issues += [f"{series_id}: {issue.check}: {issue.detail}" for issue in found]
    return issues
