"""The inference API serving the global PM2.5 model over real HTTP.

A small global forecaster over two OpenAQ sensor series is logged to a real MLflow tracking
server and registered; the API loads it by alias (the registry loader of ``inference_api.main``)
and reads series descriptions and observations from PostgreSQL.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from mlflow.tracking import MlflowClient

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import TRAFFIC_I94, openaq_sensor_spec
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import register_series, upsert_observations
from hourcast.targets import Target
from hourcast.training.tracking import ServedModel, log_forecaster, register_model_version
from hourcast_dev.openaq_fake import BEIJING_SENSOR_ID, DATA_DIR
from inference_api.main import create_app, registry_loader
from inference_api.model_store import ModelSource
from tests.conftest import ApiServer, MlflowServer, PostgresDatabases, signed_in_client

pytestmark = pytest.mark.integration

MODEL = "hourcast-pm25"
# Registered under its own name: other tests count the versions of hourcast-pm25 on the
# session's tracking server.
REGISTERED = f"{MODEL}-apitest-{uuid.uuid4().hex[:6]}"
BEIJING = f"openaq:{BEIJING_SENSOR_ID}"  # fitted
SECOND = "openaq:900002"  # fitted: Beijing a year earlier, halved
UNFITTED = "openaq:900003"  # a stored PM2.5 sensor the model has not seen
OZONE = "openaq:3917"  # a stored O3 sensor: no served model measures it
TIMEZONE = "Asia/Shanghai"
HOME = Path(tempfile.mkdtemp(prefix="hourcast-api-pm25-"))  # the model cache goes below
CONFIG = FeatureConfig(
    lags=(1, 2, 3, 24, 168),
    rolling_means=((1, 6), (1, 24)),
    rolling_stds=(),
    timezone=TIMEZONE,
)
# Every call sends an admin's token; tests/test_api_auth.py tests the authentication itself.
signed_in = signed_in_client()
PARAMS = {"objective": "reg:absoluteerror", "eta": 0.3, "max_depth": 4, "nthread": 1, "seed": 3}


def _beijing(start: str, days: int, factor: float, shift_days: int) -> pd.DataFrame:
    raw = pd.read_csv(DATA_DIR / "beijing_pm25" / "PRSA_data_2010.1.1-2014.10.8.csv")
    local = pd.to_datetime(raw[["year", "month", "day", "hour"]])
    ts = (local - pd.Timedelta(hours=8)).dt.tz_localize("UTC")  # UTC+8 all year
    begin = pd.Timestamp(start, tz="UTC")
    keep = (ts >= begin) & (ts < begin + pd.Timedelta(days=days)) & raw["pm2.5"].notna()
    return pd.DataFrame(
        {
            "ts": ts[keep] + pd.Timedelta(days=shift_days),
            "value": raw.loc[keep, "pm2.5"].astype(float) * factor,
        }
    ).reset_index(drop=True)


@pytest.fixture(scope="module")
def sensors() -> dict[str, pd.DataFrame]:
    # All three PM2.5 series end on the same hours (2014-09-30).
    return {
        BEIJING: _beijing("2014-08-01", 61, 1.0, 0),
        SECOND: _beijing("2013-08-01", 61, 0.5, 365),
        UNFITTED: _beijing("2012-08-01", 61, 1.5, 365 + 366),
    }


@pytest.fixture(scope="module")
def store_url(postgres: PostgresDatabases, sensors: dict[str, pd.DataFrame]) -> Iterator[str]:
    url = postgres.create("hourcast_api")
    engine = create_db_engine(url)
    upgrade(engine)
    ozone = pd.DataFrame(
        {"ts": pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC"), "value": 0.03}
    )
    with engine.begin() as connection:
        for series_id, frame in [*sensors.items(), (OZONE, ozone)]:
            spec = openaq_sensor_spec(
                sensor_id=int(series_id.split(":")[1]),
                location=f"station of {series_id}",
                parameter="o3" if series_id == OZONE else "pm25",
                units="ppm" if series_id == OZONE else "µg/m³",
                timezone=TIMEZONE,
            )
            register_series(connection, spec=spec)
            upsert_observations(connection, series_id=series_id, frame=frame)
    engine.dispose()
    yield url
    postgres.drop(url)


@pytest.fixture(scope="module")
def version(mlflow_server: MlflowServer, sensors: dict[str, pd.DataFrame]) -> str:
    """A registered version of the global model, without an alias yet."""
    fitted = {sid: sensors[sid] for sid in (BEIJING, SECOND)}
    series = {
        sid: pd.Series(f.value.to_numpy(), index=pd.DatetimeIndex(f.ts))
        for sid, f in fitted.items()
    }
    forecaster = Forecaster(CONFIG, params=PARAMS, num_boost_round=15, calibration_days=14)
    forecaster.fit(series)
    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    mlflow.set_experiment("api-test-pm25")
    with mlflow.start_run():
        info = log_forecaster(forecaster, history_example=sensors[BEIJING].tail(48))
    return register_model_version(
        tracking_uri=mlflow_server.tracking_uri, model_uri=info.model_uri, name=REGISTERED, tags={}
    )


def _settings(store_url: str, mlflow_server: MlflowServer, alias: str, **more: Any) -> Settings:
    return Settings(
        home=HOME,
        database_url=store_url,
        mlflow_tracking_uri=mlflow_server.tracking_uri,
        model_alias=alias,
        api_model_retry_seconds=0.3,
        **more,
    )


def _registered(target: Target) -> Target:
    return replace(target, model_name=REGISTERED) if target.name == "pm25" else target


class _Renamed:
    """The registry source, with the pm25 target under this module's registered name."""

    def __init__(self, source: ModelSource) -> None:
        self.source = source

    def version(self, target: Target) -> str:
        return self.source.version(_registered(target))

    def load(self, target: Target, version: str) -> ServedModel:
        return self.source.load(_registered(target), version)

    def cached(self, target: Target) -> ServedModel | None:
        return self.source.cached(_registered(target))


