"""Backfill of OpenAQ history from the archive on S3, in hours, with a watermark per location.

For each selected location the day files from ``start`` to ``end`` are listed (one request a
year) and read in parallel, a chunk of days at a time. A chunk's measurements are averaged
into hours as OpenAQ's ``/hours`` does (:func:`~hourcast.sources.openaq.archive.hour_of`) and
upserted with the location's watermark in one transaction, oldest chunk first:

* a process killed midway keeps every chunk it committed and the next run resumes after the
  watermark; the chunk it was writing is done again whole;
* an hour's measurements can straddle two day files (a measurement at midnight closes the
  previous day's last hour), so a chunk also reads the day before and after it and stores
  every hour its own days touch, complete: the same hour written by two chunks gets the
  same value;
* a later run re-reads the last ``overlap_days`` (the archive is updated about every 72 h) and
  stores only what changed; an earlier ``start`` than the one loaded extends the history, and
  the watermark's first day moves only once the extension is complete.

Each sensor's series watermark (``ingestion_watermarks``) moves with its newest hour, so the
hourly steady state (:mod:`hourcast.ingestion.openaq_latest`) fills the archive's last days
from ``/hours``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from hourcast.ingestion.bulk_store import HourRow, move_watermarks, register_targets, upsert_hours
from hourcast.ingestion.openaq_sensors import SensorTarget
from hourcast.ingestion.outcome import ObjectOutcome, RunOutcome, SeriesOutcome, end_run, logged_run
from hourcast.ingestion.quality import accepted_range
from hourcast.sources.openaq import normalize_units
from hourcast.sources.openaq.archive import (
    ArchiveObject,
    Measurement,
    days,
    hour_of,
    list_days,
    read_day,
)
from hourcast.storage.ingestion_state import get_source_object, remember_source_object

__all__ = ["ARCHIVE_SOURCE", "LocationMark", "backfill_openaq_archive", "location_mark"]

logger = logging.getLogger(__name__)

ARCHIVE_SOURCE = "openaq-archive"
DEFAULT_OVERLAP_DAYS = 3
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class LocationMark:
    """How much of a location's archive is loaded: every day from ``first`` to ``last``."""

    first: date
    last: date


def _mark_key(location_id: int) -> str:
    return f"watermark:locationid={int(location_id)}"


def location_mark(engine: Engine, location_id: int) -> LocationMark | None:
    """The archive watermark of a location, or None before its first chunk."""
    stored = get_source_object(engine, source=ARCHIVE_SOURCE, key=_mark_key(location_id))
    if stored is None or not isinstance(stored.detail, dict):
        return None
    detail = stored.detail
    return LocationMark(date.fromisoformat(detail["first"]), date.fromisoformat(detail["last"]))


@dataclass(frozen=True)
class _Chunk:
    location_id: int
    own: tuple[ArchiveObject, ...]  # the days this chunk stores the hours of
    read: tuple[ArchiveObject, ...]  # those and their neighbours
    first: date  # the run's start: the watermark's first day once `moves_first`
    moves_first: bool
    moves_last: bool


def _chunks(
    listing: list[ArchiveObject],
    location_id: int,
    mark: LocationMark | None,
    start: date,
    end: date,
    *,
    size: int,
    overlap_days: int,
) -> Iterator[_Chunk]:
    by_day = {o.day: o for o in listing}
    if mark is None:
        spans = [(start, end, True, True)]
    else:
        spans = []
        if start < mark.first:
            spans.append((start, min(end, mark.first - _DAY), False, False))
        # Re-read the last days (the archive is updated); never leave a hole after `last`.
        resume = mark.last - timedelta(days=overlap_days - 1)
        if start <= mark.last + _DAY:
            resume = max(start, resume)
        if resume <= end:
            spans.append((resume, end, False, True))
    for first, last, new, moves_last in spans:
        present = [by_day[d] for d in days(first, last) if d in by_day]
        for index in range(0, len(present), size):
            own = present[index : index + size]
            near = {own[0].day - _DAY, own[-1].day + _DAY}
            read = sorted({*own, *(by_day[d] for d in near if d in by_day)}, key=lambda o: o.day)
            last_of_span = index + size >= len(present)
            # A new location records its start with its first chunk; an extension only once
            # complete, so a killed extension is redone.
            moves_first = new or (not moves_last and last_of_span)
            yield _Chunk(location_id, tuple(own), tuple(read), start, moves_first, moves_last)


