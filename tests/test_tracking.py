"""MLflow tracking on a real server: models are logged as code, and a model registered before
the regroup (its pickled wrapper names ``hourcast.tracking``) still loads as the API loads it."""

import uuid
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.settings import Settings
from hourcast.targets import TRAFFIC_TARGET
from hourcast.training.tracking import (
    load_forecaster,
    load_model_by_alias,
    log_forecaster,
    register_model_version,
)
from inference_api.main import registry_loader
from tests.conftest import MlflowServer

pytestmark = pytest.mark.integration

PRE_REGROUP = Path(__file__).parent / "fixtures" / "models" / "pre_regroup"


def _history() -> pd.Series:
    return pd.read_csv(PRE_REGROUP / "history.csv", index_col=0, parse_dates=True).iloc[:, 0]


@pytest.fixture(scope="module")
def old_model(mlflow_server: MlflowServer) -> tuple[str, str]:
    """The pre-regroup model folder, logged to a run and registered as ``champion``."""
    name = f"hourcast-pre-regroup-{uuid.uuid4().hex[:8]}"
    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    mlflow.set_experiment("tracking-test")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(PRE_REGROUP / "model"), artifact_path="model")
    version = register_model_version(
        tracking_uri=mlflow_server.tracking_uri,
        model_uri=f"runs:/{run.info.run_id}/model",
        name=name,
        tags={},
    )
    MlflowClient(mlflow_server.tracking_uri).set_registered_model_alias(name, "champion", version)
    return name, version


def test_a_model_registered_before_the_regroup_loads_as_the_api_loads_it(
    mlflow_server: MlflowServer, old_model: tuple[str, str]
) -> None:
    name, version = old_model
    settings = Settings(mlflow_tracking_uri=mlflow_server.tracking_uri, model_alias="champion")
    source = registry_loader(settings)
    target = replace(TRAFFIC_TARGET, model_name=name)
    served = source.load(target, source.version(target))
    assert (served.name, served.version, served.alias) == (name, version, "champion")
    expected = pd.read_csv(PRE_REGROUP / "expected.csv", index_col=0, parse_dates=True)
    got = served.forecaster.predict_intervals(
        _history(), 24, (80, 95), series_id="traffic:i94-westbound"
    )
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_its_pickled_wrapper_is_what_no_longer_unpickles(
    mlflow_server: MlflowServer, old_model: tuple[str, str]
) -> None:
    # Why the API reads the forecaster folder instead of calling mlflow.pyfunc.load_model.
    name, version = old_model
    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    with pytest.raises(Exception, match=r"hourcast\.tracking"):
        mlflow.pyfunc.load_model(f"models:/{name}/{version}")


def test_new_models_are_logged_as_code_and_load_both_ways(mlflow_server: MlflowServer) -> None:
    history = _history()
    config = FeatureConfig(lags=(1, 2, 24), rolling_means=((1, 24),), rolling_stds=())
    forecaster = Forecaster(config, num_boost_round=5, calibration_days=0).fit(history)
    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    mlflow.set_experiment("tracking-test")
    example = pd.DataFrame({"ts": history.index[-48:], "value": history.to_numpy()[-48:]})
    with mlflow.start_run():
        info = log_forecaster(forecaster, history_example=example)
    files = {
        Path(a.path).name for a in mlflow.artifacts.list_artifacts(artifact_uri=info.model_uri)
    }
    assert "python_model.pkl" not in files
    assert "pyfunc_model.py" in files
    loaded = load_forecaster(info.model_uri, tracking_uri=mlflow_server.tracking_uri)
    pd.testing.assert_series_equal(loaded.predict(history, 6), forecaster.predict(history, 6))
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    out = pyfunc.predict(example.assign(ts=example.ts.astype(str)), params={"horizon": 6})
    np.testing.assert_allclose(out["value"], forecaster.predict(history, 6).to_numpy())
    name = f"hourcast-as-code-{uuid.uuid4().hex[:8]}"
    version = register_model_version(
        tracking_uri=mlflow_server.tracking_uri, model_uri=info.model_uri, name=name, tags={}
    )
    MlflowClient(mlflow_server.tracking_uri).set_registered_model_alias(name, "champion", version)
    served = load_model_by_alias(
        tracking_uri=mlflow_server.tracking_uri, name=name, alias="champion"
    )
    assert served.forecaster.trained_until == forecaster.trained_until


def test_a_model_without_a_forecaster_is_refused_with_a_retrain_message(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    mlflow.set_experiment("tracking-test")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="model")
    with pytest.raises(ValueError, match="retrain"):
        load_forecaster(f"runs:/{run.info.run_id}/model", tracking_uri=mlflow_server.tracking_uri)