def _app(settings: Settings) -> FastAPI:
    return create_app(settings, _Renamed(registry_loader(settings)))


def _set_alias(mlflow_server: MlflowServer, version: str) -> str:
    # A fresh alias per server: other tests share the tracking server.
    alias = f"test{uuid.uuid4().hex[:8]}"
    client = MlflowClient(tracking_uri=mlflow_server.tracking_uri)
    client.set_registered_model_alias(REGISTERED, alias, version)
    return alias


@pytest.fixture(scope="module")
def api(store_url: str, mlflow_server: MlflowServer, version: str) -> Iterator[str]:
    alias = _set_alias(mlflow_server, version)
    settings = _settings(store_url, mlflow_server, alias, api_models=("pm25",))
    with ApiServer(_app(settings)) as url:
        yield url


def _post(api: str, **body: Any) -> httpx.Response:
    return signed_in.post(f"{api}/v1/forecast", json=body, timeout=30)


def test_ready_and_models_report_the_global_model(
    api: str, version: str, mlflow_server: MlflowServer
) -> None:
    ready = signed_in.get(f"{api}/ready").json()
    assert (ready["status"], ready["models_loaded"], ready["models_expected"]) == ("ok", 1, 1)
    assert ready["models"] == [
        {
            "target": "pm25",
            "name": MODEL,
            "state": "loaded",
            "version": version,
            "source": "registry",
        }
    ]
    [model] = signed_in.get(f"{api}/v1/models").json()["models"]
    run_id = MlflowClient(mlflow_server.tracking_uri).get_model_version(REGISTERED, version).run_id
    assert model == {
        "target": "pm25",
        "series_id": None,
        "name": MODEL,
        "alias": model["alias"],  # a fresh one per server
        "version": version,
        "run_id": run_id,
        "loaded": True,
        "error": None,
        "series_ids": [BEIJING, SECOND],
        "levels": [80, 95],
    }


def test_forecast_of_a_fitted_sensor_from_the_store(
    api: str, version: str, sensors: dict[str, pd.DataFrame]
) -> None:
    response = _post(api, series_id=BEIJING, horizon=24)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": REGISTERED, "version": version}
    assert (body["parameter"], body["units"], body["timezone"]) == ("pm25", "µg/m³", TIMEZONE)
    assert body["levels"] == [80, 95]
    assert body["notes"] == []
    points = body["forecast"]
    assert len(points) == 24
    assert pd.Timestamp(points[0]["ts"]) == sensors[BEIJING].ts.iloc[-1] + pd.Timedelta(hours=1)
    for point in points:
        inner, outer = point["intervals"]
        assert (inner["level"], outer["level"]) == (80, 95)
        assert 0 <= outer["lower"] <= inner["lower"] <= inner["upper"] <= outer["upper"]
        assert point["value"] >= 0


def test_each_sensor_is_forecast_at_its_own_level(
    api: str, sensors: dict[str, pd.DataFrame]
) -> None:
    for series_id in (BEIJING, SECOND):
        recent = sensors[series_id].value.tail(168).mean()
        body = _post(api, series_id=series_id, horizon=24, levels=[]).json()
        forecast = np.mean([p["value"] for p in body["forecast"]])
        assert recent / 4 < forecast < recent * 4, (series_id, recent, forecast)
        assert all(p["intervals"] == [] for p in body["forecast"])


def test_forecast_from_sent_history_with_one_level(
    api: str, sensors: dict[str, pd.DataFrame]
) -> None:
    tail = sensors[SECOND].iloc[-300:-100]
    history = [
        {"ts": ts.tz_convert(TIMEZONE).isoformat(), "value": v}
        for ts, v in zip(tail.ts, tail.value, strict=True)
    ]
    response = _post(api, series_id=SECOND, horizon=6, levels=[95], history=history)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["levels"] == [95]
    assert pd.Timestamp(body["forecast"][0]["ts"]) == tail.ts.iloc[-1] + pd.Timedelta(hours=1)
    assert [i["level"] for i in body["forecast"][0]["intervals"]] == [95]


