"""MLflow: log a forecaster as a pyfunc model, register it, move aliases, load by alias.

The model is logged as an MLflow pyfunc whose artifact is the forecaster folder written by
``Forecaster.save``; loading needs the ``hourcast`` package installed (the API and Mage
images have it). Callers that want speed use the unwrapped ``Forecaster`` directly.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from hourcast.forecaster import Forecaster

__all__ = [
    "ForecasterPyfunc",
    "ServedModel",
    "forecast_frame",
    "history_frame_to_series",
    "load_model_by_alias",
    "log_forecaster",
    "register_model_version",
]


def history_frame_to_series(frame: pd.DataFrame) -> pd.Series:
    """``ts``/``value`` columns (ISO strings or datetimes; naive means UTC) to a UTC series."""
    index = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True))
    return pd.Series(frame["value"].astype(float).to_numpy(), index=index)


class ForecasterPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: input = history (``ts``, ``value``); params ``horizon`` and ``series_id``
    (required by a global model); output = ``ts``, ``value`` and, when the model has
    intervals, ``lo_<level>`` / ``hi_<level>`` per level."""

    forecaster: Forecaster

    def load_context(self, context: Any) -> None:
        self.forecaster = Forecaster.load(context.artifacts["forecaster"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        params = params or {}
        return forecast_frame(
            self.forecaster,
            history_frame_to_series(model_input),
            int(params.get("horizon", 24)),
            series_id=params.get("series_id") or None,
        )


def forecast_frame(
    forecaster: Forecaster, history: pd.Series, horizon: int, *, series_id: str | None = None
) -> pd.DataFrame:
    """The pyfunc output: ISO ``ts``, ``value`` and every calibrated interval level."""
    levels = forecaster.interval_levels
    frame = forecaster.predict_intervals(history, horizon, levels, series_id=series_id)
    out = frame.reset_index(drop=True)
    out.insert(0, "ts", [ts.isoformat() for ts in frame.index])
    return out


def _requirements() -> list[str]:
    import holidays

    # Explicit, so MLflow does not load the model in a subprocess to infer them.
    return [
        f"mlflow-skinny=={mlflow.__version__}",
        f"xgboost=={xgb.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"holidays=={holidays.__version__}",
    ]


def log_forecaster(
    forecaster: Forecaster, *, history_example: pd.DataFrame, name: str = "model"
) -> Any:
    """Log ``forecaster`` to the active MLflow run as a pyfunc model; returns its ModelInfo."""
    example = history_example.assign(ts=[pd.Timestamp(t).isoformat() for t in history_example.ts])
    history = history_frame_to_series(example)
    sid = next(iter(forecaster.series_codes), None) if len(forecaster.series_codes) > 1 else None
    output = forecast_frame(forecaster, history, 2, series_id=sid)
    signature = infer_signature(example, output, params={"horizon": 24, "series_id": sid or ""})
    with tempfile.TemporaryDirectory() as folder:
        saved = forecaster.save(Path(folder) / "forecaster")
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=ForecasterPyfunc(),
            artifacts={"forecaster": str(saved)},
            signature=signature,
            input_example=example,
            pip_requirements=_requirements(),
        )


def register_model_version(
    *, tracking_uri: str, model_uri: str, name: str, tags: dict[str, str]
) -> str:
    """Register ``model_uri`` as a new version of ``name`` (created if new); returns the version."""
    mlflow.set_tracking_uri(tracking_uri)
    # mlflow.register_model resolves MLflow 3 logged-model URIs (models:/m-...) to their source.
    version = mlflow.register_model(model_uri=model_uri, name=name, tags=tags)
    return str(version.version)


@dataclass(frozen=True)
class ServedModel:
    """A registry version loaded for serving."""

    name: str
    version: str
    run_id: str
    alias: str
    forecaster: Forecaster


def load_model_by_alias(*, tracking_uri: str, name: str, alias: str) -> ServedModel:
    """Resolve ``name@alias`` to a version and load that exact version's forecaster."""
    client = MlflowClient(tracking_uri=tracking_uri)
    version = client.get_model_version_by_alias(name, alias)
    mlflow.set_tracking_uri(tracking_uri)
    # Load the resolved version, not the alias, so name/version/model always agree.
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
    wrapper = model.unwrap_python_model()
    return ServedModel(
        name=name,
        version=str(version.version),
        run_id=str(version.run_id),
        alias=alias,
        forecaster=wrapper.forecaster,
    )
