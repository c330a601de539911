"""Incremental, idempotent ingestion of OpenAQ v3 hourly records into the observation store.

A run resolves a selection of locations (ids, coordinates + radius, bbox or country) to the
sensors measuring the wanted parameters, registers one series per sensor
(``openaq:<sensor_id>``) and pulls ``/v3/sensors/{id}/hours``:

* the first run of a sensor pulls ``[backfill_start, until)`` in pages of 1000;
* later runs pull ``[watermark - overlap, until)``: late or corrected hours inside the
  overlap are upserted, never duplicated;
* an earlier ``backfill_start`` than the one loaded extends the history once.

Each page is upserted and the watermark advanced in one transaction, so a process killed
between pages keeps every page it stored and the next run resumes from there. Pages come
oldest first (as the API sends them), which is what makes "newest stored hour" a safe
resume point.

Records the parser rejects (bad timestamps, non-numeric values, unknown units, an hour
repeated in a page) and records that contradict the series (other units or parameter, a
physically implausible value, an hour in the future) are counted per reason in the run log
and never stored. A sensor whose requests keep failing after the client's retries is logged
with its error; the other sensors still load and the run ends ``partial``.

Which sensors a selection covers is in :mod:`hourcast.ingestion.openaq_sensors`;
:func:`ingest_openaq` is the entry point the CLI and the Mage blocks call.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from hourcast.ingestion.openaq_sensors import (
    DEFAULT_DISCOVERY_MAX_AGE,
    OPENAQ_SOURCE,
    OpenAQSelection,
    SensorTarget,
    discover_sensors,
    openaq_client,
)
from hourcast.ingestion.outcome import (
    NullProgress,
    Progress,
    RunOutcome,
    SeriesOutcome,
    end_run,
    log_progress,
    logged_run,
)
from hourcast.ingestion.quality import accepted_range
from hourcast.settings import Settings
from hourcast.sources.openaq import HourlyRecord, OpenAQClient, OpenAQError, ParsedPage
from hourcast.storage.ingestion_state import as_utc, get_watermark, set_watermark, utc_now
from hourcast.storage.observations import register_series, upsert_observations

__all__ = [
    "DEFAULT_OVERLAP",
    "ingest_openaq",
    "ingest_openaq_sensors",
    "ingest_sensor_hours",
    "ingest_sensor_of_run",
]

logger = logging.getLogger(__name__)

DEFAULT_OVERLAP = timedelta(hours=3)
_HOUR = timedelta(hours=1)


def _accept(
    record: HourlyRecord, target: SensorTarget, now: datetime, outcome: SeriesOutcome
) -> bool:
    """Reject what the parser let through but the series cannot hold."""
    if record.units != target.units:
        outcome.reject("units mismatch", f"{record.units!r} for a {target.units} series")
        return False
    if record.parameter is not None and record.parameter.lower() != target.parameter.lower():
        outcome.reject("parameter mismatch", f"{record.parameter!r} in a {target.parameter} series")
        return False
    if record.ts > now:
        outcome.reject("future timestamp", f"hour {record.ts.isoformat()} is after now")
        return False
    bounds = accepted_range(target.parameter, target.units)
    if bounds is not None and record.value is not None:
        low, high = bounds
        if not low <= record.value <= high:
            detail = f"{record.value:g} {target.units} at {record.ts.isoformat()}"
            outcome.reject("implausible value", detail)
            return False
    return True


def _store_page(
    engine: Engine,
    *,
    page: ParsedPage,
    target: SensorTarget,
    outcome: SeriesOutcome,
    history_start: datetime | None,
    now: datetime,
) -> datetime | None:
    """Upsert one page and move the watermark in one transaction; return its newest hour."""
    for rejected in page.rejected:
        outcome.reject(rejected.reason.value, rejected.detail)
    records = [r for r in page.records if _accept(r, target, now, outcome)]
    outcome.pages += 1
    if not records:
        return None
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime([r.ts for r in records], utc=True),
            "value": [float("nan") if r.value is None else r.value for r in records],
        }
    )
    newest = max(r.ts for r in records)
    with engine.begin() as connection:
        result = upsert_observations(connection, series_id=target.series_id, frame=frame)
        set_watermark(
            connection, series_id=target.series_id, last_ts=newest, history_start=history_start
        )
    outcome.add_upsert(result)
    outcome.saw(min(r.ts for r in records), newest)
    return newest


_BACKFILL, _EXTEND, _INCREMENT = "backfill", "extend", "increment"


def _windows(
    engine: Engine,
    target: SensorTarget,
    *,
    backfill_start: datetime,
    until: datetime,
    overlap: timedelta,
) -> list[tuple[datetime, datetime, str]]:
    """``(start, end, kind)`` windows to pull for a sensor, oldest first."""
    mark = get_watermark(engine, series_id=target.series_id)
    if mark is None:
        return [(backfill_start, until, _BACKFILL)] if backfill_start < until else []
    windows: list[tuple[datetime, datetime, str]] = []
    if mark.history_start is not None and backfill_start < min(mark.history_start, until):
        windows.append((backfill_start, min(mark.history_start, until), _EXTEND))
    if mark.last_ts - overlap < until:
        windows.append((mark.last_ts - overlap, until, _INCREMENT))
    return windows


def ingest_sensor_hours(
    engine: Engine,
    *,
    client: OpenAQClient,
    target: SensorTarget,
    outcome: SeriesOutcome,
    backfill_start: datetime,
    until: datetime,
    overlap: timedelta,
    page_limit: int,
    progress: Progress,
) -> None:
    """Pull a sensor's missing hours from ``/hours`` and store them page by page.

    Raises:
        OpenAQError: A request kept failing; the pages stored before it are kept.
    """
    with engine.begin() as connection:
        register_series(
            connection,
            spec=target.spec(),
            sensor=str(target.sensor_id),
            latitude=target.latitude,
            longitude=target.longitude,
        )
    windows = _windows(engine, target, backfill_start=backfill_start, until=until, overlap=overlap)
    hours = max(sum((end - start) / _HOUR for start, end, _ in windows), 1.0)
    progress.begin(target.series_id, description=target.series_id, total=hours)
    done = 0.0
    for start, end, kind in windows:
        outcome.windows.append((start, end))
        now = utc_now()
        for page in client.iter_hourly(target.sensor_id, start, end, limit=page_limit):
            newest = _store_page(
                engine,
                page=page,
                target=target,
                outcome=outcome,
                # A first backfill records its start with its first page; an extension only
                # once it is complete (below), so a killed extension is redone.
                history_start=start if kind == _BACKFILL else None,
                now=now,
            )
            if newest is not None:
                progress.advance(target.series_id, completed=done + (newest - start) / _HOUR)
        done += (end - start) / _HOUR
        mark = get_watermark(engine, series_id=target.series_id) if kind == _EXTEND else None
        if mark is not None:
            with engine.begin() as connection:
                set_watermark(
                    connection,
                    series_id=target.series_id,
                    last_ts=mark.last_ts,
                    history_start=start,
                )
    progress.advance(target.series_id, completed=hours)


def ingest_sensor_of_run(
    engine: Engine,
    *,
    client: OpenAQClient,
    target: SensorTarget,
    run: RunOutcome,
    what: str,
    backfill_start: datetime,
    until: datetime,
    overlap: timedelta,
    page_limit: int,
    progress: Progress,
) -> SeriesOutcome:
    """:func:`ingest_sensor_hours` for one sensor of a logged run; the run goes on if it fails.

    The sensor's outcome joins ``run``; an OpenAQ error is recorded on it and logged as ``what``
    failing, and the requests it made are counted either way.
    """
    series = SeriesOutcome(target.series_id, target.parameter, target.units)
    run.series.append(series)
    before = client.request_count
    try:
        ingest_sensor_hours(
            engine,
            client=client,
            target=target,
            outcome=series,
            backfill_start=backfill_start,
            until=until,
            overlap=overlap,
            page_limit=page_limit,
            progress=progress,
        )
    except OpenAQError as exc:
        series.error = str(exc)
        logger.warning("OpenAQ %s %s failed, continuing: %s", target.series_id, what, exc)
    finally:
        series.requests = client.request_count - before
    return series


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")
    return as_utc(value)  # type: ignore[return-value]


def ingest_openaq_sensors(
    engine: Engine,
    *,
    client: OpenAQClient,
    selection: OpenAQSelection,
    backfill_start: datetime,
    until: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    page_limit: int = 1000,
    discovery_max_age: timedelta = DEFAULT_DISCOVERY_MAX_AGE,
    progress: Progress | None = None,
) -> RunOutcome:
    """Ingest the hourly records of the selected sensors, logging the run.

    Args:
        engine (Engine): The observation store (migrated).
        client (OpenAQClient): The API client; its retry settings bound how long a failing
            sensor is retried.
        selection (OpenAQSelection): Locations, parameters and sensors.
        backfill_start (datetime): Where a sensor's history starts on its first run (aware).
        until (datetime | None): End of the pulled windows, exclusive. Defaults to now.
        overlap (timedelta): How far before the watermark later runs start. Defaults to 3 h.
        page_limit (int): Records per request, at most 1000. Defaults to 1000.
        discovery_max_age (timedelta): Reuse of the remembered location listing. Defaults
            to 24 h.
        progress (Progress | None): Receives per-sensor progress. Defaults to none.

    Returns:
        RunOutcome: Status (``succeeded``, ``partial`` or ``failed``) and per-series counts,
        as written to ``ingestion_runs``.

    Raises:
        ValueError: ``backfill_start`` or ``until`` is naive, or ``overlap`` is negative.
    """
    start = _aware(backfill_start, "backfill_start")
    end = utc_now() if until is None else _aware(until, "until")
    if overlap < timedelta(0):
        raise ValueError("overlap must not be negative")
    progress = progress or NullProgress()
    inputs = {
        **selection.to_dict(),
        "backfill_start": start.isoformat(),
        "until": end.isoformat(),
        "overlap_hours": overlap / _HOUR,
        "base_url": client.base_url,
    }
    with logged_run(engine, source=OPENAQ_SOURCE, inputs=inputs) as outcome:
        requests_before = client.request_count
        try:
            targets, skipped, cached = discover_sensors(
                engine, client=client, selection=selection, max_age=discovery_max_age
            )
        except (OpenAQError, ValueError) as exc:
            outcome.error = f"listing locations failed: {exc}"
            return end_run(engine, outcome=outcome)
        outcome.notes.extend(skipped)
        outcome.notes.append(
            f"location listing {'from memory' if cached else 'fetched'} "
            f"({client.request_count - requests_before} request(s))"
        )
        if not targets:
            outcome.error = "; ".join(
                ["no sensor of the selected locations matches the filters", *skipped]
            )
            return end_run(engine, outcome=outcome)
        progress.begin("sensors", description="sensors", total=len(targets))
        for done, target in enumerate(targets, start=1):
            series = ingest_sensor_of_run(
                engine,
                client=client,
                target=target,
                run=outcome,
                what="ingestion",
                backfill_start=start,
                until=end,
                overlap=overlap,
                page_limit=page_limit,
                progress=progress,
            )
            logger.info(
                "OpenAQ %s: %d inserted, %d updated, %d rejected in %d request(s)",
                target.series_id,
                series.inserted,
                series.updated,
                series.rejected,
                series.requests,
            )
            progress.end(target.series_id, note=series.error or "")
            progress.advance("sensors", completed=done)
            log_progress(engine, outcome=outcome)
        progress.end("sensors")
        return end_run(engine, outcome=outcome)


def ingest_openaq(
    engine: Engine,
    *,
    settings: Settings,
    selection: OpenAQSelection,
    backfill_start: datetime,
    until: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    progress: Progress | None = None,
    client_options: dict[str, Any] | None = None,
) -> RunOutcome:
    """Ingest OpenAQ hourly records from ``HOURCAST_OPENAQ_BASE_URL``.

    See :func:`ingest_openaq_sensors` for the arguments.

    Args:
        engine (Engine): The observation store (migrated).
        settings (Settings): Process settings (OpenAQ base URL and key).
        selection (OpenAQSelection): Locations, parameters and sensors.
        backfill_start (datetime): First hour of a new sensor's history (aware).
        until (datetime | None): End of the windows, exclusive. Defaults to now.
        overlap (timedelta): Re-read before the watermark. Defaults to 3 h.
        progress (Progress | None): Receives per-sensor progress.
        client_options (dict | None): Extra :class:`OpenAQClient` options (retries...).

    Returns:
        RunOutcome: Status and per-series counts (a failed run is returned, not raised).
    """
    with openaq_client(settings, **(client_options or {})) as client:
        return ingest_openaq_sensors(
            engine,
            client=client,
            selection=selection,
            backfill_start=backfill_start,
            until=until,
            overlap=overlap,
            progress=progress,
        )
