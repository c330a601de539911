"""``hourcast stack``: start, inspect and stop the local stack (MLflow, the API, Mage, moto).

Added to the ``hourcast`` command by this development package through the ``hourcast.cli``
entry-point group (see ``devtools/pyproject.toml``); the images do not install it.
"""

from typing import Annotated, Any

import typer
from rich.console import Console

from hourcast.settings import get_settings
from hourcast_dev import local_stack

__all__ = ["stack_app"]

stack_app = typer.Typer(help="The local stack: MLflow, API, Mage (and moto).", no_args_is_help=True)
console = Console()


def _stack_services(*, mage: bool, moto: bool) -> list[Any]:
    stack = local_stack.StackSettings()
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
        services.append(local_stack.moto_service(port=stack.moto_port, env=env))
    services.append(
        local_stack.mlflow_service(
            port=stack.mlflow_port,
            backend_store_uri=stack.backend_store_uri(),
            artifacts_destination=stack.artifacts_destination(),
            env=env,
        )
    )
    services.append(local_stack.api_service(port=stack.api_port, env=env))
    if mage:
        mage_env = {**env, "MAGE_DATA_DIR": str((stack.run_dir / "mage_data").resolve())}
        services.append(
            local_stack.mage_service(
                port=stack.mage_port, mage_python=stack.mage_python, env=mage_env
            )
        )
    return services


def _start_services(services: list[Any]) -> None:
    run_dir = local_stack.StackSettings().run_dir
    for service in services:
        with console.status(f"starting {service.name}"):
            try:
                pid = local_stack.start(service, run_dir)
            except local_stack.ServiceError as exc:
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
    # Imported here: they bring pandas, which every other `hourcast` command would pay for.
    from hourcast.ingestion.traffic import s3_client
    from hourcast.sources.traffic import parse_s3_uri

    destination = local_stack.StackSettings().mlflow_artifacts_destination
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
    services = {s.name: s for s in _stack_services(mage=True, moto=True)}
    if name not in services:
        raise typer.BadParameter(f"choose one of {', '.join(services)}", param_hint="NAME")
    local_stack.stop(local_stack.StackSettings().run_dir, name)
    _start_services([services[name]])


@stack_app.command("down")
def stack_down() -> None:
    """Stop every service started by `hourcast stack up`."""
    run_dir = local_stack.StackSettings().run_dir
    names = [p.stem for p in run_dir.glob("*.pid")] if run_dir.exists() else []
    for name in names:
        stopped = local_stack.stop(run_dir, name)
        console.print(f"{name}: {'stopped' if stopped else 'was not running'}")
    if not names:
        console.print("nothing to stop")


@stack_app.command("status")
def stack_status() -> None:
    """Show which services run."""
    run_dir = local_stack.StackSettings().run_dir
    alive = local_stack.running(run_dir) if run_dir.exists() else {}
    for name, pid in alive.items():
        console.print(f"{name}: running (pid {pid})")
    if not alive:
        console.print("nothing running")
