"""Training steps shared by the Mage pipelines and the CLI: load, prepare, fit and log, register.

A *target* is what one registered model forecasts: ``traffic`` (the I-94 series, model
``hourcast-traffic-volume``) or ``pm25`` (a global model over every stored OpenAQ PM2.5 sensor,
model ``hourcast-pm25``). Each step is a plain function, so a Mage block is one call.

Evaluation: a rolling-origin backtest over the last ``holdout_days`` local midnights of the
data, 24 hours ahead, fitted once on the data before the first origin (refit policy: none
within the window). The same window scores the seasonal-naive baselines and, at registration,
the current champion. The model then refits on all data and is logged; a new version becomes
``challenger`` and replaces the champion only if it beats it by 1 % MAE (``hourcast.registry``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from hourcast.backtest import daily_origins, forecast_from
from hourcast.backtest_report import SEASONS, add_seasonal_naive, log_backtest
from hourcast.features import regularize
from hourcast.forecaster import Forecaster
from hourcast.metrics import mase_scale, score, score_by_step
from hourcast.models import preset_for
from hourcast.registry import apply_decision, champion_version, decide_promotion
from hourcast.series import TRAFFIC_I94
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine
from hourcast.storage.observations import list_series, load_observations
from hourcast.tracking import log_forecaster, register_model_version

__all__ = [
    "HOLDOUT_DAYS",
    "TARGETS",
    "RegisteredVersion",
    "Target",
    "TrainedRun",
    "backtest",
    "backtest_window",
    "fit_and_log",
    "load_training_frame",
    "prepare_training_frame",
    "register_trained",
    "train_target",
    "tuned_settings",
]

HOLDOUT_DAYS = 14
HORIZON = 24
LEVELS = (80, 95)


@dataclass(frozen=True)
class Target:
    """What one registered model forecasts."""

    name: str
    model_name: str
    source: str
    parameter: str


TARGETS: dict[str, Target] = {
    "traffic": Target("traffic", TRAFFIC_I94.model_name, "traffic", "traffic_volume"),
    "pm25": Target("pm25", "hourcast-pm25", "openaq", "pm25"),
}


def get_target(name: str) -> Target:
    """The target called ``name``.

    Raises:
        ValueError: Unknown target; the message lists the known ones.
    """
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (Mage passes block outputs between processes)."""
        return asdict(self)


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


# ----------------------------------------------------------------------------- load
def load_training_frame(
    *,
    settings: Settings,
    series_id: str | None = None,
    train_end: pd.Timestamp | None,
    target: str = "traffic",
) -> pd.DataFrame:
    """Observations up to ``train_end`` (inclusive) of one series, or of every target series.

    Returns:
        pd.DataFrame: ``series_id``, ``ts`` (UTC), ``value``, ``timezone``.
    """
    engine = create_db_engine(settings.resolved_database_url)
    try:
        goal = get_target(target)
        stored = [
            (found.series_id, found.timezone)
            for found in list_series(engine, source=goal.source, parameter=goal.parameter)
        ]
        if series_id is not None:
            stored = [(sid, tz) for sid, tz in stored if sid == series_id]
        parts = []
        for sid, timezone in stored:
            frame = load_observations(engine, series_id=sid, end=train_end)
            parts.append(frame.assign(series_id=sid, timezone=timezone))
    finally:
        engine.dispose()
    if not parts or all(part.empty for part in parts):
        raise ValueError(
            f"no observations for target {target!r} up to {train_end}; run `hourcast ingest` first"
        )
    return pd.concat(parts, ignore_index=True)[["series_id", "ts", "value", "timezone"]]