def test_a_stored_sensor_the_model_was_not_fitted_on_is_served_with_a_note(
    api: str, version: str
) -> None:
    response = _post(api, series_id=UNFITTED, horizon=24)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["levels"] == [80, 95]
    assert body["notes"] == [
        f"{REGISTERED} v{version} was not fitted on {UNFITTED}: it forecasts it from its recent "
        "values without a series code, and its intervals were calibrated on other series"
    ]
    assert all(np.isfinite(p["value"]) for p in body["forecast"])


@pytest.mark.parametrize(
    ("body", "status", "needles"),
    [
        ({"series_id": OZONE}, 404, [f"unknown series_id '{OZONE}'", BEIJING, SECOND, UNFITTED]),
        ({"series_id": "openaq:424242"}, 404, ["unknown series_id", BEIJING]),
        # Only pm25 is served here (HOURCAST_API_MODELS=pm25).
        ({"series_id": TRAFFIC_I94.series_id}, 404, ["unknown series_id", BEIJING]),
        ({"series_id": BEIJING, "levels": [50]}, 422, ["levels", REGISTERED, "has: 80, 95"]),
        ({"series_id": BEIJING, "levels": [80, 95, 80]}, 422, ["levels", "more than once"]),
        ({"series_id": BEIJING, "levels": [99.5]}, 422, ["levels"]),
        ({"series_id": BEIJING, "levels": None, "horizon": 0}, 422, ["horizon"]),
        ({"series_id": ""}, 422, ["series_id"]),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(
    api: str, body: dict[str, Any], status: int, needles: list[str]
) -> None:
    response = _post(api, **body)
    assert response.status_code == status, response.text
    for needle in needles:
        assert needle in response.text


def test_model_is_loaded_once_registered_and_a_never_trained_target_does_not_hold_readiness(
    store_url: str, mlflow_server: MlflowServer, version: str
) -> None:
    alias = f"test{uuid.uuid4().hex[:8]}"
    # Default settings: both models; neither has this alias yet.
    settings = _settings(store_url, mlflow_server, alias, api_model_poll_seconds=0.3)
    with ApiServer(_app(settings)) as url:
        early = _post(url, series_id=BEIJING)
        assert early.status_code == 503
        assert f"the model for {BEIJING} is not loaded yet" in early.text
        models = signed_in.get(f"{url}/v1/models").json()["models"]
        assert [(m["target"], m["loaded"]) for m in models] == [("traffic", False), ("pm25", False)]
        assert all(m["error"] for m in models)

        MlflowClient(tracking_uri=mlflow_server.tracking_uri).set_registered_model_alias(
            REGISTERED, alias, version
        )
        deadline = time.monotonic() + 30
        while signed_in.get(f"{url}/health").json()["models_loaded"] < 1:
            assert time.monotonic() < deadline, "the pm25 model never loaded"
            time.sleep(0.2)
        assert _post(url, series_id=BEIJING, horizon=2).status_code == 200
        # The traffic model was never registered under the alias: that does not hold readiness.
        ready = signed_in.get(f"{url}/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert (body["status"], body["models_loaded"], body["models_expected"]) == ("ok", 1, 2)
        assert [(m["target"], m["state"]) for m in body["models"]] == [
            ("traffic", "not_registered"),
            ("pm25", "loaded"),
        ]
        models = signed_in.get(f"{url}/v1/models").json()["models"]
        assert [(m["target"], m["loaded"], m["version"]) for m in models] == [
            ("traffic", False, None),
            ("pm25", True, version),
        ]


def test_the_registered_pyfunc_forecasts_each_sensor_with_intervals(
    mlflow_server: MlflowServer, version: str, sensors: dict[str, pd.DataFrame]
) -> None:
    # What `mlflow models serve` or a notebook gets: the pyfunc, not the API.
    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED}/{version}")
    params = {p.name: p.default for p in model.metadata.get_params_schema().params}
    assert params == {"horizon": 24, "series_id": BEIJING}
    history = sensors[SECOND].tail(200).assign(ts=lambda f: f.ts.astype(str))
    second = model.predict(history, params={"horizon": 6, "series_id": SECOND})
    assert list(second.columns) == ["ts", "value", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert len(second) == 6
    assert (second["lo_95"] <= second["lo_80"]).all()
    assert (second["hi_80"] <= second["hi_95"]).all()
    assert pd.Timestamp(second["ts"].iloc[0]) == sensors[SECOND]["ts"].iloc[-1] + pd.Timedelta(
        hours=1
    )
    # Without series_id the signature's default (the first fitted sensor) is used.
    default = model.predict(history, params={"horizon": 6})
    assert not np.allclose(default["value"], second["value"])
