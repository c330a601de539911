"""What the Mage ingestion blocks call: variables in, summary frames out, stored data checked.

Mage passes pipeline variables as primitives (a list may arrive as a JSON list or as a
comma-separated string), so the parsing lives here, tested, rather than in the blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from hourcast.ingestion.openaq import DEFAULT_OVERLAP, ingest_openaq
from hourcast.ingestion.openaq_sensors import OpenAQSelection
from hourcast.ingestion.outcome import IngestionError, RunOutcome
from hourcast.ingestion.quality import check_observations
from hourcast.ingestion.traffic import ingest_traffic
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import latest_observations, load_observations
from hourcast.storage.schema import series as series_table
from hourcast.timeutil import parse_instant

__all__ = [
    "SUMMARY_COLUMNS",
    "ingested_observations",
    "migrated_engine",
    "quality_issues",
    "run_openaq_from_variables",
    "run_traffic_from_variables",
    "selection_from_variables",
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


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple | set):
        return [str(part).strip() for part in value if str(part).strip()]
    return [str(value)]


def _ints(value: Any, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in _items(value))
    except ValueError:
        raise ValueError(f"{name}: expected integers, got {value!r}") from None


def _instant(value: Any, name: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_instant(str(value), field=name).to_pydatetime()


def selection_from_variables(variables: Mapping[str, Any]) -> OpenAQSelection:
    """An :class:`OpenAQSelection` from pipeline variables.

    Reads ``locations`` and ``sensors`` (ids), ``parameters`` (names), and optionally
    ``coordinates`` (``"lat,lon"``) with ``radius_m``, ``bbox`` and ``iso``.

    Raises:
        ValueError: A variable cannot be read; the message names it.
    """
    coordinates = [float(x) for x in _items(variables.get("coordinates"))] or None
    bbox = [float(x) for x in _items(variables.get("bbox"))] or None
    radius = variables.get("radius_m")
    return OpenAQSelection(
        locations=_ints(variables.get("locations"), "locations"),
        coordinates=tuple(coordinates) if coordinates else None,  # type: ignore[arg-type]
        radius_m=int(radius) if radius not in (None, "") else None,
        bbox=tuple(bbox) if bbox else None,  # type: ignore[arg-type]
        iso=str(variables["iso"]) if variables.get("iso") else None,
        parameters=tuple(p.lower() for p in _items(variables.get("parameters"))),
        sensors=_ints(variables.get("sensors"), "sensors"),
    )


def migrated_engine(settings: Settings) -> Engine:
    """An engine on the observation store, migrated to the newest revision."""
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    return engine


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


def run_openaq_from_variables(variables: Mapping[str, Any], *, settings: Settings) -> RunOutcome:
    """Run an OpenAQ ingestion configured by pipeline variables.

    Variables: those of :func:`selection_from_variables`, plus ``backfill_start``
    (default: 30 days before ``until``), ``until`` (default: now) and ``overlap_hours``
    (default 3).
    """
    until = _instant(variables.get("until"), "until")
    start = _instant(variables.get("backfill_start"), "backfill_start")
    if start is None:
        start = (until or pd.Timestamp.now(tz="UTC").to_pydatetime()) - timedelta(days=30)
    overlap = variables.get("overlap_hours")
    return ingest_openaq(
        migrated_engine(settings),
        settings=settings,
        selection=selection_from_variables(variables),
        backfill_start=start,
        until=until,
        overlap=DEFAULT_OVERLAP if overlap in (None, "") else timedelta(hours=float(overlap)),
    )


def run_traffic_from_variables(variables: Mapping[str, Any], *, settings: Settings) -> RunOutcome:
    """Run a traffic ingestion of ``source`` (default ``HOURCAST_TRAFFIC_SOURCE``).

    A run that failed as a whole is returned, not raised, so the block's tests report it.
    """
    source = str(variables.get("source") or "") or None
    try:
        result = ingest_traffic(migrated_engine(settings), settings=settings, source=source)
    except IngestionError as exc:
        return exc.outcome
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
