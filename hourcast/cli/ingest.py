"""``hourcast ingest ...``: load OpenAQ and traffic records into the observation store.

Options use ``Optional[X]`` and real (not postponed) annotations: mage-ai pins typer 0.9,
which cannot read ``X | None`` or string annotations.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgressBar
from rich.table import Table

from hourcast.settings import Settings, get_settings

__all__ = ["ingest_app"]

ingest_app = typer.Typer(help="Load records into the observation store.", no_args_is_help=True)

console = Console()

_Ints = Optional[list[int]]
_Strs = Optional[list[str]]


class _RichProgress:
    """Draws the ingestion progress events as rich bars (one per sensor or object list)."""

    def __init__(self, bar: RichProgressBar) -> None:
        self._bar = bar
        self._tasks: dict[str, TaskID] = {}

    def begin(self, key: str, *, description: str, total: float | None) -> None:
        self._tasks[key] = self._bar.add_task(description, total=total)

    def advance(self, key: str, *, completed: float) -> None:
        if key in self._tasks:
            self._bar.update(self._tasks[key], completed=completed)

    def end(self, key: str, *, note: str = "") -> None:
        if key in self._tasks and note:
            self._bar.update(self._tasks[key], description=f"{key} [red]{note[:60]}[/red]")


def _progress_bar() -> RichProgressBar:
    return RichProgressBar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _engine(settings: Settings) -> Any:
    from hourcast.storage.db import create_db_engine, upgrade

    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    return engine


def _instant(value: str, option: str) -> datetime:
    from hourcast.timeutil import parse_instant

    try:
        return parse_instant(value, field=option).to_pydatetime()
    except ValueError as exc:
        message = str(exc).removeprefix(f"{option}: ")
        raise typer.BadParameter(message, param_hint=option) from exc


def _numbers(value: str, count: int, option: str, example: str) -> tuple[float, ...]:
    try:
        numbers = tuple(float(part) for part in value.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != count:
        raise typer.BadParameter(
            f"expected {count} comma-separated numbers such as {example}, got {value!r}",
            param_hint=option,
        )
    return numbers


def _summary_table(outcome: Any) -> Table:
    table = Table(title=f"{outcome.source} run {outcome.run_id}: {outcome.status}")
    table.add_column("series", no_wrap=True)
    for column in ("pages", "requests", "inserted", "updated", "rejected"):
        table.add_column(column, justify="right")
    table.add_column("rejections / error", ratio=1)
    for series in outcome.series:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(series.rejections.items()))
        note = f"[red]{series.error}[/red]" if series.error else reasons
        table.add_row(
            series.series_id,
            str(series.pages),
            str(series.requests),
            str(series.inserted),
            str(series.updated),
            str(series.rejected),
            note,
        )
    return table


def _objects_table(outcome: Any) -> Table:
    table = Table(title="objects read or failed")
    for column in ("object", "status", "rows", "hours", "error"):
        table.add_column(column, justify="right" if column in ("rows", "hours") else "left")
    for item in outcome.objects:
        if item.status != "skipped":
            table.add_row(item.key, item.status, str(item.rows), str(item.hours), item.error or "")
    return table


def _finish(outcome: Any) -> None:
    if any(item.status != "skipped" for item in outcome.objects):
        console.print(_objects_table(outcome))
    console.print(_summary_table(outcome))
    for note in outcome.notes:
        console.print(f"[dim]{note}[/dim]")
    if outcome.error:
        console.print(f"[red]error: {outcome.error}[/red]")
    if outcome.status == "partial":
        console.print(
            "[yellow]some series failed; the others were stored (status partial)[/yellow]"
        )
    if outcome.failed:
        raise typer.Exit(1)


@ingest_app.command("openaq")
def ingest_openaq_command(
    *,
    location: Annotated[
        _Ints,
        typer.Option("--location", min=1, help="OpenAQ location id; repeat for several."),
    ] = None,
    coordinates: Annotated[
        Optional[str],
        typer.Option(help="Search centre 'latitude,longitude' (with --radius)."),
    ] = None,
    radius: Annotated[
        Optional[int], typer.Option(min=1, max=25_000, help="Search radius in metres.")
    ] = None,
    bbox: Annotated[
        Optional[str], typer.Option(help="Search box 'min_lon,min_lat,max_lon,max_lat'.")
    ] = None,
    iso: Annotated[Optional[str], typer.Option(help="Country code, e.g. CN.")] = None,
    parameter: Annotated[
        _Strs,
        typer.Option("--parameter", help="Parameter to keep, e.g. pm25; repeatable (default all)."),
    ] = None,
    sensor: Annotated[
        _Ints,
        typer.Option("--sensor", min=1, help="Only these sensor ids; repeatable."),
    ] = None,
    backfill_start: Annotated[
        Optional[str],
        typer.Option(
            "--backfill-start",
            help="Where a new sensor's history starts, ISO-8601 (no offset: UTC). "
            "Default: 30 days before --until.",
        ),
    ] = None,
    until: Annotated[
        Optional[str],
        typer.Option(help="End of the pulled window, exclusive, ISO-8601. Default: now."),
    ] = None,
    base_url: Annotated[
        Optional[str],
        typer.Option(help="OpenAQ API root (default HOURCAST_OPENAQ_BASE_URL)."),
    ] = None,
    overlap_hours: Annotated[
        int, typer.Option(min=0, max=24 * 30, help="Hours re-read before the watermark.")
    ] = 3,
    max_retries: Annotated[
        int, typer.Option(min=0, max=20, help="Retries per request on 429/5xx/timeouts.")
    ] = 5,
) -> None:
    """Upsert OpenAQ hourly records: a backfill for new sensors, the recent hours otherwise."""
    from hourcast.ingestion.openaq import ingest_openaq
    from hourcast.ingestion.openaq_sensors import OpenAQSelection
    from hourcast.storage.ingestion_state import utc_now

    end = _instant(until, "--until") if until else utc_now()
    start = _instant(backfill_start, "--backfill-start") if backfill_start else None
    start = start or end - timedelta(days=30)
    if start >= end:
        raise typer.BadParameter(
            f"{start.isoformat()} is not before --until {end.isoformat()}",
            param_hint="--backfill-start",
        )
    centre = _numbers(coordinates, 2, "--coordinates", "39.95,116.47") if coordinates else None
    box = _numbers(bbox, 4, "--bbox", "116.2,39.8,116.6,40.1") if bbox else None
    if parameter and not all(p.strip().isalnum() for p in parameter):
        raise typer.BadParameter(
            f"expected names such as pm25, got {parameter}", param_hint="--parameter"
        )
    try:
        selection = OpenAQSelection(
            locations=tuple(location or ()),
            coordinates=centre,  # type: ignore[arg-type]
            radius_m=radius,
            bbox=box,  # type: ignore[arg-type]
            iso=iso,
            parameters=tuple(p.strip().lower() for p in parameter or ()),
            sensors=tuple(sensor or ()),
        )
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        hint = {"locations": "--location", "coordinates": "--coordinates/--radius"}.get(field)
        raise typer.BadParameter(message, param_hint=hint or f"--{field}") from exc

    settings = get_settings()
    if base_url:
        settings = settings.model_copy(update={"openaq_base_url": base_url})
    engine = _engine(settings)
    console.print(
        f"OpenAQ {settings.openaq_base_url}: {start:%Y-%m-%dT%H:%MZ} .. {end:%Y-%m-%dT%H:%MZ}"
    )
    with _progress_bar() as bar:
        outcome = ingest_openaq(
            engine,
            settings=settings,
            selection=selection,
            backfill_start=start,
            until=end,
            overlap=timedelta(hours=overlap_hours),
            progress=_RichProgress(bar),
            client_options={"max_retries": max_retries},
        )
    _finish(outcome)


@ingest_app.command("traffic")
def ingest_traffic_command(
    source: Annotated[
        Optional[str],
        typer.Option(
            help="CSV path or s3://bucket/prefix (objects {prefix}_{year}.csv and appends "
            "{prefix}_{year}_{tag}.csv)."
        ),
    ] = None,
) -> None:
    """Upsert the traffic records of SOURCE (default HOURCAST_TRAFFIC_SOURCE, the bundled CSV).

    Only new or changed files/objects are read (remembered by content hash or ETag).
    """
    from hourcast.ingestion.outcome import IngestionError
    from hourcast.ingestion.traffic import ingest_traffic

    settings = get_settings()
    engine = _engine(settings)
    try:
        with _progress_bar() as bar:
            result = ingest_traffic(
                engine, settings=settings, source=source, progress=_RichProgress(bar)
            )
    except IngestionError as exc:
        _finish(exc.outcome)
        raise typer.Exit(1) from exc
    console.print(
        f"{result.series_id}: {result.source_rows} rows read, {result.hours} hours; "
        f"inserted {result.upsert.inserted}, updated {result.upsert.updated}, "
        f"unchanged {result.upsert.unchanged}"
    )
    console.print(
        f"objects read {result.objects_read}, unchanged and skipped {result.objects_skipped}"
    )
    if result.outcome is not None:
        _finish(result.outcome)


@ingest_app.command("runs")
def ingest_runs_command(
    source: Annotated[Optional[str], typer.Option(help="Only runs of this source.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many runs.")] = 20,
) -> None:
    """Show the newest ingestion runs of the run log."""
    from hourcast.storage.ingestion_state import list_runs

    engine = _engine(get_settings())
    table = Table(title="ingestion runs")
    columns = ("run", "source", "started", "finished", "status", "inserted", "updated")
    for column in (*columns, "rejected"):
        table.add_column(column, no_wrap=column in ("run", "started"))
    for run in list_runs(engine, source=source, limit=limit):
        # A run still "running" with no finish time is running now, or was killed.
        table.add_row(
            run.run_id[:8],
            run.source,
            f"{run.started_at:%Y-%m-%d %H:%M}",
            f"{run.finished_at:%H:%M:%S}" if run.finished_at else "-",
            run.status,
            str(run.rows_inserted),
            str(run.rows_updated),
            str(run.rows_rejected),
        )
    console.print(table)