def _hours(
    chunk: _Chunk,
    read: dict[str, list[Measurement]],
    targets: dict[int, SensorTarget],
    series: dict[int, SeriesOutcome],
) -> list[HourRow]:
    """Hourly means of the target sensors for the hours the chunk's own days touch."""
    own_keys = {o.key for o in chunk.own}
    touched: set[tuple[int, datetime]] = set()
    sums: dict[tuple[int, datetime], list[float]] = defaultdict(list)
    for key, rows in read.items():
        for m in rows:
            target = targets.get(m.sensor_id)
            if target is None:
                continue
            hour = hour_of(m.when)
            if key in own_keys:
                touched.add((m.sensor_id, hour))
            if m.value is not None:
                sums[m.sensor_id, hour].append(m.value)
            if normalize_units(m.units) != target.units:
                series[m.sensor_id].reject("units mismatch", f"{m.units!r} in {key}")
                touched.discard((m.sensor_id, hour))
    out: list[HourRow] = []
    for sensor_id, hour in sorted(touched):
        values = sums.get((sensor_id, hour))
        if not values:
            continue
        target, mean = targets[sensor_id], sum(values) / len(values)
        bounds = accepted_range(target.parameter, target.units)
        if bounds is not None and not bounds[0] <= mean <= bounds[1]:
            series[sensor_id].reject("implausible value", f"{mean:g} at {hour.isoformat()}")
            continue
        out.append((target.series_id, hour, mean))
    return out


def _store(
    engine: Engine,
    chunk: _Chunk,
    rows: list[HourRow],
    mark: LocationMark | None,
    series: dict[str, SeriesOutcome],
) -> LocationMark:
    newest: dict[str, tuple[datetime, datetime | None]] = {}
    for series_id, hour, _ in rows:
        if series_id not in newest or hour > newest[series_id][0]:
            oldest = min(h for s, h, _ in rows if s == series_id)
            newest[series_id] = (hour, oldest)
    if mark is None:
        updated = LocationMark(chunk.first, chunk.own[-1].day)
    else:
        first = chunk.first if chunk.moves_first else mark.first
        last = max(mark.last, chunk.own[-1].day) if chunk.moves_last else mark.last
        updated = LocationMark(min(first, mark.first), last)
    with engine.begin() as connection:
        result = upsert_hours(connection, rows)
        move_watermarks(connection, newest)
        remember_source_object(
            connection,
            source=ARCHIVE_SOURCE,
            key=_mark_key(chunk.location_id),
            etag=",".join(o.etag for o in chunk.own)[:200],
            rows=len(rows),
            detail={"first": updated.first.isoformat(), "last": updated.last.isoformat()},
        )
    by_series: dict[str, list[datetime]] = defaultdict(list)
    for series_id, hour, _ in rows:
        by_series[series_id].append(hour)
    for series_id, hours in by_series.items():
        series[series_id].saw(min(hours), max(hours))
        series[series_id].pages += 1
    # The counts are per chunk, not per series: book them on the chunk's first series.
    if by_series:
        series[next(iter(by_series))].add_upsert(result)
    return updated


