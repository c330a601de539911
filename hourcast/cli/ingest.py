"""``hourcast ingest ...``: load OpenAQ and traffic records into the observation store.

Options use ``Optional[X]`` and real (not postponed) annotations: mage-ai pins typer 0.9,
which cannot read ``X | None`` or string annotations.
"""

from typing import Annotated, Optional

import typer
from rich.table import Table

from hourcast.cli.ingest_openaq import (
    ingest_openaq_archive_command,
    ingest_openaq_command,
    ingest_openaq_latest_command,
)
from hourcast.cli.ingest_output import RichProgress, console, finish, open_engine, progress_bar
from hourcast.settings import get_settings

__all__ = ["ingest_app"]

ingest_app = typer.Typer(help="Load records into the observation store.", no_args_is_help=True)
ingest_app.command("openaq")(ingest_openaq_command)
ingest_app.command("openaq-latest")(ingest_openaq_latest_command)
ingest_app.command("openaq-archive")(ingest_openaq_archive_command)


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
    engine = open_engine(settings)
    try:
        with progress_bar() as bar:
            result = ingest_traffic(
                engine, settings=settings, source=source, progress=RichProgress(bar)
            )
    except IngestionError as exc:
        finish(exc.outcome)
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
        finish(result.outcome)


@ingest_app.command("runs")
def ingest_runs_command(
    source: Annotated[Optional[str], typer.Option(help="Only runs of this source.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many runs.")] = 20,
) -> None:
    """Show the newest ingestion runs of the run log."""
    from hourcast.storage.ingestion_state import list_runs

    engine = open_engine(get_settings())
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
