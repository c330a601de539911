"""What the ``hourcast ingest`` commands share: progress bars, option parsing, the run summary.

Options use ``Optional[X]`` and real (not postponed) annotations: mage-ai pins typer 0.9,
which cannot read ``X | None`` or string annotations.
"""

from datetime import datetime
from typing import Any, Optional

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

from hourcast.settings import Settings

__all__ = [
    "Ints",
    "RichProgress",
    "Strs",
    "console",
    "finish",
    "instant_option",
    "numbers_option",
    "open_engine",
    "progress_bar",
]

console = Console()

Ints = Optional[list[int]]
Strs = Optional[list[str]]


class RichProgress:
    """Draws the ingestion progress events as rich bars (one per sensor or object list)."""

    def __init__(self, bar: RichProgressBar) -> None:
        self._bar = bar
        self._tasks: dict[str, TaskID] = {}

    def begin(self, key: str, *, description: str, total: float | None) -> None:
        """Start a bar."""
        self._tasks[key] = self._bar.add_task(description, total=total)

    def advance(self, key: str, *, completed: float) -> None:
        """Move a bar."""
        if key in self._tasks:
            self._bar.update(self._tasks[key], completed=completed)

    def end(self, key: str, *, note: str = "") -> None:
        """Finish a bar, with a note in red if there is one."""
        if key in self._tasks and note:
            self._bar.update(self._tasks[key], description=f"{key} [red]{note[:60]}[/red]")


def progress_bar() -> RichProgressBar:
    """The bars of a command, on the shared console."""
    return RichProgressBar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def open_engine(settings: Settings) -> Any:
    """The observation store of ``settings``, migrated to head."""
    from hourcast.storage.db import create_db_engine, upgrade

    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    return engine


def instant_option(value: str, option: str) -> datetime:
    """An ISO-8601 option as an aware instant; a clear error naming the option otherwise."""
    from hourcast.timeutil import parse_instant

    try:
        return parse_instant(value, field=option).to_pydatetime()
    except ValueError as exc:
        message = str(exc).removeprefix(f"{option}: ")
        raise typer.BadParameter(message, param_hint=option) from exc


def numbers_option(value: str, count: int, option: str, example: str) -> tuple[float, ...]:
    """``count`` comma-separated numbers; a clear error naming the option otherwise."""
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


def finish(outcome: Any) -> None:
    """Print the run's tables and notes; exit 1 when the run failed."""
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
