"""``hourcast models``: list registered versions, promote one, roll back the champion.

typer 0.9 (pinned through mage-ai): no ``X | None`` options here; see :mod:`hourcast.cli.main`.
"""

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from hourcast.settings import get_settings
from hourcast.targets import TRAFFIC_TARGET

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["models_app"]

models_app = typer.Typer(help="Registered models: list, promote, roll back.", no_args_is_help=True)
console = Console()

ModelOption = Annotated[str, typer.Option("--model", "-m", help="Registered model name.")]
DEFAULT_MODEL = TRAFFIC_TARGET.model_name


def _client() -> "MlflowClient":
    # MLflow takes seconds to import: only the commands that talk to the registry load it.
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=get_settings().mlflow_tracking_uri)


@models_app.command("list")
def list_command(model: ModelOption = DEFAULT_MODEL) -> None:
    """Versions of MODEL, newest first, with aliases and holdout MAE."""
    from mlflow.exceptions import MlflowException

    from hourcast.training.registry import RegistryError, list_versions

    try:
        rows = list_versions(_client(), model)
    except (RegistryError, MlflowException) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    table = Table(title=model)
    for column in ("version", "aliases", "holdout MAE", "created (UTC)", "promotion", "run"):
        table.add_column(column)
    for row in rows:
        created = dt.datetime.fromtimestamp(row.created / 1000, tz=dt.UTC)
        table.add_row(
            row.version,
            ", ".join(row.aliases),
            "" if row.holdout_mae is None else f"{row.holdout_mae:,.2f}",
            created.strftime("%Y-%m-%d %H:%M"),
            row.promotion,
            row.run_id[:8],
        )
    console.print(table if rows else f"{model} has no versions")


@models_app.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    model: ModelOption = DEFAULT_MODEL,
    reason: Annotated[str, typer.Option(help="Why; stored as a version tag.")] = "by hand",
) -> None:
    """Make VERSION the champion (the API serves it within its registry poll interval)."""
    from mlflow.exceptions import MlflowException

    from hourcast.training.registry import promote

    try:
        promote(_client(), model, version, reason=reason)
    except MlflowException as exc:
        raise typer.BadParameter(f"{model} has no version {version}", param_hint="VERSION") from exc
    console.print(f"{model} v{version} is now champion")


@models_app.command("rollback")
def rollback_command(model: ModelOption = DEFAULT_MODEL) -> None:
    """Point champion back at the previous champion."""
    from mlflow.exceptions import MlflowException

    from hourcast.training.registry import RegistryError, rollback

    try:
        version = rollback(_client(), model)
    except (RegistryError, MlflowException) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{model}: champion rolled back to v{version}")
