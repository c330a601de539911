"""Training steps shared by the Mage pipeline and the CLI: load, prepare, fit and log, register.

Each step is a plain function so that a Mage block is one call, and ``train_series`` chains
them for ``hourcast train``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from hourcast.features import FeatureConfig, regularize
from hourcast.forecaster import Forecaster
from hourcast.series import SeriesSpec, get_series
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine
from hourcast.storage.observations import load_observations
from hourcast.tracking import log_forecaster, register_model_version

__all__ = [
    "RegisteredVersion",
    "TrainedRun",
    "evaluate_holdout",
    "fit_and_log",
    "load_training_frame",
    "prepare_training_series",
    "register_trained",
    "train_series",
]

HOLDOUT_DAYS = 7
HORIZON = 24


@dataclass(frozen=True)
class TrainedRun:
    """An MLflow run holding a fitted forecaster."""

    series_id: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    train_end: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (Mage passes block outputs between processes)."""
        return asdict(self)


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version and the alias it got."""

    name: str
    version: str
    alias: str
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def feature_config_for(spec: SeriesSpec) -> FeatureConfig:
    """The feature configuration a series is trained with."""
    return FeatureConfig(timezone=spec.timezone, holiday_calendar=spec.holiday_calendar)


def load_training_frame(
    *, settings: Settings, series_id: str, train_end: pd.Timestamp | None
) -> pd.DataFrame:
    """Observations of ``series_id`` up to ``train_end`` (inclusive) from the store."""
    engine = create_db_engine(settings.resolved_database_url)
    try:
        frame = load_observations(engine, series_id=series_id, end=train_end)
    finally:
        engine.dispose()
    if frame.empty:
        raise ValueError(
            f"no observations of {series_id} up to {train_end}; run `hourcast ingest` first"
        )
    return frame


def prepare_training_series(frame: pd.DataFrame) -> pd.Series:
    """Validated, regular hourly series (NaN for missing hours) from a ``ts``/``value`` frame."""
    if frame["ts"].duplicated().any():
        raise ValueError("duplicate hours in the training data")
    series = pd.Series(frame["value"].to_numpy(float), index=pd.DatetimeIndex(frame["ts"]))
    return regularize(series)


def _daily_origins(series: pd.Series, timezone: str, days: int) -> list[pd.Timestamp]:
    """Origins at local midnight of the last ``days`` days that have 24 hours after them."""
    last = series.index[-1]
    local_last = last.tz_convert(timezone)
    midnight = local_last.normalize()
    origins = [
        (midnight - pd.Timedelta(days=d)).tz_convert("UTC") - pd.Timedelta(hours=1)
        for d in range(days, 0, -1)
    ]
    return [o for o in origins if o + pd.Timedelta(hours=HORIZON) <= last]


def evaluate_holdout(
    series: pd.Series, forecaster: Forecaster, *, timezone: str, days: int = HOLDOUT_DAYS
) -> dict[str, float]:
    """Fit on all but the last ``days`` days, forecast 24 h from each local midnight there.

    Returns:
        dict: ``holdout_mae``, ``holdout_rmse`` and the seasonal-naive-168 MAE on the same hours.
    """
    origins = _daily_origins(series, timezone, days)
    if not origins:
        return {}
    forecaster.fit(series[series.index <= origins[0]])
    errors: list[np.ndarray] = []
    naive_errors: list[np.ndarray] = []
    for origin in origins:
        forecast = forecaster.predict(series[series.index <= origin], HORIZON)
        actual = series.reindex(forecast.index).to_numpy()
        naive = series.reindex(forecast.index - pd.Timedelta(hours=168)).to_numpy()
        errors.append(forecast.to_numpy() - actual)
        naive_errors.append(naive - actual)
    error = np.concatenate(errors)
    naive_error = np.concatenate(naive_errors)
    scored = ~np.isnan(error) & ~np.isnan(naive_error)
    return {
        "holdout_mae": float(np.mean(np.abs(error[scored]))),
        "holdout_rmse": float(np.sqrt(np.mean(error[scored] ** 2))),
        "holdout_seasonal_naive_168_mae": float(np.mean(np.abs(naive_error[scored]))),
        "holdout_hours": float(scored.sum()),
    }


def _content_hash(series: pd.Series) -> str:
    hashed = pd.util.hash_pandas_object(series.dropna(), index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def fit_and_log(
    series: pd.Series,
    *,
    spec: SeriesSpec,
    settings: Settings,
    train_end: pd.Timestamp | None,
    num_boost_round: int = 400,
) -> TrainedRun:
    """Evaluate on a holdout, refit on everything, and log both to a new MLflow run."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(spec.model_name)
    config = feature_config_for(spec)
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"train-{spec.series_id}") as run:
        mlflow.set_tags({"series_id": spec.series_id, "hourcast.step": "train"})
        observed = series.dropna()
        mlflow.log_params(
            {
                "series_id": spec.series_id,
                "train_end": str(train_end) if train_end is not None else "latest",
                "data_start": str(series.index[0]),
                "data_end": str(series.index[-1]),
                "observed_hours": len(observed),
                "data_sha256_16": _content_hash(series),
                "num_boost_round": num_boost_round,
                "lags": ",".join(map(str, config.lags)),
                "timezone": config.timezone,
            }
        )
        metrics = evaluate_holdout(
            series, Forecaster(config, num_boost_round=num_boost_round), timezone=spec.timezone
        )
        forecaster = Forecaster(config, num_boost_round=num_boost_round).fit(series)
        metrics["train_seconds"] = time.perf_counter() - started
        mlflow.log_metrics(metrics)
        tail = observed.iloc[-48:]
        example = pd.DataFrame({"ts": tail.index, "value": tail.to_numpy()})
        info = log_forecaster(forecaster, history_example=example)
        return TrainedRun(
            series_id=spec.series_id,
            run_id=run.info.run_id,
            model_uri=info.model_uri,
            metrics=metrics,
            train_end=str(series.index[-1]),
            rows=len(observed),
        )


def register_trained(
    trained: TrainedRun, *, settings: Settings, alias: str | None = None
) -> RegisteredVersion:
    """Register the run's model under the series' model name and point ``alias`` at it."""
    spec = get_series(trained.series_id)
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    version = register_model_version(
        tracking_uri=settings.mlflow_tracking_uri,
        model_uri=trained.model_uri,
        name=spec.model_name,
        tags={"series_id": trained.series_id, "train_end": trained.train_end},
    )
    target_alias = alias or settings.model_alias
    client.set_registered_model_alias(spec.model_name, target_alias, version)
    return RegisteredVersion(
        name=spec.model_name, version=version, alias=target_alias, run_id=trained.run_id
    )


def train_series(
    series_id: str, *, settings: Settings, train_end: pd.Timestamp | None = None
) -> RegisteredVersion:
    """The whole chain: load, prepare, fit and log, register with the serving alias."""
    spec = get_series(series_id)
    frame = load_training_frame(settings=settings, series_id=series_id, train_end=train_end)
    series = prepare_training_series(frame)
    trained = fit_and_log(series, spec=spec, settings=settings, train_end=train_end)
    return register_trained(trained, settings=settings)
