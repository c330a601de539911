"""What an ingestion run did, per series and per source object, and how it reports progress."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from hourcast.storage.ingestion_state import finish_run, start_run, update_run
from hourcast.storage.observations import UpsertResult

__all__ = [
    "IngestionError",
    "NullProgress",
    "ObjectOutcome",
    "Progress",
    "RunOutcome",
    "SeriesOutcome",
    "begin_run",
    "end_run",
    "log_progress",
    "logged_run",
    "run_status",
]

_EXAMPLES_KEPT = 5


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


@dataclass
class SeriesOutcome:
    """Counts and errors of one series in one run (filled in as pages are stored).

    Attributes:
        series_id: The series.
        parameter: Measured parameter.
        units: Units of the stored values.
        windows: Requested ``[start, end)`` windows, UTC.
        pages: Pages (or chunks) stored.
        requests: HTTP requests sent for the series, retries included.
        inserted: New hours stored.
        updated: Stored hours whose value or covariates changed.
        unchanged: Hours received again as stored.
        rejections: Rejected records by reason.
        examples: The first few rejection details.
        first_ts: Earliest accepted hour of the run.
        last_ts: Newest accepted hour of the run.
        error: Why the series stopped, if it did.
    """

    series_id: str
    parameter: str | None = None
    units: str | None = None
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    pages: int = 0
    requests: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    error: str | None = None

    @property
    def rejected(self) -> int:
        """Rejected records, all reasons."""
        return sum(self.rejections.values())

    @property
    def ok(self) -> bool:
        """True when the series did not fail."""
        return self.error is None

    def add_upsert(self, result: UpsertResult) -> None:
        """Add the counts of one stored page."""
        self.inserted += result.inserted
        self.updated += result.updated
        self.unchanged += result.unchanged

    def reject(self, reason: str, detail: str) -> None:
        """Count one rejected record (keeping the first few details as examples)."""
        self.rejections[str(reason)] += 1
        if len(self.examples) < _EXAMPLES_KEPT:
            self.examples.append(f"{reason}: {detail}")

    def saw(self, first: datetime, last: datetime) -> None:
        """Widen the span of accepted hours."""
        self.first_ts = first if self.first_ts is None else min(self.first_ts, first)
        self.last_ts = last if self.last_ts is None else max(self.last_ts, last)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the run log."""
        return {
            "parameter": self.parameter,
            "units": self.units,
            "windows": [[_iso(a), _iso(b)] for a, b in self.windows],
            "pages": self.pages,
            "requests": self.requests,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejections": dict(self.rejections),
            "examples": list(self.examples),
            "first_ts": _iso(self.first_ts),
            "last_ts": _iso(self.last_ts),
            "error": self.error,
        }


