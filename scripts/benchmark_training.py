"""Wall time of the whole training pipeline (load, prepare, backtest, fit, log, register).

The same functions the Mage ``train_traffic`` / ``train_pm25`` blocks call, run in one
process against a throwaway SQLite store and a SQLite MLflow tracking store (no server), so
the figure is the pipeline's own cost. Tuning is off. Prints one line per step and run: the
first run registers the first champion; every later run is the daily retraining, where the
promotion gate refits the champion's configuration on the data before the window (it was
fitted on that window) to compare on the same hours.

    .venv/bin/python scripts/benchmark_training.py --target traffic
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def main(
    target: str = typer.Option("traffic", help="traffic (pm25 needs OpenAQ data ingested)."),
    budget: float = typer.Option(120.0, help="Seconds the whole pipeline may take."),
    runs: int = typer.Option(
        2,
        min=1,
        help="Pipeline runs; from the second on, a champion exists and the gate refits it.",
    ),
) -> None:
    """Time each step of the training pipeline on the bundled data."""
    workdir = Path(tempfile.mkdtemp(prefix="hourcast-bench-"))
    os.environ["HOURCAST_HOME"] = str(workdir)
    os.environ["HOURCAST_MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    os.chdir(workdir)  # MLflow's local artifact root (./mlruns) lands here

    from hourcast.settings import Settings
    from hourcast.storage.db import create_db_engine, upgrade
    from hourcast.training.data import load_training_frame, prepare_training_frame
    from hourcast.training.fit import fit_and_log
    from hourcast.training.register import register_trained

    settings = Settings()
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    if target != "traffic":
        raise typer.BadParameter("only traffic has bundled data to time", param_hint="--target")
    from hourcast.ingestion.traffic import ingest_traffic

    ingest_traffic(engine, settings=settings)
    engine.dispose()

    def run_once() -> tuple[list[tuple[str, float]], float, str]:
        steps: list[tuple[str, float]] = []
        started = time.perf_counter()

        def lap(name: str, since: float) -> float:
            now = time.perf_counter()
            steps.append((name, now - since))
            return now

        mark = time.perf_counter()
        frame = load_training_frame(settings=settings, train_end=None, target=target)
        mark = lap("load", mark)
        frame = prepare_training_frame(frame)
        mark = lap("prepare", mark)
        trained = fit_and_log(frame, target=target, settings=settings, train_end=None)
        mark = lap("backtest + fit + log", mark)
        registered = register_trained(trained, settings=settings)
        lap("register (gate)", mark)
        summary = (
            f"holdout MAE {trained.metrics['holdout_mae']:.2f}, coverage 80% "
            f"{trained.metrics.get('holdout_coverage_80', float('nan')):.1%}, 95% "
            f"{trained.metrics.get('holdout_coverage_95', float('nan')):.1%}; "
            f"registered v{registered.version} as @{registered.alias}"
        )
        return steps, time.perf_counter() - started, summary

    results = [run_once() for _ in range(runs)]
    table = Table(title=f"train_{target} pipeline, {os.cpu_count()} cores, tuning off")
    table.add_column("step")
    for number in range(1, runs + 1):
        label = "first champion" if number == 1 else "with a champion"
        table.add_column(f"run {number} ({label}) s", justify="right")
    for row, (name, _) in enumerate(results[0][0]):
        table.add_row(name, *(f"{steps[row][1]:.1f}" for steps, _, _ in results))
    table.add_row("[bold]total[/bold]", *(f"[bold]{total:.1f}[/bold]" for _, total, _ in results))
    console.print(table)
    for number, (_, total, summary) in enumerate(results, start=1):
        verdict = "within" if total <= budget else "OVER"
        console.print(
            f"run {number}: {summary}; total {total:.1f} s: {verdict} the {budget:.0f} s budget"
        )


if __name__ == "__main__":
    typer.run(main)
