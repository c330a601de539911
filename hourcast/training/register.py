"""Register a trained run's model; the promotion gate decides whether it becomes champion.

The last step of the training pipeline (Mage block ``register_model``). A new version
becomes ``challenger`` and replaces the champion only if its backtest MAE beats the
champion's on the same window by 1 % (:mod:`hourcast.training.registry`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from hourcast.forecasting.scoring import score
from hourcast.settings import Settings
from hourcast.training.backtest import HORIZON, backtest_forecaster
from hourcast.training.data import load_training_frame, prepare_training_frame, series_by_id
from hourcast.training.fit import TrainedRun
from hourcast.training.registry import apply_decision, champion_version, decide_promotion
from hourcast.training.tracking import load_model_by_alias, register_model_version

__all__ = ["RegisteredVersion", "register_trained"]


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version, the alias it ended with, and why."""

    name: str
    version: str
    alias: str
    run_id: str
    reason: str = ""
    champion_mae: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _champion_mae(
    client: MlflowClient, trained: TrainedRun, settings: Settings, version: str
) -> float | None:
    """The champion's MAE on the challenger's holdout window, or None without a champion."""
    current = champion_version(client, trained.model_name)
    if current is None or current == version:
        return None
    champion = load_model_by_alias(
        tracking_uri=settings.mlflow_tracking_uri, name=trained.model_name, alias="champion"
    ).forecaster
    origins = pd.DatetimeIndex(trained.holdout_origins)
    end = origins.max() + pd.Timedelta(hours=HORIZON - 1)
    frame = prepare_training_frame(
        load_training_frame(
            settings=settings,
            series_id=trained.series_id or None,
            train_end=end,
            target=trained.target,
        )
    )
    series_map = series_by_id(frame)
    seen_window = champion.trained_until is not None and champion.trained_until >= origins[0]
    if seen_window:
        # The champion was fitted on hours inside the window: replay its configuration on the
        # data before the window, as the challenger was, so neither has seen the hours scored.
        replay = champion.clone(calibration_days=0)
        scored = backtest_forecaster(replay, series_map, origins, fit=True)
    else:
        scored = backtest_forecaster(champion, series_map, origins, fit=False)
    return score(scored["actual"], scored["forecast"])["mae"]


def register_trained(
    trained: TrainedRun, *, settings: Settings, alias: str | None = None
) -> RegisteredVersion:
    """Register the run's model; the promotion gate decides whether it becomes champion.

    Args:
        trained: The run to register.
        settings: Tracking URI and the observation store (to score the champion).
        alias: ``champion`` forces promotion (by hand); None applies the gate.
    """
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    version = register_model_version(
        tracking_uri=settings.mlflow_tracking_uri,
        model_uri=trained.model_uri,
        name=trained.model_name,
        tags={"target": trained.target, "train_end": trained.train_end},
    )
    champion_mae = _champion_mae(client, trained, settings, version)
    decision = decide_promotion(trained.metrics["holdout_mae"], champion_mae)
    if alias == "champion" and not decision.promote:
        decision = replace(decision, promote=True, reason=f"forced by hand ({decision.reason})")
    final_alias = apply_decision(client, trained.model_name, version, decision)
    with mlflow.start_run(run_id=trained.run_id):
        mlflow.set_tags({"promotion": decision.reason, "registered_version": version})
        if champion_mae is not None:
            mlflow.log_metric("champion_holdout_mae", champion_mae)
    return RegisteredVersion(
        name=trained.model_name,
        version=version,
        alias=final_alias,
        run_id=trained.run_id,
        reason=decision.reason,
        champion_mae=champion_mae,
    )