def prepare_training_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Per series: a gap-free hourly index (NaN for missing hours), validated."""
    if frame.duplicated(["series_id", "ts"]).any():
        raise ValueError("duplicate hours in the training data")
    parts = []
    for (sid, timezone), group in frame.groupby(["series_id", "timezone"], sort=True):
        series = regularize(pd.Series(group["value"].to_numpy(float), index=group["ts"]))
        parts.append(
            pd.DataFrame(
                {
                    "series_id": sid,
                    "ts": series.index,
                    "value": series.to_numpy(),
                    "timezone": timezone,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _series_map(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        str(sid): pd.Series(group["value"].to_numpy(float), index=pd.DatetimeIndex(group["ts"]))
        for sid, group in frame.groupby("series_id", sort=True)
    }


def backtest_window(
    frame: pd.DataFrame, days: int
) -> tuple[dict[str, pd.Series], str, pd.DatetimeIndex]:
    """Series by id, the calendar time zone, and the last ``days`` local-midnight origins."""
    series_map = _series_map(frame)
    timezone = str(frame["timezone"].iloc[0])
    longest = max(series_map.values(), key=len)
    return series_map, timezone, daily_origins(longest.index, timezone=timezone, n_origins=days)


# ----------------------------------------------------------------------------- model
def _new_forecaster(
    target: Target, timezone: str, num_boost_round: int | None, params: dict[str, Any] | None
) -> Forecaster:
    preset = preset_for(target.source)
    holiday = TRAFFIC_I94.holiday_calendar if target.name == "traffic" else None
    overrides: dict[str, Any] = {}
    if num_boost_round:
        overrides["num_boost_round"] = int(num_boost_round)
    if params:
        overrides["params"] = {**preset.params, **params}
    return preset.forecaster(timezone=timezone, holiday_calendar=holiday, **overrides)


def backtest(
    forecaster: Forecaster,
    series_map: dict[str, pd.Series],
    origins: pd.DatetimeIndex,
    *,
    fit: bool = True,
) -> pd.DataFrame:
    """Forecast 24 h with intervals from every origin for every series.

    Args:
        forecaster: Fitted on the data before the first origin here if ``fit``; else used as is
            (e.g. the champion).
        series_map: Regular hourly series by id.
        origins: First forecast hours.
        fit: Fit once on all data before the first origin.

    Returns:
        pd.DataFrame: ``series_id``, ``origin``, ``ts``, ``step``, ``actual``, ``forecast`` and,
        when the model has intervals, ``lo_80``..``hi_95``.
    """
    if fit:
        forecaster.fit({sid: s[s.index < origins[0]] for sid, s in series_map.items()})
    levels = LEVELS if forecaster.interval_quantiles else ()
    columns = ["value"] + [f"{side}_{level}" for level in levels for side in ("lo", "hi")]
    parts = []
    for sid, series in series_map.items():
        code = sid if sid in forecaster.series_codes else None

        def predict(history: pd.Series, horizon: int, _sid: str | None = code) -> Any:
            return forecaster.predict_intervals(history, horizon, levels, series_id=_sid)

        for origin in origins:
            if series[series.index < origin].dropna().empty:
                continue
            values = forecast_from(predict, series, origin, HORIZON)
            hours = pd.date_range(origin, periods=HORIZON, freq="h")
            part = pd.DataFrame(values.reshape(HORIZON, -1), columns=columns)
            part = part.rename(columns={"value": "forecast"})
            part.insert(0, "series_id", sid)
            part.insert(1, "origin", origin)
            part.insert(2, "ts", hours)
            part.insert(3, "step", np.arange(1, HORIZON + 1))
            part.insert(4, "actual", series.reindex(hours).to_numpy())
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- evaluate
def evaluate(
    frame: pd.DataFrame, series_map: dict[str, pd.Series]
) -> tuple[dict[str, float], pd.DataFrame]:
    """Overall metrics (with baselines and interval coverage) and the per-step table."""
    first_origin = frame["origin"].min()
    insample = pd.concat([s[s.index < first_origin] for s in series_map.values()])
    scale = mase_scale(insample.to_numpy(), season=168)
    table = score_by_step(frame, scale=scale)
    overall = table.loc["overall"]
    metrics = {f"holdout_{key}": float(value) for key, value in overall.items()}
    scored = frame["actual"].notna()
    for level in LEVELS:
        if f"lo_{level}" in frame:
            inside = frame["actual"].between(frame[f"lo_{level}"], frame[f"hi_{level}"])
            metrics[f"holdout_coverage_{level}"] = float(inside[scored].mean())
    baselines = add_seasonal_naive(frame, series_map, SEASONS)
    for season in SEASONS:
        metrics[f"holdout_seasonal_naive_{season}_mae"] = score(
            baselines["actual"], baselines[f"seasonal_naive_{season}"]
        )["mae"]
    return metrics, table


def _log_plots(frame: pd.DataFrame, forecaster: Forecaster) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sid = str(frame["series_id"].iloc[0])
    last = frame[
        (frame["series_id"] == sid)
        & (frame["origin"] >= frame["origin"].max() - pd.Timedelta(days=6))
    ]
    figure, axis = plt.subplots(figsize=(12, 4), dpi=100)
    axis.plot(last["ts"], last["actual"], label="actual", lw=1.2)
    axis.plot(last["ts"], last["forecast"], label="forecast (24 h ahead)", lw=1.2)
    if "lo_80" in last:
        axis.fill_between(
            last["ts"], last["lo_80"], last["hi_80"], alpha=0.25, label="80% interval"
        )
    axis.set_title(f"{sid}: backtest, last 7 origins")
    axis.legend()
    figure.autofmt_xdate()
    mlflow.log_figure(figure, "plots/forecast_vs_actual.png")
    plt.close(figure)

    residuals = (frame["actual"] - frame["forecast"]).dropna()
    figure, axis = plt.subplots(figsize=(6, 4), dpi=100)
    axis.hist(residuals, bins=60)
    axis.set_title("backtest residuals (actual - forecast)")
    mlflow.log_figure(figure, "plots/residuals.png")
    plt.close(figure)

    booster = forecaster.booster
    if booster is not None:
        gains = booster.get_score(importance_type="gain")
        top = sorted(gains.items(), key=lambda item: item[1])[-20:]
        figure, axis = plt.subplots(figsize=(7, 6), dpi=100)
        axis.barh([name for name, _ in top], [value for _, value in top])
        axis.set_title("feature importance (gain)")
        figure.tight_layout()
        mlflow.log_figure(figure, "plots/feature_importance.png")
        plt.close(figure)


def _content_hash(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame[["series_id", "ts", "value"]], index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


# ----------------------------------------------------------------------------- fit and log
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
        frame: Output of :func:`prepare_training_frame`.
        target: ``traffic`` or ``pm25``.
        settings: Tracking URI and friends.
        train_end: The cutoff the data was loaded with (logged).
        num_boost_round: Trees; defaults to the preset's.
        params: XGBoost parameters over the preset's (e.g. from tuning).
        holdout_days: Daily origins in the backtest window.
    """
    goal = get_target(target)
    series_map, timezone, origins = backtest_window(frame, holdout_days)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(goal.model_name)
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"train-{goal.name}") as run:
        mlflow.set_tags(
            {
                "target": goal.name,
                "series_ids": ",".join(series_map),
                "holdout_origins": ",".join(o.isoformat() for o in origins),
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
                "timezone": timezone,
            }
        )
        # Lineage: the store (without credentials), rows and a content hash, as run params
        # above and as an MLflow dataset input (its digest is MLflow's own content hash).
        mlflow.set_tag("data_source", settings.resolved_database_url.split("@")[-1])
        dataset = mlflow.data.from_pandas(
            observed[["series_id", "ts", "value"]].assign(ts=observed["ts"].astype(str)),
            name=f"{goal.name}-observations",
        )
        mlflow.log_input(dataset, context="training")

        candidate = _new_forecaster(goal, timezone, num_boost_round, params)
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
        frame_bt = backtest(candidate, series_map, origins)
        metrics, table = evaluate(frame_bt, series_map)
        mlflow.log_table(
            table.reset_index(names="step").astype({"step": str}), "metrics/per_step.json"
        )
        _log_plots(frame_bt, candidate)
        # The backtest itself, for the Mage chart blocks (hourcast.backtest_report).
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
        forecaster = _new_forecaster(goal, timezone, num_boost_round, params)
        forecaster = replace(forecaster, calibration_days=0).fit(series_map)
        forecaster.interval_quantiles = dict(candidate.interval_quantiles)
        forecaster.calibrated_on = period
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
        )


