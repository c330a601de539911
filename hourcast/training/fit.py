"""Fit and log: backtest a target's forecaster, refit it on all data, log both to MLflow.

The training step of the pipeline (Mage block ``train_forecaster``). Evaluation is a
rolling-origin backtest over the last ``holdout_days`` local midnights of the data, 24 hours
ahead, fitted once on the data before the first origin (refit policy: none within the
window). The same window scores the seasonal-naive baselines and, at registration, the
current champion (:mod:`hourcast.training.register`); tuning scores the days before it
(:func:`hourcast.training.tuning.tuning_window`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas

from hourcast.settings import Settings
from hourcast.targets import get_target
from hourcast.training.backtest import backtest_forecaster, backtest_window
from hourcast.training.backtest_report import evaluate, log_backtest
from hourcast.training.plots import log_backtest_plots
from hourcast.training.tracking import log_forecaster

__all__ = ["HOLDOUT_DAYS", "TrainedRun", "fit_and_log"]

HOLDOUT_DAYS = 14


@dataclass(frozen=True)
class TrainedRun:
    """An MLflow run holding a fitted forecaster and its backtest."""

    target: str
    model_name: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    train_end: str
    rows: int
    holdout_origins: list[str] = field(default_factory=list)
    series_id: str = ""
    holdout_dates: list[str] = field(default_factory=list)
    """The local days of the window; each series' origins are its own local midnights."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (Mage passes block outputs between processes)."""
        return asdict(self)


def _content_hash(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame[["series_id", "ts", "value"]], index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


def fit_and_log(
    frame: pd.DataFrame,
    *,
    target: str = "traffic",
    settings: Settings,
    train_end: pd.Timestamp | None,
    num_boost_round: int | None = None,
    params: dict[str, Any] | None = None,
    holdout_days: int = HOLDOUT_DAYS,
) -> TrainedRun:
    """Backtest on the last ``holdout_days``, refit on everything, log both to a new run.

    Args:
        frame: Output of :func:`hourcast.training.data.prepare_training_frame`.
        target: A name in ``hourcast.targets.TARGETS``.
        settings: Tracking URI and friends.
        train_end: The cutoff the data was loaded with (logged).
        num_boost_round: Trees; defaults to the preset's.
        params: XGBoost parameters over the preset's (e.g. from tuning).
        holdout_days: Daily origins in the backtest window.
    """
    goal = get_target(target)
    window = backtest_window(frame, holdout_days)
    series_map, origins = window.series_map, window.all_origins
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(goal.model_name)
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"train-{goal.name}") as run:
        mlflow.set_tags(
            {
                "target": goal.name,
                "series_ids": ",".join(series_map),
                "holdout_origins": ",".join(o.isoformat() for o in origins),
                "holdout_dates": ",".join(window.dates),
                "refit_policy": "fit once before the first origin; no refit in the window",
            }
        )
        observed = frame.dropna(subset=["value"])
        mlflow.log_params(
            {
                "target": goal.name,
                "series_count": len(series_map),
                "train_end": str(train_end) if train_end is not None else "latest",
                "data_start": str(frame["ts"].min()),
                "data_end": str(frame["ts"].max()),
                "observed_hours": len(observed),
                "data_sha256_16": _content_hash(observed),
                "holdout_days": holdout_days,
                "timezone": window.timezone,
                "timezones": ",".join(sorted(set(window.timezones.values()))),
            }
        )
        # Lineage: the store (without credentials), rows and a content hash, as run params
        # above and as an MLflow dataset input (its digest is MLflow's own content hash).
        mlflow.set_tag("data_source", settings.resolved_database_url.split("@")[-1])
        # From its module: mlflow.data defines its from_* aliases at run time, unseen by mypy.
        dataset = from_pandas(
            observed[["series_id", "ts", "value"]].assign(ts=observed["ts"].astype(str)),
            name=f"{goal.name}-observations",
        )
        mlflow.log_input(dataset, context="training")

        candidate = goal.new_forecaster(
            timezone=window.timezone,
            series_timezones=window.timezones,
            num_boost_round=num_boost_round,
            params=params,
        )
        mlflow.log_params(
            {
                "strategy": candidate.strategy,
                "target_transform": candidate.target_transform,
                "num_boost_round": candidate.num_boost_round,
                "lags": ",".join(
                    str(t.lag) for t in candidate.config.transforms if t.name.startswith("lag_")
                ),
                **{f"xgb_{k}": v for k, v in candidate.params.items()},
            }
        )
        mlflow.log_dict(candidate.config.to_dict(), "feature_config.json")
        frame_bt = backtest_forecaster(candidate, series_map, window.origins)
        left_out = sorted(set(series_map) - set(frame_bt["series_id"]))
        mlflow.set_tag(
            "holdout_left_out",
            ", ".join(left_out) + " (no observed hour before the window)" if left_out else "none",
        )
        metrics, table, by_series = evaluate(frame_bt, series_map)
        mlflow.log_table(
            table.reset_index(names="step").astype({"step": str}), "metrics/per_step.json"
        )
        mlflow.log_table(by_series.reset_index(names="series_id"), "metrics/per_series.json")
        log_backtest_plots(frame_bt, candidate.booster)
        # The backtest itself, for the Mage chart blocks (hourcast.training.backtest_report).
        log_backtest(frame_bt)

        period = candidate.calibrated_on
        mlflow.log_params(
            {
                "calibration": candidate.calibration,
                "calibration_days": candidate.calibration_days,
                "calibrated_on": "none" if period is None else f"{period[0]}/{period[1]}",
            }
        )

        # The refit on all data reuses the backtest model's conformal quantiles (calibrated on
        # the same weeks a year before the holdout window) instead of calibrating again:
        # calibration is the most expensive part of a fit and would double the pipeline's time.
        forecaster = candidate.clone().fit(series_map, intervals=candidate.intervals)
        metrics["train_seconds"] = time.perf_counter() - started
        mlflow.log_metrics(metrics)
        sid, first = next(iter(series_map.items()))
        tail = first.dropna().iloc[-48:]
        example = pd.DataFrame({"ts": tail.index, "value": tail.to_numpy()})
        info = log_forecaster(forecaster, history_example=example)
        return TrainedRun(
            target=goal.name,
            model_name=goal.model_name,
            run_id=run.info.run_id,
            model_uri=info.model_uri,
            metrics=metrics,
            train_end=str(frame["ts"].max()),
            rows=len(observed),
            holdout_origins=[o.isoformat() for o in origins],
            series_id=sid if len(series_map) == 1 else "",
            holdout_dates=list(window.dates),
        )
