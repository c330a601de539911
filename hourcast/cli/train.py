"""``hourcast train <target>``: train, log to MLflow and register a target's forecaster.

One command per row of :data:`hourcast.targets.TARGETS`.

typer 0.9 (pinned through mage-ai): no ``X | None`` options here; see :mod:`hourcast.cli.main`.
"""

from collections.abc import Callable
from typing import Annotated, Optional

import typer
from rich.console import Console

from hourcast.settings import get_settings
from hourcast.targets import TARGETS, Target

__all__ = ["train_app"]

train_app = typer.Typer(
    help="Train, log to MLflow and register a forecaster.", no_args_is_help=True
)
console = Console()


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

    settings = get_settings()
    try:
        cutoff = parse_instant(train_end, field="--train-end") if train_end else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc).split(": ", 1)[-1], param_hint="--train-end") from exc
    # Imported once the options are known to be good: a typo is named before the training
    # stack (XGBoost, MLflow) loads.
    from hourcast.training.pipeline import train_target

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


def _command(target: Target) -> Callable[..., None]:
    def command(
        train_end: TrainEndOption = None,
        num_boost_round: TreesOption = 0,
        tune_trials: TuneOption = 0,
        tune_budget: BudgetOption = 600.0,
    ) -> None:
        _train(target.name, train_end, num_boost_round, tune_trials, tune_budget)

    command.__doc__ = (
        f"Train {target.model_name}: {target.description}. The new version becomes champion "
        "only if it beats the champion by 1 %."
    )
    return command


for _target in TARGETS.values():
    train_app.command(_target.name)(_command(_target))