# ----------------------------------------------------------------------------- register
def _champion_mae(
    client: MlflowClient, trained: TrainedRun, settings: Settings, version: str
) -> float | None:
    """The champion's MAE on the challenger's holdout window, or None without a champion."""
    from hourcast.tracking import load_model_by_alias

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
    series_map = _series_map(frame)
    seen_window = champion.trained_until is not None and champion.trained_until >= origins[0]
    if seen_window:
        # The champion was fitted on hours inside the window: replay its configuration on the
        # data before the window, as the challenger was, so neither has seen the hours scored.
        replay = replace(champion, calibration_days=0, booster=None, interval_quantiles={})
        scored = backtest(replay, series_map, origins, fit=True)
    else:
        scored = backtest(champion, series_map, origins, fit=False)
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


def tuned_settings(
    frame: pd.DataFrame, *, target: str, settings: Settings, trials: int, budget_s: float
) -> tuple[int, dict[str, Any]]:
    """Run the Optuna search; returns the best tree count and booster parameters."""
    from hourcast.tuning import tune

    best = tune(frame, target=target, settings=settings, n_trials=trials, timeout_s=budget_s)
    params = dict(best.best_params)
    return int(params.pop("num_boost_round")), params


def train_target(
    target: str,
    *,
    settings: Settings,
    train_end: pd.Timestamp | None = None,
    num_boost_round: int | None = None,
    tune_trials: int = 0,
    tune_budget_s: float = 600.0,
) -> RegisteredVersion:
    """The whole chain: load, prepare, (tune), backtest, fit and log, register through the gate."""
    frame = prepare_training_frame(
        load_training_frame(settings=settings, train_end=train_end, target=target)
    )
    params = None
    if tune_trials:
        num_boost_round, params = tuned_settings(
            frame, target=target, settings=settings, trials=tune_trials, budget_s=tune_budget_s
        )
    trained = fit_and_log(
        frame,
        target=target,
        settings=settings,
        train_end=train_end,
        num_boost_round=num_boost_round,
        params=params,
    )
    return register_trained(trained, settings=settings)
