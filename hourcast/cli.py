"""The ``hourcast`` command line: database, ingestion, training, the local stack, forecasts.

Options use ``Optional[X]``, not ``X | None``: mage-ai pins typer 0.9, which cannot parse
PEP 604 unions (and needs real, not postponed, annotations).
"""

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from hourcast.cli_ingest import ingest_app
from hourcast.cli_models import models_app
from hourcast.settings import get_settings

__all__ = ["app"]

app = typer.Typer(
    help="Hourcast: hourly forecasts of air quality and traffic.", no_args_is_help=True
)
db_app = typer.Typer(help="The observation store.", no_args_is_help=True)
train_app = typer.Typer(
    help="Train, log to MLflow and register a forecaster.", no_args_is_help=True
)
stack_app = typer.Typer(help="The local stack: MLflow, API, Mage (and moto).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")
app.add_typer(train_app, name="train")
app.add_typer(stack_app, name="stack")
app.add_typer(models_app, name="models")

console = Console()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply schema migrations to HOURCAST_DATABASE_URL (SQLite under .hourcast by default)."""
    from hourcast.storage.db import create_db_engine, upgrade

    settings = get_settings()
    engine = create_db_engine(settings.resolved_database_url)
    reached = upgrade(engine, revision)
    console.print(f"database at revision [bold]{reached}[/bold] ({engine.url.render_as_string()})")


TrainEndOption = Annotated[
    Optional[str],
    typer.Option(
        "--train-end",
        help="Last hour used for training, ISO-8601 (e.g. 2018-07-08T23:00:00-05:00; "
        "no offset means UTC). Default: all stored data.",
    ),
]
TuneOption = Annotated[
    int, typer.Option("--tune-trials", min=0, help="Optuna trials before training; 0 = no tuning.")
]
BudgetOption = Annotated[
    float, typer.Option("--tune-budget", min=1, help="Seconds the tuning may take.")
]
TreesOption = Annotated[
    int, typer.Option("--num-boost-round", min=0, help="Trees; 0 = the preset's.")
]


def _train(
    target: str,
    train_end: Optional[str],
    num_boost_round: int,
    tune_trials: int = 0,
    tune_budget: float = 600.0,
) -> None:
    from hourcast.timeutil import parse_instant
    from hourcast.training import train_target

    settings = get_settings()
    try:
        cutoff = parse_instant(train_end, field="--train-end") if train_end else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc).split(": ", 1)[-1], param_hint="--train-end") from exc
    with console.status(f"training {target}: backtest, fit, log, register"):
        registered = train_target(
            target,
            settings=settings,
            train_end=cutoff,
            num_boost_round=num_boost_round or None,
            tune_trials=tune_trials,
            tune_budget_s=tune_budget,
        )
    console.print(
        f"registered {registered.name} version {registered.version} as @{registered.alias} "
        f"(run {registered.run_id}): {registered.reason}"
    )


@train_app.command("traffic")
def train_traffic_command(
    train_end: TrainEndOption = None,
    num_boost_round: TreesOption = 0,
    tune_trials: TuneOption = 0,
    tune_budget: BudgetOption = 600.0,
) -> None:
    """Train the traffic forecaster; it becomes champion only if it beats the champion by 1 %."""
    _train("traffic", train_end, num_boost_round, tune_trials, tune_budget)


@train_app.command("pm25")
def train_pm25_command(
    train_end: TrainEndOption = None,
    num_boost_round: TreesOption = 0,
    tune_trials: TuneOption = 0,
    tune_budget: BudgetOption = 600.0,
) -> None:
    """Train the global PM2.5 forecaster over every stored OpenAQ PM2.5 sensor."""
    _train("pm25", train_end, num_boost_round, tune_trials, tune_budget)


def _stack_services(*, mage: bool, moto: bool) -> list[Any]:
    from hourcast import devstack

    stack = devstack.StackSettings()
    settings = get_settings()
    env = {
        "HOURCAST_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{stack.mlflow_port}",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{stack.mlflow_port}",
        "HOURCAST_HOME": str(settings.home.resolve()),
    }
    if settings.aws_endpoint_url:
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.aws_endpoint_url
    services = []
    if moto:
        services.append(devstack.moto_service(port=stack.moto_port, env=env))
    services.append(
        devstack.mlflow_service(
            port=stack.mlflow_port,
            backend_store_uri=stack.backend_store_uri(),
            artifacts_destination=stack.artifacts_destination(),
            env=env,
        )
    )
    services.append(devstack.api_service(port=stack.api_port, env=env))
    if mage:
        mage_env = {**env, "MAGE_DATA_DIR": str((stack.run_dir / "mage_data").resolve())}
        services.append(
            devstack.mage_service(port=stack.mage_port, mage_python=stack.mage_python, env=mage_env)
        )
    return services


def _start_services(services: list[Any]) -> None:
    from hourcast import devstack

    run_dir = devstack.StackSettings().run_dir
    for service in services:
        with console.status(f"starting {service.name}"):
            try:
                pid = devstack.start(service, run_dir)
            except devstack.ServiceError as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from exc
        console.print(f"{service.name}: up (pid {pid}) at {service.health_url}")


@stack_app.command("up")
def stack_up(
    mage: Annotated[bool, typer.Option(help="Also start the Mage UI.")] = True,
    moto: Annotated[bool, typer.Option(help="Also start a moto server (S3, Secrets).")] = False,
) -> None:
    """Start MLflow, the API and Mage in the background (PIDs and logs in the run folder).

    Ports come from HOURCAST_MLFLOW_PORT (5000), HOURCAST_API_PORT (8000), HOURCAST_MAGE_PORT
    (6789) and HOURCAST_MOTO_PORT (5055); logs and PID files go to HOURCAST_RUN_DIR.
    """
    _start_services(_stack_services(mage=mage, moto=moto))
    if moto:
        _ensure_artifact_bucket()


def _ensure_artifact_bucket() -> None:
    """Create the s3:// artifact bucket on the local moto server (a fresh one is empty)."""
    from hourcast import devstack
    from hourcast.ingest import s3_client
    from hourcast.sources.traffic import parse_s3_uri

    destination = devstack.StackSettings().mlflow_artifacts_destination
    settings = get_settings()
    if destination.startswith("s3://") and settings.aws_endpoint_url:
        bucket, _ = parse_s3_uri(destination.rstrip("/") + "/_")
        s3 = s3_client(settings)
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=bucket)
            console.print(f"created bucket s3://{bucket} on {settings.aws_endpoint_url}")


