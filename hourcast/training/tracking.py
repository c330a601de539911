"""MLflow: log a forecaster as a pyfunc model, register it, load a registered version.

The model is logged as code (:mod:`hourcast.training.pyfunc_model`) with the forecaster
folder written by ``Forecaster.save`` as its artifact; ``mlflow.pyfunc.load_model`` needs the
``hourcast`` package installed (the API and Mage images have it). Hourcast itself loads a
version by reading that folder (:func:`load_forecaster`): no stored code runs, and versions
logged before the model was logged as code (whose pickled wrapper names a module that no
longer exists) load too.
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
from mlflow.models import Model, infer_signature
from mlflow.tracking import MlflowClient

from hourcast.forecasting.forecaster import Forecaster
from hourcast.training import pyfunc_model
from hourcast.training.pyfunc_model import (
    FORECASTER_ARTIFACT,
    forecast_frame,
    history_frame_to_series,
)

__all__ = [
    "ServedModel",
    "load_forecaster",
    "load_model_by_alias",
    "log_forecaster",
    "register_model_version",
]

_PYFUNC_CODE = Path(pyfunc_model.__file__)


def _requirements() -> list[str]:
    from holidays.version import __version__ as holidays_version

    # Explicit, so MLflow does not load the model in a subprocess to infer them.
    return [
        f"mlflow-skinny=={mlflow.__version__}",
        f"xgboost=={xgb.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"holidays=={holidays_version}",
    ]


def log_forecaster(
    forecaster: Forecaster, *, history_example: pd.DataFrame, name: str = "model"
) -> Any:
    """Log ``forecaster`` to the active MLflow run as a pyfunc model; returns its ModelInfo.

    Args:
        forecaster (Forecaster): A fitted forecaster.
        history_example (pd.DataFrame): ``ts``, ``value`` rows: the input example.
        name (str): Name of the logged model. Defaults to "model".
    """
    example = history_example.assign(ts=[pd.Timestamp(t).isoformat() for t in history_example.ts])
    history = history_frame_to_series(example)
    sid = next(iter(forecaster.series_codes), None) if len(forecaster.series_codes) > 1 else None
    output = forecast_frame(forecaster, history, 2, series_id=sid)
    signature = infer_signature(example, output, params={"horizon": 24, "series_id": sid or ""})
    with tempfile.TemporaryDirectory() as folder:
        saved = forecaster.save(Path(folder) / FORECASTER_ARTIFACT)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(_PYFUNC_CODE),
            artifacts={FORECASTER_ARTIFACT: str(saved)},
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


def load_forecaster(model_uri: str, *, tracking_uri: str) -> Forecaster:
    """The forecaster of a logged or registered model, read from its stored folder.

    Args:
        model_uri (str): E.g. ``models:/hourcast-pm25/3`` or a ``runs:/`` URI.
        tracking_uri (str): The tracking server.

    Raises:
        ValueError: The model holds no Hourcast forecaster, or one this version cannot read
            (the message says to retrain).
    """
    mlflow.set_tracking_uri(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        flavor = Model.load(str(local)).flavors.get("python_function", {})
        artifact = (flavor.get("artifacts") or {}).get(FORECASTER_ARTIFACT)
        if not artifact:
            raise ValueError(f"{model_uri} holds no Hourcast forecaster; retrain the model")
        return Forecaster.load(local / artifact["path"])


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
    # Load the resolved version, not the alias, so name/version/model always agree.
    forecaster = load_forecaster(f"models:/{name}/{version.version}", tracking_uri=tracking_uri)
    return ServedModel(
        name=name,
        version=str(version.version),
        run_id=str(version.run_id),
        alias=alias,
        forecaster=forecaster,
    )