def backfill_openaq_archive(
    engine: Engine,
    *,
    s3: Any,
    bucket: str,
    targets: list[SensorTarget],
    start: date,
    end: date,
    workers: int = 16,
    chunk_days: int = 31,
    overlap_days: int = DEFAULT_OVERLAP_DAYS,
) -> RunOutcome:
    """Load the archive's hours of the target sensors from ``start`` to ``end`` (days, UTC).

    Args:
        engine (Engine): The observation store (migrated).
        s3 (Any): An S3 client (:func:`~hourcast.sources.openaq.archive.archive_client`).
        bucket (str): The archive bucket.
        targets (list[SensorTarget]): The sensors (their locations are read).
        start (date): First day file to read.
        end (date): Last day file to read, inclusive.
        workers (int): Day files read at once. Defaults to 16.
        chunk_days (int): Days per transaction. Defaults to 31.
        overlap_days (int): Days before a location's watermark read again. Defaults to 3.

    Returns:
        RunOutcome: Per-series counts (changes counted on the location's first sensor) and
        one object entry per location, as written to ``ingestion_runs``.

    Raises:
        ValueError: ``end`` is before ``start``, or a count is not positive.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if min(workers, chunk_days, overlap_days) < 1:
        raise ValueError("workers, chunk_days and overlap_days must be at least 1")
    inputs = {"bucket": bucket, "start": start.isoformat(), "end": end.isoformat()}
    by_location: dict[int, dict[int, SensorTarget]] = defaultdict(dict)
    for target in targets:
        by_location[target.location_id][target.sensor_id] = target
    with logged_run(engine, source=ARCHIVE_SOURCE, inputs=inputs) as outcome:
        series = {t.series_id: SeriesOutcome(t.series_id, t.parameter, t.units) for t in targets}
        outcome.series.extend(series.values())
        with engine.begin() as connection:
            register_targets(connection, targets)
        with ThreadPoolExecutor(workers) as pool:
            _backfill(
                engine,
                pool=pool,
                s3=s3,
                bucket=bucket,
                by_location=by_location,
                series=series,
                outcome=outcome,
                span=(start, end),
                sizes=(chunk_days, overlap_days, 4 * workers),
            )
        return end_run(engine, outcome=outcome)


def _backfill(
    engine: Engine,
    *,
    pool: ThreadPoolExecutor,
    s3: Any,
    bucket: str,
    by_location: dict[int, dict[int, SensorTarget]],
    series: dict[str, SeriesOutcome],
    outcome: RunOutcome,
    span: tuple[date, date],
    sizes: tuple[int, int, int],
) -> None:
    """List every location in parallel, then store chunk after chunk while reading ahead."""
    start, end = span
    chunk_days, overlap_days, in_flight = sizes

    def plan(location_id: int) -> tuple[LocationMark | None, list[_Chunk]]:
        mark = location_mark(engine, location_id)
        first, last = start - _DAY, end + _DAY
        listing = list_days(s3, bucket=bucket, location_id=location_id, first=first, last=last)
        chunks = _chunks(
            listing, location_id, mark, start, end, size=chunk_days, overlap_days=overlap_days
        )
        return mark, list(chunks)

    plans = {location_id: pool.submit(plan, location_id) for location_id in sorted(by_location)}
    marks: dict[int, LocationMark | None] = {}
    reports: dict[int, ObjectOutcome] = {}
    jobs: list[_Chunk] = []
    for location_id, planned in plans.items():
        reports[location_id] = ObjectOutcome(_mark_key(location_id), etag="", status="read")
        outcome.objects.append(reports[location_id])
        try:
            marks[location_id], chunks = planned.result()
        except Exception as exc:  # one location's failure must not stop the others
            _failed(reports[location_id], exc)
            continue
        jobs += chunks
    fetches: dict[str, Future[tuple[list[Measurement], int]]] = {}
    last_chunk = {chunk.location_id: index for index, chunk in enumerate(jobs)}
    ahead = 0
    for index, chunk in enumerate(jobs):
        report = reports[chunk.location_id]
        if report.status == "failed":
            continue
        while ahead < len(jobs) and (len(fetches) < in_flight or jobs[ahead] is chunk):
            for o in jobs[ahead].read:
                if o.key not in fetches:
                    fetches[o.key] = pool.submit(read_day, s3, bucket=bucket, key=o.key)
            ahead += 1
        sensors = by_location[chunk.location_id]
        per_sensor = {sid: series[t.series_id] for sid, t in sensors.items()}
        try:
            read = {}
            for o in chunk.read:
                rows, bad = fetches[o.key].result()
                read[o.key] = rows
                if o in chunk.own:
                    report.rows += len(rows)
                    if bad:
                        first_sensor = per_sensor[next(iter(sensors))]
                        first_sensor.reject("unreadable row", f"{bad} in {o.key}")
            hours = _hours(chunk, read, sensors, per_sensor)
            mark = _store(engine, chunk, hours, marks[chunk.location_id], series)
        except Exception as exc:  # one location's failure must not stop the others
            _failed(report, exc)
            continue
        marks[chunk.location_id] = mark
        report.hours += len(hours)
        report.etag = mark.last.isoformat()
        done = last_chunk[chunk.location_id] == index
        for o in chunk.read:  # keep the last day: the next chunk's boundary hour needs it
            if done or o.day < chunk.own[-1].day:
                fetches.pop(o.key, None)


def _failed(report: ObjectOutcome, exc: Exception) -> None:
    report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
    logger.warning("OpenAQ archive %s failed: %s", report.key, exc)
