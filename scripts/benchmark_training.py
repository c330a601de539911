"""Wall time of the whole training pipeline (load, prepare, backtest, fit, log, register).

Two measurements, tuning off, each over ``--runs`` runs: the first run registers the first
champion; every later run is the daily retraining, where the promotion gate refits the
champion's configuration on the data before the window (it was fitted on that window) to
compare on the same hours.

1. In process: the functions the Mage ``train`` pipeline's blocks call, against a throwaway
   SQLite store and a SQLite MLflow tracking store (no server): the pipeline's own cost, per
   step.
2. The real path (``--mage``, on by default): ``mage run orchestration train`` from the Mage
   virtualenv against an ``mlflow server`` process whose backend store is a PostgreSQL
   database and whose artifacts go to an S3 endpoint (a moto server), with the observation
   store in PostgreSQL too; includes Mage's start-up. Needs the PostgreSQL server of the
   tests (``HOURCAST_TEST_DATABASE_URL``, default 127.0.0.1:5432); its databases, MLflow and
   moto are throwaway ones, started and removed here (``hourcast_dev``).

    .venv/bin/python scripts/benchmark_training.py --target traffic
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def time_mage_runs(
    *, target: str, runs: int, workdir: Path, mage_python: Path, admin_url: str
) -> list[tuple[float, str]]:
    """Wall time and registration line of each ``mage run`` against the real stores."""
    import boto3

    from hourcast.ingestion.traffic import ingest_traffic
    from hourcast.settings import Settings
    from hourcast.storage.db import create_db_engine, upgrade
    from hourcast_dev import local_stack, postgres

    run_dir = workdir / "run"
    store_url = postgres.create_database(admin_url, "hourcast_bench")
    backend_url = postgres.create_database(admin_url, "mlflow_bench")
    try:
        moto_port, mlflow_port = local_stack.free_port(), local_stack.free_port()
        local_stack.start(
            local_stack.moto_service(port=moto_port, env=local_stack.MOTO_AWS_ENV), run_dir
        )
        s3_endpoint = f"http://127.0.0.1:{moto_port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            aws_access_key_id=local_stack.MOTO_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=local_stack.MOTO_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=local_stack.MOTO_AWS_ENV["AWS_DEFAULT_REGION"],
        )
        s3.create_bucket(Bucket="hourcast-mlflow")
        server = local_stack.mlflow_service(
            port=mlflow_port,
            backend_store_uri=backend_url,
            artifacts_destination="s3://hourcast-mlflow/mlartifacts",
            env={**local_stack.MOTO_AWS_ENV, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint},
        )
        local_stack.start(server, run_dir)

        engine = create_db_engine(store_url)
        upgrade(engine)
        ingest_traffic(engine, settings=Settings(database_url=store_url))
        engine.dispose()

        env = {
            **os.environ,
            **local_stack.MOTO_AWS_ENV,
            "HOURCAST_DATABASE_URL": store_url,
            # Artifacts go through the server (proxied), as from the ECS tasks.
            "HOURCAST_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
            "HOURCAST_HOME": str(workdir / "mage-home"),
            "MAGE_DATA_DIR": str(workdir / "mage_data"),
        }
        command = [
            str(mage_python.parent / "mage"),
            "run",
            "orchestration",
            "train",
            "--runtime-vars",
            json.dumps({"target": target}),
        ]
        results = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(
                command, cwd=local_stack.ROOT, env=env, capture_output=True, text=True, check=False
            )
            elapsed = time.perf_counter() - started
            output = done.stdout + done.stderr
            if done.returncode != 0:
                raise RuntimeError(f"mage run exited {done.returncode}:\n{output[-4000:]}")
            found = re.search(r"registered \S+ v\d+ as @\w+", output)
            results.append((elapsed, found.group(0) if found else "no registration line"))
        return results
    finally:
        for service in ("mlflow", "moto"):
            local_stack.stop(run_dir, service)
        for url in (store_url, backend_url):
            postgres.drop_database(admin_url, url)


def main(
    target: str = typer.Option("traffic", help="traffic (pm25 needs OpenAQ data ingested)."),
    budget: float = typer.Option(120.0, help="Seconds the whole pipeline may take."),
    runs: int = typer.Option(
        2,
        min=1,
        help="Pipeline runs; from the second on, a champion exists and the gate refits it.",
    ),
    mage: bool = typer.Option(
        True, help="Also time `mage run` against MLflow on PostgreSQL + S3 (moto)."
    ),
    mage_python: str = typer.Option(
        ".venv-mage/bin/python", help="Python of the Mage virtualenv (from the repo root)."
    ),
) -> None:
    """Time each step of the training pipeline on the bundled data, then `mage run`."""
    from hourcast_dev import local_stack, postgres

    mage_bin = (local_stack.ROOT / mage_python).resolve()
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
    table = Table(title=f"train pipeline in process, {target}, {os.cpu_count()} cores, tuning off")
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
    if not mage:
        return

    timed = time_mage_runs(
        target=target,
        runs=runs,
        workdir=workdir,
        mage_python=mage_bin,
        admin_url=postgres.admin_url(),
    )
    table = Table(
        title=f"mage run orchestration train, {target}: MLflow server on PostgreSQL + S3 (moto)"
    )
    table.add_column("run")
    table.add_column("wall time s", justify="right")
    table.add_column("registered")
    for number, (elapsed, registered) in enumerate(timed, start=1):
        label = "first champion" if number == 1 else "with a champion"
        table.add_row(f"{number} ({label})", f"{elapsed:.1f}", registered)
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