@stack_app.command("restart")
def stack_restart(
    name: Annotated[str, typer.Argument(help="Service: mlflow, api, mage or moto.")],
) -> None:
    """Restart one service (e.g. the API, to load a newly promoted model)."""
    from hourcast import devstack

    services = {s.name: s for s in _stack_services(mage=True, moto=True)}
    if name not in services:
        raise typer.BadParameter(f"choose one of {', '.join(services)}", param_hint="NAME")
    devstack.stop(devstack.StackSettings().run_dir, name)
    _start_services([services[name]])


@stack_app.command("down")
def stack_down() -> None:
    """Stop every service started by `hourcast stack up`."""
    from hourcast import devstack

    run_dir = devstack.StackSettings().run_dir
    names = [p.stem for p in run_dir.glob("*.pid")] if run_dir.exists() else []
    for name in names:
        stopped = devstack.stop(run_dir, name)
        console.print(f"{name}: {'stopped' if stopped else 'was not running'}")
    if not names:
        console.print("nothing to stop")


@stack_app.command("status")
def stack_status() -> None:
    """Show which services run."""
    from hourcast import devstack

    run_dir = devstack.StackSettings().run_dir
    alive = devstack.running(run_dir) if run_dir.exists() else {}
    for name, pid in alive.items():
        console.print(f"{name}: running (pid {pid})")
    if not alive:
        console.print("nothing running")


@app.command("forecast")
def forecast_command(
    series_id: Annotated[str, typer.Option(help="Series to forecast.")] = "traffic:i94-westbound",
    horizon: Annotated[int, typer.Option(min=1, help="Hours ahead.")] = 24,
    api_url: Annotated[
        str, typer.Option(envvar="HOURCAST_API_URL", help="Base URL of the inference API.")
    ] = "http://127.0.0.1:8000",
    plot: Annotated[
        Optional[Path], typer.Option(help="Write a PNG of the last week and the forecast here.")
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the model to load.")] = 0.0,
) -> None:
    """Ask the API for a forecast and print it as a table (optionally plot it)."""
    from hourcast.report import fetch_forecast, forecast_table, plot_forecast

    try:
        response = fetch_forecast(api_url, series_id=series_id, horizon=horizon, wait=wait)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(forecast_table(response))
    if plot is not None:
        settings = get_settings()
        written = plot_forecast(response, settings=settings, path=plot)
        console.print(f"plot written to {written}")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
