"""The inference API over real HTTP (uvicorn in a thread) with a real, small forecaster."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import TRAFFIC_I94
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings
from hourcast.sources.traffic import load_traffic
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import register_series, upsert_observations
from hourcast.targets import Target
from hourcast.training.tracking import ServedModel
from hourcast_dev import local_stack
from inference_api.main import create_app, registry_loader
from inference_api.schemas import FORECAST_EXAMPLES, ForecastRequest
from tests.conftest import ApiServer

SERIES = TRAFFIC_I94.series_id


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    frame = load_traffic(BUNDLED_TRAFFIC_CSV).frame
    return frame[frame.ts >= pd.Timestamp("2018-03-01", tz="UTC")].reset_index(drop=True)


@pytest.fixture(scope="module")
def forecaster(traffic: pd.DataFrame) -> Forecaster:
    series = pd.Series(traffic.value.to_numpy(), index=pd.DatetimeIndex(traffic.ts))
    config = FeatureConfig(timezone=TRAFFIC_I94.timezone, holiday_calendar="US-MN")
    # Keyed by the series id, as training fits it.
    return Forecaster(config, num_boost_round=30).fit({SERIES: series})


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, traffic: pd.DataFrame, forecaster: Forecaster
) -> Iterator[str]:
    db = tmp_path_factory.mktemp("api") / "store.db"
    settings = Settings(
        database_url=f"sqlite:///{db}", api_max_horizon=168, api_models=("traffic",)
    )
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    with engine.begin() as connection:
        register_series(connection, spec=TRAFFIC_I94)
        upsert_observations(connection, series_id=SERIES, frame=traffic[["ts", "value"]])
    engine.dispose()

    def loader(target: Target) -> ServedModel:
        return ServedModel(target.model_name, "7", "run-abc", "champion", forecaster)

    with ApiServer(create_app(settings, loader)) as url:
        yield url


def test_health_and_models(api: str) -> None:
    assert httpx.get(f"{api}/health").json() == {
        "status": "ok",
        "models_loaded": 1,
        "models_expected": 1,
    }
    assert httpx.get(f"{api}/ready").status_code == 200
    models = httpx.get(f"{api}/v1/models").json()["models"]
    assert models == [
        {
            "target": "traffic",
            "series_id": SERIES,
            "name": "hourcast-traffic-volume",
            "alias": "champion",
            "version": "7",
            "run_id": "run-abc",
            "loaded": True,
            "error": None,
            "series_ids": [SERIES],
            "levels": [80, 95],
        }
    ]


def test_forecast_from_stored_observations(api: str, traffic: pd.DataFrame) -> None:
    response = httpx.post(f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 24})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "hourcast-traffic-volume", "version": "7"}
    stamps = [pd.Timestamp(p["ts"]) for p in body["forecast"]]
    assert len(stamps) == 24
    assert stamps[0] == traffic.ts.iloc[-1] + pd.Timedelta(hours=1)
    assert all(str(ts.tz) == "UTC" for ts in stamps)
    assert body["forecast"][0]["ts"].endswith("Z")
    values = [p["value"] for p in body["forecast"]]
    assert min(values) > 0
    assert max(values) < 8000
    assert (body["parameter"], body["units"], body["timezone"]) == (
        "traffic_volume",
        "vehicles/h",
        "America/Chicago",
    )
    # Both calibrated interval levels by default, nested. (Conformal intervals come from
    # residual quantiles, so an interval need not contain its point forecast.)
    assert body["levels"] == [80, 95]
    assert body["notes"] == []
    for point in body["forecast"]:
        inner, outer = point["intervals"]
        assert (inner["level"], outer["level"]) == (80, 95)
        assert outer["lower"] <= inner["lower"] <= inner["upper"] <= outer["upper"]


@pytest.mark.parametrize(("levels", "expected"), [([95], [95]), ([], []), ([95, 80], [80, 95])])
def test_forecast_returns_the_levels_asked_for(
    api: str, levels: list[int], expected: list[int]
) -> None:
    response = httpx.post(
        f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 3, "levels": levels}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["levels"] == expected
    assert all([i["level"] for i in p["intervals"]] == expected for p in body["forecast"])


def test_intervals_beyond_the_calibrated_horizon_carry_a_note(api: str) -> None:
    response = httpx.post(f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 30})
    assert response.status_code == 200, response.text
    assert response.json()["notes"] == [
        "intervals after hour 24 reuse that hour's calibration and are too narrow"
    ]


def test_forecast_from_history_with_offsets_and_naive_utc(api: str, traffic: pd.DataFrame) -> None:
    tail = traffic.tail(200)
    history = [
        {"ts": ts.tz_convert("America/Chicago").isoformat(), "value": v}
        for ts, v in zip(tail.ts, tail.value, strict=True)
    ]
    history[-1] = {"ts": tail.ts.iloc[-1].tz_localize(None).isoformat(), "value": None}
    response = httpx.post(
        f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 3, "history": history}
    )
    assert response.status_code == 200, response.text
    first = pd.Timestamp(response.json()["forecast"][0]["ts"])
    # The last hour has no value, so the forecast starts after the last observed hour.
    assert first == tail.ts.iloc[-2] + pd.Timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"series_id": SERIES, "horizon": 0}, 422, "horizon"),
        ({"series_id": SERIES, "horizon": 10000}, 422, "at most 168"),
        ({"series_id": "traffic:unknown", "horizon": 24}, 404, "unknown series_id"),
        ({"horizon": 24}, 422, "series_id"),
        ({"series_id": SERIES, "history": [{"ts": "yesterday", "value": 1}]}, 422, "ts"),
        ({"series_id": SERIES, "history": [{"ts": "2018-13-45T00:00", "value": 1}]}, 422, "ts"),
        ({"series_id": SERIES, "history": [{"ts": "2018-01-01T10:30Z", "value": 1}]}, 422, "hour"),
        (
            {
                "series_id": SERIES,
                "history": [
                    {"ts": "2018-01-01T10:00Z", "value": 1},
                    {"ts": "2018-01-01T04:00-06:00", "value": 2},
                ],
            },
            422,
            "more than once",
        ),
        ({"series_id": SERIES, "history": []}, 422, "history"),
        (
            {"series_id": SERIES, "history": [{"ts": "2018-01-01T10:00Z", "value": "x"}]},
            422,
            "value",
        ),
        ({"series_id": SERIES, "horizon": 24, "colour": "red"}, 422, "colour"),
        ({"series_id": SERIES, "levels": [90]}, 422, "no intervals at levels [90]"),
        ({"series_id": SERIES, "levels": [80, 80]}, 422, "more than once"),
        ({"series_id": SERIES, "levels": [100]}, 422, "levels"),
        ({"series_id": SERIES, "levels": [0]}, 422, "levels"),
        ({"series_id": SERIES, "levels": ["wide"]}, 422, "levels"),
        ({"series_id": SERIES, "levels": 80}, 422, "levels"),
        ({"series_id": "openaq:900001"}, 404, "known series: traffic:i94-westbound"),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(
    api: str, body: dict[str, Any], status: int, needle: str
) -> None:
    response = httpx.post(f"{api}/v1/forecast", json=body)
    assert response.status_code == status, response.text
    assert needle in response.text


def test_malformed_json_is_422(api: str) -> None:
    response = httpx.post(
        f"{api}/v1/forecast",
        content=b'{"series_id": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "JSON" in response.text


def test_openapi_documents_the_routes(api: str) -> None:
    spec = httpx.get(f"{api}/openapi.json").json()
    assert {"/health", "/v1/models", "/v1/forecast"} <= set(spec["paths"])
    # Named request examples (traffic, PM2.5, sent history) and intervals in the response.
    body = spec["paths"]["/v1/forecast"]["post"]["requestBody"]["content"]["application/json"]
    assert body["examples"]["pm25"]["value"]["series_id"] == "openaq:900001"
    schemas = spec["components"]["schemas"]
    assert "levels" in schemas["ForecastRequest"]["properties"]
    assert schemas["ForecastPoint"]["properties"]["intervals"]["items"] == {
        "$ref": "#/components/schemas/IntervalPublic"
    }
    assert schemas["ForecastResponse"]["examples"][0]["forecast"][0]["intervals"]
    for example in FORECAST_EXAMPLES.values():
        ForecastRequest.model_validate(example["value"])
    docs = httpx.get(f"{api}/docs")
    assert docs.status_code == 200
    # Served from local assets, not a CDN, so the page works offline.
    assert "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert httpx.get(f"{api}/static/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_model_not_loaded_yet_is_503_then_recovers(tmp_path: Path, forecaster: Forecaster) -> None:
    attempts: list[int] = []

    def flaky_loader(target: Target) -> ServedModel:
        attempts.append(1)
        if len(attempts) < 3:
            raise LookupError("no champion registered yet")
        return ServedModel(target.model_name, "1", "run-1", "champion", forecaster)

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        api_model_retry_seconds=0.2,
        api_models=("traffic",),
    )
    with ApiServer(create_app(settings, flaky_loader)) as url:
        early = httpx.post(f"{url}/v1/forecast", json={"series_id": SERIES})
        assert early.status_code == 503
        assert "no champion registered yet" in early.text
        assert httpx.get(f"{url}/ready").status_code == 503
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/ready").status_code != 200:
            assert time.monotonic() < deadline, "model never loaded"
            time.sleep(0.1)
        assert httpx.get(f"{url}/v1/models").json()["models"][0]["version"] == "1"


def test_start_up_does_not_wait_for_a_tracking_server_that_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on this port. MLflow's default HTTP retries would hold the start-up
    # (and /health) for minutes; ApiServer gives up after 30 s.
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        mlflow_tracking_uri=f"http://127.0.0.1:{local_stack.free_port()}",
        api_model_retry_seconds=60,
        api_models=("traffic",),
    )
    try:
        with ApiServer(create_app(settings, registry_loader(settings))) as url:
            assert httpx.get(f"{url}/health").json()["models_loaded"] == 0
            ready = httpx.get(f"{url}/ready")
            assert ready.status_code == 503
            assert "hourcast-traffic-volume" in ready.json()["detail"]
            error = httpx.get(f"{url}/v1/models").json()["models"][0]["error"]
            assert "Connection refused" in error or "Failed to establish" in error
    finally:
        for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
            os.environ.pop(name, None)


def test_metrics_count_requests_by_route(api: str) -> None:
    httpx.post(f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 2})
    httpx.post(f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 0})
    text = httpx.get(f"{api}/metrics").text
    assert 'route="/v1/forecast",status="200"' in text
    assert 'route="/v1/forecast",status="422"' in text
    assert 'hourcast_api_forecast_hours_total{series_id="traffic:i94-westbound"}' in text
    assert "hourcast_api_request_seconds_bucket" in text


def test_an_unknown_served_model_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="HOURCAST_API_MODELS names unknown models \\['o3'\\]"):
        create_app(Settings(api_models=("traffic", "o3")))
