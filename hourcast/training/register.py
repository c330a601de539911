"""Register a trained run's model; the promotion gate decides whether it becomes champion.

The last step of the training pipeline (Mage block ``register_model``). A new version
becomes ``challenger`` and replaces the champion only if its backtest MAE beats the
champion's on the same window by 1 % (:mod:`hourcast.training.registry`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from hourcast.forecasting.forecaster import Forecaster
from hourcast.forecasting.scoring import score
from hourcast.settings import Settings
from hourcast.training.backtest import HORIZON, backtest_forecaster
from hourcast.training.backtest_report import load_backtest
from hourcast.training.data import load_training_frame, prepare_training_frame, series_by_id
from hourcast.training.fit import TrainedRun
from hourcast.training.registry import (
    PromotionDecision,
    apply_decision,
    champion_version,
    decide_promotion,
)
from hourcast.training.tracking import load_model_by_alias, register_model_version

__all__ = ["ChampionComparison", "RegisteredVersion", "register_trained"]

_log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class ChampionComparison:
    """The champion and the challenger scored on the same hours of the series both know.

    Attributes:
        champion_mae: The champion's MAE on those hours.
        challenger_mae: The challenger's MAE on the same hours (from its own backtest).
        compared: Series scored for both.
        not_in_champion: Challenger series the champion was not trained on (not scored).
        not_in_challenger: Champion series the challenger lacks (retired, or no data).
    """

    champion_mae: float | None
    challenger_mae: float
    compared: list[str]
    not_in_champion: list[str]
    not_in_challenger: list[str]


def _compare_with_champion(
    champion: Forecaster, trained: TrainedRun, settings: Settings
) -> ChampionComparison:
    """Score the champion on the challenger's backtest hours of the series it knows."""
    backtest = load_backtest(trained.run_id, tracking_uri=settings.mlflow_tracking_uri)
    challenger_series = sorted(set(backtest["series_id"]))
    known = set(champion.series_codes)
    single = len(known) == 1 and len(challenger_series) == 1  # a one-series model scores any
    compared = [sid for sid in challenger_series if sid in known or single]
    comparison = ChampionComparison(
        champion_mae=None,
        challenger_mae=score(backtest["actual"], backtest["forecast"])["mae"],
        compared=compared,
        not_in_champion=[sid for sid in challenger_series if sid not in compared],
        not_in_challenger=sorted(known - set(challenger_series)) if not single else [],
    )
    if not compared:
        return comparison
    rows = backtest[backtest["series_id"].isin(compared)]
    origins = {
        str(sid): pd.DatetimeIndex(sorted(set(group["origin"])))
        for sid, group in rows.groupby("series_id")
    }
    end = rows["origin"].max() + pd.Timedelta(hours=HORIZON - 1)
    frame = prepare_training_frame(
        load_training_frame(
            settings=settings,
            series_id=trained.series_id or None,
            train_end=end,
            target=trained.target,
        )
    )
    series_map = {sid: s for sid, s in series_by_id(frame).items() if sid in origins}
    first = min(o[0] for o in origins.values())
    if champion.trained_until is not None and champion.trained_until >= first:
        # The champion was fitted on hours inside the window: replay its configuration on the
        # data before the window, as the challenger was, so neither has seen the hours scored.
        scored = backtest_forecaster(
            champion.clone(calibration_days=0), series_map, origins, fit=True
        )
    else:
        scored = backtest_forecaster(champion, series_map, origins, fit=False)
    keys = ["series_id", "origin", "step"]
    both = rows[[*keys, "actual", "forecast"]].merge(
        scored[[*keys, "forecast"]], on=keys, suffixes=("", "_champion")
    )
    return replace(
        comparison,
        champion_mae=score(both["actual"], both["forecast_champion"])["mae"],
        challenger_mae=score(both["actual"], both["forecast"])["mae"],
    )


def _names(ids: list[str], most: int = 20) -> str:
    shown = ", ".join(ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _gate(
    client: MlflowClient, trained: TrainedRun, settings: Settings, version: str
) -> tuple[PromotionDecision, dict[str, str]]:
    """The gate's decision and the version tags that say why; it always decides.

    Without a champion the version is promoted. A champion is scored only on the series it
    was trained on; the others are reported in the tags. If it knows none of the challenger's
    series, nothing can be compared and the challenger, which forecasts them all, is
    promoted. If scoring the champion fails, the version stays challenger with the error as
    the reason.
    """
    challenger_mae = trained.metrics["holdout_mae"]
    current = champion_version(client, trained.model_name)
    if current is None or current == version:
        return decide_promotion(challenger_mae, None), {}
    try:
        champion = load_model_by_alias(
            tracking_uri=settings.mlflow_tracking_uri, name=trained.model_name, alias="champion"
        ).forecaster
        found = _compare_with_champion(champion, trained, settings)
    except Exception as exc:  # the gate must decide even when the champion cannot be scored
        _log.exception("the champion v%s of %s could not be scored", current, trained.model_name)
        reason = f"champion v{current} could not be scored ({type(exc).__name__}: {exc})"
        decision = PromotionDecision(False, reason, challenger_mae, None, None)
        return decision, {"gate_error": reason[:5000]}
    tags = {
        "gate_champion_version": str(current),
        "gate_series_compared": str(len(found.compared)),
        "gate_series_not_in_champion": _names(found.not_in_champion) or "none",
        "gate_series_not_in_challenger": _names(found.not_in_challenger) or "none",
    }
    if found.champion_mae is None:
        reason = (
            f"champion v{current} knows none of the challenger's {len(found.not_in_champion)} "
            "series: nothing to compare on; the challenger forecasts them all"
        )
        return PromotionDecision(True, reason, challenger_mae, None, None), tags
    decision = decide_promotion(found.challenger_mae, found.champion_mae)
    if found.not_in_champion:
        unscored = len(found.not_in_champion)
        decision = replace(
            decision,
            reason=f"{decision.reason}, on the {len(found.compared)} series the champion "
            f"knows ({unscored} not scored: new to the champion)",
        )
    return decision, tags


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
    decision, tags = _gate(client, trained, settings, version)
    champion_mae = decision.champion_mae
    if alias == "champion" and not decision.promote:
        decision = replace(decision, promote=True, reason=f"forced by hand ({decision.reason})")
    for key, value in tags.items():
        client.set_model_version_tag(trained.model_name, version, key, value)
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