@dataclass
class ObjectOutcome:
    """One source object (S3 object or file) in one run.

    Attributes:
        key: Object key or path.
        etag: ETag or content hash seen in this run.
        status: ``read``, ``skipped`` (unchanged since it was read) or ``failed``.
        rows: Source rows read.
        hours: Hourly rows derived from them.
        error: Why it failed, if it did.
    """

    key: str
    etag: str
    status: str = "skipped"
    rows: int = 0
    hours: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the run log."""
        return {
            "etag": self.etag,
            "status": self.status,
            "rows": self.rows,
            "hours": self.hours,
            "error": self.error,
        }


def run_status(series: list[SeriesOutcome], objects: list[ObjectOutcome], error: str | None) -> str:
    """The run's status from its series and objects.

    ``failed`` on a run-level error or when nothing succeeded, ``partial`` when some series
    or objects failed, ``succeeded`` otherwise.
    """
    if error is not None:
        return "failed"
    # A traffic run has one series fed by several objects: judge it by its objects.
    fine = [o.status != "failed" for o in objects] if objects else [s.ok for s in series]
    if all(fine):
        return "succeeded"
    return "partial" if any(fine) else "failed"


@dataclass
class RunOutcome:
    """The outcome of one ingestion run, as written to the run log.

    Attributes:
        run_id: Id in ``ingestion_runs``.
        source: ``openaq`` or ``traffic``.
        status: ``running`` until finished, then ``succeeded``, ``partial`` or ``failed``.
        series: Per-series outcomes.
        objects: Per-object outcomes (traffic).
        error: A run-level error (bad input, source unreachable), if any.
        inputs: What the run was asked to do.
        notes: Other facts worth logging (e.g. sensors skipped at discovery).
    """

    run_id: str
    source: str
    status: str = "running"
    series: list[SeriesOutcome] = field(default_factory=list)
    objects: list[ObjectOutcome] = field(default_factory=list)
    error: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def inserted(self) -> int:
        """New hours stored, all series."""
        return sum(s.inserted for s in self.series)

    @property
    def updated(self) -> int:
        """Changed hours, all series."""
        return sum(s.updated for s in self.series)

    @property
    def rejected(self) -> int:
        """Rejected records, all series."""
        return sum(s.rejected for s in self.series)

    @property
    def failed(self) -> bool:
        """True when the run failed as a whole."""
        return self.status == "failed"

    def conclude(self) -> str:
        """Set and return the final status."""
        self.status = run_status(self.series, self.objects, self.error)
        return self.status

    def details(self) -> dict[str, Any]:
        """The ``details`` JSON of the run log."""
        out: dict[str, Any] = {
            "inputs": self.inputs,
            "series": {s.series_id: s.to_dict() for s in self.series},
        }
        if self.objects:
            out["objects"] = {o.key: o.to_dict() for o in self.objects}
        if self.error is not None:
            out["error"] = self.error
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def raise_for_status(self) -> None:
        """Raise :class:`IngestionError` if the run failed."""
        if self.failed:
            raise IngestionError(self)


class IngestionError(RuntimeError):
    """An ingestion run failed as a whole; ``outcome`` says why and what was stored."""

    def __init__(self, outcome: RunOutcome) -> None:
        errors = [outcome.error] if outcome.error else []
        errors += [f"{s.series_id}: {s.error}" for s in outcome.series if s.error]
        errors += [f"{o.key}: {o.error}" for o in outcome.objects if o.error]
        super().__init__(
            f"{outcome.source} ingestion {outcome.run_id} failed: " + "; ".join(errors)
        )
        self.outcome = outcome


class Progress(Protocol):
    """Receives progress of a run (the CLI draws bars from it; the default ignores it)."""

    def begin(self, key: str, *, description: str, total: float | None) -> None:
        """A task starts, e.g. one sensor (``total`` hours) or the list of objects."""

    def advance(self, key: str, *, completed: float) -> None:
        """The task reached ``completed`` of its total."""

    def end(self, key: str, *, note: str = "") -> None:
        """The task is over."""


class NullProgress:
    """A :class:`Progress` that ignores everything."""

    def begin(self, key: str, *, description: str, total: float | None) -> None:
        """Ignore."""

    def advance(self, key: str, *, completed: float) -> None:
        """Ignore."""

    def end(self, key: str, *, note: str = "") -> None:
        """Ignore."""


def begin_run(engine: Engine, *, source: str, inputs: dict[str, Any]) -> RunOutcome:
    """Open a run in the run log (committed at once) and return its outcome to fill in."""
    run_id = start_run(engine, source=source, details={"inputs": inputs})
    return RunOutcome(run_id=run_id, source=source, inputs=inputs)


@contextlib.contextmanager
def logged_run(engine: Engine, *, source: str, inputs: dict[str, Any]) -> Iterator[RunOutcome]:
    """A run opened in the run log (:func:`begin_run`) for the ``with`` body to fill in.

    The body closes it with :func:`end_run`. If the body raises first (store errors, bugs,
    Ctrl-C), the run is logged as failed if the store still answers, and the error re-raised.
    """
    outcome = begin_run(engine, source=source, inputs=inputs)
    try:
        yield outcome
    except BaseException as exc:
        if outcome.status == "running":
            outcome.error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                end_run(engine, outcome=outcome)
        raise


def log_progress(engine: Engine, *, outcome: RunOutcome) -> None:
    """Write the counts so far, so that a killed run still shows how far it got."""
    with engine.begin() as connection:
        update_run(
            connection,
            run_id=outcome.run_id,
            inserted=outcome.inserted,
            updated=outcome.updated,
            rejected=outcome.rejected,
            details=outcome.details(),
        )


def end_run(engine: Engine, *, outcome: RunOutcome) -> RunOutcome:
    """Conclude the status and close the run in the run log."""
    outcome.conclude()
    finish_run(
        engine,
        run_id=outcome.run_id,
        status=outcome.status,
        inserted=outcome.inserted,
        updated=outcome.updated,
        rejected=outcome.rejected,
        details=outcome.details(),
    )
    return outcome
