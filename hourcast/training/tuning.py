"""Bounded hyperparameter search with Optuna; every trial is a nested MLflow run.

Each trial fits on the data before the tuning window and scores the 24-hour forecasts of its
daily origins (the same rolling-origin backtest as training, without intervals). The search
stops at ``n_trials`` or ``timeout_s``, whichever comes first.

The tuning window lies before the holdout window that training backtests on and the promotion
gate compares (:func:`tuning_window`): the trials never see an hour of it, so the holdout MAE
of a tuned model is not chosen on the hours it is scored on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import mlflow
import optuna
import pandas as pd

from hourcast.forecasting.features import HOUR
from hourcast.forecasting.scoring import score
from hourcast.settings import Settings
from hourcast.targets import get_target
from hourcast.training.backtest import (
    HORIZON,
    backtest_forecaster,
    backtest_window,
    local_day_origins,
)
from hourcast.training.fit import HOLDOUT_DAYS

__all__ = ["TuningResult", "search_space", "tune", "tuned_settings", "tuning_window"]


@dataclass(frozen=True)
class TuningResult:
    """The best parameters found and what the search did."""

    best_params: dict[str, Any]
    best_mae: float
    trials: int
    seconds: float
    parent_run_id: str


def search_space(trial: optuna.Trial) -> dict[str, Any]:
    """XGBoost parameters and tree count of one trial."""
    return {
        "max_depth": trial.suggest_int("max_depth", 4, 10),
        "eta": trial.suggest_float("eta", 0.02, 0.2, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 50.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "num_boost_round": trial.suggest_int("num_boost_round", 100, 800, step=100),
    }


def tuning_window(
    frame: pd.DataFrame, days: int, *, holdout_days: int = HOLDOUT_DAYS
) -> tuple[dict[str, pd.Series], dict[str, str], dict[str, pd.DatetimeIndex]]:
    """Series cut before the holdout, their time zones, and the ``days`` daily origins before it.

    The holdout is the window training backtests on and the promotion gate compares
    (:func:`~hourcast.training.backtest.backtest_window` with ``holdout_days``). The tuning
    origins are the last ``days`` local days whose 24 forecast hours all end before the
    holdout's first origin in every series' zone (a 23-hour day just before it is skipped), at
    each series' own local midnight, and the series stop there, so a trial neither fits on nor
    scores an hour of the holdout.

    Args:
        frame (pd.DataFrame): A prepared training frame.
        days (int): Daily origins to score.
        holdout_days (int): Daily origins of the holdout window. Defaults to ``HOLDOUT_DAYS``.

    Raises:
        ValueError: No daily origin fits before the holdout.
    """
    window = backtest_window(frame, holdout_days)
    first = window.first
    before = {sid: s[s.index < first] for sid, s in window.series_map.items()}
    span = pd.DatetimeIndex([min(s.index[0] for s in before.values() if len(s)), first - HOUR])
    dates, origins = local_day_origins(span, window.timezones, days=days, horizon=HORIZON)
    if not dates:
        raise ValueError(f"no daily origin fits before the {holdout_days}-day holdout from {first}")
    return before, window.timezones, origins


def tune(
    frame: pd.DataFrame,
    *,
    target: str,
    settings: Settings,
    n_trials: int = 20,
    timeout_s: float = 600.0,
    tuning_days: int = 7,
    holdout_days: int = HOLDOUT_DAYS,
    seed: int = 7,
) -> TuningResult:
    """Search the booster's parameters on the ``tuning_days`` daily origins before the holdout.

    Args:
        frame: Output of ``hourcast.training.data.prepare_training_frame``.
        target: A name in ``hourcast.targets.TARGETS``.
        settings: Tracking URI.
        n_trials: Most trials to run.
        timeout_s: Time budget in seconds.
        tuning_days: Daily origins scored per trial.
        holdout_days: Daily origins of the holdout window that training scores and the
            promotion gate compares (pass the training's own); tuning stays before it.
        seed: Sampler seed (TPE), for repeatable searches.
    """
    goal = get_target(target)
    series_map, timezones, origins = tuning_window(frame, tuning_days, holdout_days=holdout_days)
    all_origins = sorted({o for found in origins.values() for o in found})
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(goal.model_name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()

    with mlflow.start_run(run_name=f"tune-{goal.name}") as parent:
        mlflow.log_params(
            {
                "n_trials": n_trials,
                "timeout_s": timeout_s,
                "tuning_days": tuning_days,
                "holdout_days": holdout_days,
            }
        )
        mlflow.set_tag("tuning_origins", ",".join(o.isoformat() for o in all_origins))

        def objective(trial: optuna.Trial) -> float:
            proposal = search_space(trial)
            rounds = proposal.pop("num_boost_round")
            with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
                mlflow.log_params({**proposal, "num_boost_round": rounds})
                forecaster = goal.new_forecaster(
                    timezone=timezones[min(timezones)],
                    series_timezones=timezones,
                    num_boost_round=rounds,
                    params=proposal,
                )
                scored = backtest_forecaster(
                    forecaster.clone(calibration_days=0), series_map, origins
                )
                mae = score(scored["actual"], scored["forecast"])["mae"]
                mlflow.log_metric("tuning_mae", mae)
            return mae

        study = optuna.create_study(
            direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
        seconds = time.perf_counter() - started
        mlflow.log_metrics({"best_tuning_mae": study.best_value, "tuning_seconds": seconds})
        mlflow.log_params({f"best_{k}": v for k, v in study.best_params.items()})
        return TuningResult(
            best_params=dict(study.best_params),
            best_mae=float(study.best_value),
            trials=len(study.trials),
            seconds=seconds,
            parent_run_id=parent.info.run_id,
        )


def tuned_settings(
    frame: pd.DataFrame,
    *,
    target: str,
    settings: Settings,
    trials: int,
    budget_s: float,
    holdout_days: int = HOLDOUT_DAYS,
) -> tuple[int, dict[str, Any]]:
    """Run the Optuna search before the holdout; returns the best tree count and parameters."""
    best = tune(
        frame,
        target=target,
        settings=settings,
        n_trials=trials,
        timeout_s=budget_s,
        holdout_days=holdout_days,
    )
    params = dict(best.best_params)
    return int(params.pop("num_boost_round")), params
