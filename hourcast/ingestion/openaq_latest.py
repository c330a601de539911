"""The hourly steady state: every sensor's newest value from one request per 1,000 sensors.

``GET /v3/parameters/{id}/latest`` lists the newest value of every sensor of a parameter, a
thousand a page. One run reads those pages for the parameters of the selected sensors and
compares each sensor's newest hour with its watermark (newest stored hour):

* the next hour (no gap): the value is upserted and the watermark moves to it;
* nothing newer: nothing to do;
* a gap (hours between the watermark and the newest one): the newest value is upserted, and
  the sensor's missing hours are asked of ``/v3/sensors/{id}/hours`` from its watermark minus
  the overlap, oldest watermark first, while the run's request budget lasts. A sensor left
  over keeps its watermark, so the next run asks again;
* a new sensor (no watermark): its newest value starts its series; history before it is the
  archive backfill's job (:mod:`hourcast.ingestion.openaq_archive`) or the ``/hours`` run's.

A value is the newest *measurement*: for an hourly instrument (most regulatory monitors) it
is the hour's mean, stamped at the hour's end, and stored at the hour's start as ``/hours``
has it. A stamp off the hour comes from a sub-hourly instrument; its hour is not complete,
so such a sensor goes to ``/hours`` for its completed hours instead. The per-minute limit is
kept by the client (it waits when ``x-ratelimit-remaining`` runs out, and waits out a 429 for
``x-ratelimit-reset``); the budget keeps a run inside the key's hourly allowance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from hourcast.ingestion.bulk_store import (
    HourRow,
    move_watermarks,
    register_targets,
    upsert_hours,
    watermarks_of,
)
from hourcast.ingestion.openaq import DEFAULT_OVERLAP, ingest_sensor_of_run
from hourcast.ingestion.openaq_sensors import (
    DEFAULT_DISCOVERY_MAX_AGE,
    OPENAQ_SOURCE,
    OpenAQSelection,
    SensorTarget,
    discover_sensors,
)
from hourcast.ingestion.outcome import NullProgress, RunOutcome, SeriesOutcome, end_run, logged_run
from hourcast.ingestion.quality import accepted_range
from hourcast.sources.openaq import OpenAQClient, OpenAQError
from hourcast.sources.openaq.records import optional_float, optional_int
from hourcast.storage.ingestion_state import set_watermark

__all__ = ["DEFAULT_GAP_BUDGET", "LATEST_SERIES", "LatestValue", "ingest_openaq_latest"]

logger = logging.getLogger(__name__)

DEFAULT_GAP_BUDGET = 1000
LATEST_SERIES = "openaq:latest"
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class LatestValue:
    """One sensor's newest value from ``/latest``.

    Attributes:
        sensor_id: The sensor.
        measured_at: The measurement's time (an hourly mean's is the hour's end), UTC.
        value: The value, or None.
    """

    sensor_id: int
    measured_at: datetime
    value: float | None

    @property
    def on_the_hour(self) -> bool:
        """Whether the stamp is an hour's end, as an hourly mean's is."""
        return not (self.measured_at.minute or self.measured_at.second)

    @property
    def hour(self) -> datetime:
        """Start of the newest complete hour the value tells about."""
        floor = self.measured_at.replace(minute=0, second=0, microsecond=0)
        return floor - _HOUR


def parse_latest(item: Any) -> LatestValue | None:
    """A ``/latest`` result as a :class:`LatestValue`, or None if it is unusable."""
    if not isinstance(item, dict):
        return None
    sensor_id = optional_int(item.get("sensorsId"))
    stamp = item.get("datetime")
    text = stamp.get("utc") if isinstance(stamp, dict) else None
    if sensor_id is None or not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return LatestValue(sensor_id, when, optional_float(item.get("value")))


@dataclass
class _Plan:
    rows: list[HourRow] = field(default_factory=list)
    advance: dict[str, tuple[datetime, datetime | None]] = field(default_factory=dict)
    gaps: list[tuple[SensorTarget, datetime | None, datetime]] = field(default_factory=list)
    missing: int = 0


def _plan(
    targets: list[SensorTarget],
    latest: dict[int, LatestValue],
    marks: dict[str, datetime],
    outcome: SeriesOutcome,
) -> _Plan:
    plan = _Plan()
    for target in targets:
        found = latest.get(target.sensor_id)
        if found is None:
            plan.missing += 1
            continue
        mark = marks.get(target.series_id)
        hour = found.hour if found.on_the_hour else found.hour - _HOUR
        bounds = accepted_range(target.parameter, target.units)
        usable = found.on_the_hour and (
            found.value is None or bounds is None or bounds[0] <= found.value <= bounds[1]
        )
        if found.on_the_hour and not usable:
            outcome.reject("implausible value", f"{found.value:g} {target.units} of {target}")
        if mark is not None and hour <= mark:
            continue  # nothing newer than what is stored
        if usable and (mark is None or hour == mark + _HOUR):
            plan.rows.append((target.series_id, hour, found.value))
            plan.advance[target.series_id] = (hour, hour if mark is None else None)
            continue
        if usable:
            plan.rows.append((target.series_id, hour, found.value))
        # /hours filters on the hour's end: ask up to the end of the newest complete hour.
        plan.gaps.append((target, mark, hour + _HOUR))
    return plan


def _read_latest(
    client: OpenAQClient, targets: list[SensorTarget], page_limit: int
) -> dict[int, LatestValue]:
    wanted = {t.sensor_id for t in targets}
    parameter_ids = {t.parameter_id for t in targets}
    if None in parameter_ids:  # a listing remembered before parameter ids were kept
        ids = {p["name"].lower(): p["id"] for p in client.parameters()}
        parameter_ids = {ids.get(t.parameter.lower()) for t in targets}
    latest: dict[int, LatestValue] = {}
    for parameter_id in sorted(p for p in parameter_ids if p is not None):
        for page in client.iter_latest(parameter_id, limit=page_limit):
            for item in page.results:
                value = parse_latest(item)
                if value is not None and value.sensor_id in wanted:
                    latest[value.sensor_id] = value
    return latest


def ingest_openaq_latest(
    engine: Engine,
    *,
    client: OpenAQClient,
    selection: OpenAQSelection,
    gap_budget: int = DEFAULT_GAP_BUDGET,
    overlap: timedelta = DEFAULT_OVERLAP,
    page_limit: int = 1000,
    discovery_max_age: timedelta = DEFAULT_DISCOVERY_MAX_AGE,
) -> RunOutcome:
    """One hourly steady-state run over the selected sensors, logged in ``ingestion_runs``.

    Args:
        engine (Engine): The observation store (migrated).
        client (OpenAQClient): The API client.
        selection (OpenAQSelection): Which sensors.
        gap_budget (int): Most ``/hours`` requests the run may send to fill gaps.
            Defaults to 1,000 (half the key's 2,000 an hour).
        overlap (timedelta): How far before a watermark a gap fill starts. Defaults to 3 h.
        page_limit (int): Sensors per ``/latest`` page, at most 1,000. Defaults to 1,000.
        discovery_max_age (timedelta): Reuse of the remembered location listing.

    Returns:
        RunOutcome: One ``openaq:latest`` entry with the values from ``/latest``, one entry
        per gap-filled sensor, and notes with the request counts and the sensors deferred.

    Raises:
        ValueError: ``gap_budget`` is negative.
    """
    if gap_budget < 0:
        raise ValueError("gap_budget must not be negative")
    inputs = {**selection.to_dict(), "mode": "latest", "gap_budget": gap_budget}
    with logged_run(engine, source=OPENAQ_SOURCE, inputs=inputs) as outcome:
        before = client.request_count
        summary = SeriesOutcome(LATEST_SERIES)
        outcome.series.append(summary)
        try:
            targets, skipped, _ = discover_sensors(
                engine, client=client, selection=selection, max_age=discovery_max_age
            )
            outcome.notes.extend(skipped)
            latest = _read_latest(client, targets, page_limit) if targets else {}
        except (OpenAQError, ValueError) as exc:
            outcome.error = f"reading the latest values failed: {exc}"
            return end_run(engine, outcome=outcome)
        if not targets:
            outcome.error = "; ".join(["no sensor matches the selection", *skipped])
            return end_run(engine, outcome=outcome)
        summary.requests = client.request_count - before
        with engine.begin() as connection:
            register_targets(connection, targets)
            marks = watermarks_of(connection, [t.series_id for t in targets])
            plan = _plan(targets, latest, marks, summary)
            summary.add_upsert(upsert_hours(connection, plan.rows))
            move_watermarks(connection, plan.advance)
        if plan.rows:
            summary.saw(min(r[1] for r in plan.rows), max(r[1] for r in plan.rows))
        filled, deferred = _fill_gaps(
            engine, client=client, plan=plan, outcome=outcome, budget=gap_budget, overlap=overlap
        )
        outcome.notes.append(
            f"{len(targets)} sensor(s): {len(latest)} in /latest ({summary.requests} "
            f"request(s)), {len(plan.rows)} value(s) stored, {plan.missing} without a value, "
            f"{len(plan.gaps)} with a gap: {filled} filled, {deferred} deferred "
            f"(gap budget {gap_budget}, {client.request_count - before} request(s) in all)"
        )
        return end_run(engine, outcome=outcome)


def _fill_gaps(
    engine: Engine,
    *,
    client: OpenAQClient,
    plan: _Plan,
    outcome: RunOutcome,
    budget: int,
    overlap: timedelta,
) -> tuple[int, int]:
    """Ask ``/hours`` for the gaps, oldest watermark first; return (filled, deferred)."""
    oldest = datetime.min.replace(tzinfo=UTC)
    order = sorted(plan.gaps, key=lambda gap: (gap[1] or oldest, gap[0].sensor_id))
    start_count, filled = client.request_count, 0
    for index, (target, mark, until) in enumerate(order):
        if client.request_count - start_count >= budget:
            logger.info("OpenAQ gap budget spent; %d sensor(s) wait", len(order) - index)
            return filled, len(order) - index
        series = ingest_sensor_of_run(
            engine,
            client=client,
            target=target,
            run=outcome,
            what="gap fill",
            # A known sensor's window starts at its watermark (no history extension);
            # a new one's at its newest complete hour, less the overlap.
            backfill_start=until if mark else until - _HOUR - overlap,
            until=until,
            overlap=overlap,
            page_limit=1000,
            progress=NullProgress(),
        )
        if series.error is not None:
            continue
        # Every hour up to `until` has now been asked for: the next run starts there even
        # when the source had nothing for some of them.
        with engine.begin() as connection:
            set_watermark(connection, series_id=target.series_id, last_ts=until - _HOUR)
        filled += 1
    return filled, 0
