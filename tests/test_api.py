"""The inference API over real HTTP (uvicorn in a thread) with a real, small forecaster."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import TRAFFIC_I94
from hourcast.serving import forecast_jobs
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings
from hourcast.sources.traffic import load_traffic
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import register_series, upsert_observations
from hourcast.targets import Target
from hourcast.training.tracking import ServedModel
from hourcast_dev import local_stack
from inference_api.main import create_app, registry_loader
from inference_api.routes import forecast as forecast_routes
from inference_api.schemas import FORECAST_EXAMPLES, ForecastRequest
from tests.conftest import ApiServer, signed_in_client, signed_in_headers

SERIES = TRAFFIC_I94.series_id
# Every call sends an admin's token; tests/test_api_auth.py tests the authentication itself.
signed_in = signed_in_client()


def _history_points(hours: int, value: float | None = 1000.0) -> list[dict[str, Any]]:
    stamps = pd.date_range("2018-06-01", periods=hours, freq="h", tz="UTC")
    return [{"ts": ts.isoformat(), "value": value} for ts in stamps]


def _with_history(value: float | None, ts: str = "2018-01-01T10:00Z") -> dict[str, Any]:
    return {"series_id": SERIES, "history": [{"ts": ts, "value": value}]}


def _settings(tmp_path: Path, **more: Any) -> Settings:
    """A one-target API on a SQLite store of its own."""
    return Settings(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        api_models=("traffic",),
        **more,
    )


def _at(field: str, message: str) -> str:
    """What a 422 about the first history point's ``field`` holds."""
    return f'"loc":["body","history",0,"{field}"],"msg":"{message}'


def _loader(forecaster: Forecaster, version: str = "7") -> Callable[[Target], ServedModel]:
    def load(target: Target) -> ServedModel:
        return ServedModel(target.model_name, version, "run-abc", "champion", forecaster)

    return load


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

    with ApiServer(create_app(settings, _loader(forecaster))) as url:
        yield url


def test_health_and_models(api: str) -> None:
    health = signed_in.get(f"{api}/health").json()
    assert health["registry"]["status"] == "ok"
    assert health["registry"]["last_contact"] is not None
    del health["registry"]
    assert health == {
        "status": "ok",
        "models_loaded": 1,
        "models_expected": 1,
        "models": [
            {
                "target": "traffic",
                "name": "hourcast-traffic-volume",
                "state": "loaded",
                "version": "7",
                "source": "registry",
            }
        ],
    }
    assert signed_in.get(f"{api}/ready").status_code == 200
    models = signed_in.get(f"{api}/v1/models").json()["models"]
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
    response = signed_in.post(f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 24})
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
    response = signed_in.post(
        f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 3, "levels": levels}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["levels"] == expected
    assert all([i["level"] for i in p["intervals"]] == expected for p in body["forecast"])


def test_intervals_beyond_the_calibrated_horizon_carry_a_note(api: str) -> None:
    response = signed_in.post(f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 30})
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
    response = signed_in.post(
        f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 3, "history": history}
    )
    assert response.status_code == 200, response.text
    first = pd.Timestamp(response.json()["forecast"][0]["ts"])
    # The last hour has no value, so the forecast starts after the last observed hour.
    assert first == tail.ts.iloc[-2] + pd.Timedelta(hours=1)


def test_concurrent_forecasts_are_merged_and_each_gets_its_own_answer(
    tmp_path: Path,
    traffic: pd.DataFrame,
    forecaster: Forecaster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requests that arrive while a call runs share the next call; the numbers are their own."""
    bodies = []
    for end in range(len(traffic) - 24, len(traffic)):  # 24 histories, each an hour later
        tail = traffic.iloc[end - 200 : end]
        history = [
            {"ts": ts.isoformat(), "value": v} for ts, v in zip(tail.ts, tail.value, strict=True)
        ]
        bodies.append({"series_id": SERIES, "horizon": 6, "history": history})
    app = create_app(_settings(tmp_path), _loader(forecaster))
    with ApiServer(app) as url:
        alone = [signed_in.post(f"{url}/v1/forecast", json=body).json() for body in bodies]
        calls_alone = app.state.forecasts.calls

        def slow_forecast_jobs(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.3)  # holds the loop, as a busy worker does: the others queue up
            return forecast_jobs(*args, **kwargs)

        monkeypatch.setattr(forecast_routes, "forecast_jobs", slow_forecast_jobs)

        async def together() -> list[Any]:
            async with httpx.AsyncClient(headers=signed_in_headers()) as client:
                answers = await asyncio.gather(
                    *(client.post(f"{url}/v1/forecast", json=body) for body in bodies)
                )
            return [answer.json() for answer in answers]

        merged = asyncio.run(together())
        merged_calls = app.state.forecasts.calls - calls_alone

    assert calls_alone == len(bodies)
    assert merged == alone
    assert len({answer["forecast"][0]["ts"] for answer in merged}) == len(bodies)
    assert merged_calls <= len(bodies) // 2


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
        # Values: finite, within the schema's bounds and the parameter's plausible range.
        (_with_history(1e308), 422, "less than or equal to 1000000000"),
        (_with_history(-1e10), 422, "greater than or equal to -1000000000"),
        (
            _with_history(20_000.0),
            422,
            _at("value", "20000 is outside the plausible range 0 to 10000"),
        ),
        (_with_history(-1.0), 422, _at("value", "-1 is outside")),
        (_with_history(None), 422, "history has no values"),
        # Timestamps: before 1970, after now, or past pandas' range (a 500 before).
        (_with_history(1.0, "1969-12-31T23:00Z"), 422, _at("ts", "before 1970-01-01")),
        (_with_history(1.0, "9999-12-31T23:00Z"), 422, "after the current time"),
        (_with_history(1.0, "2262-04-12T00:00Z"), 422, "after the current time"),
        (_with_history(1.0, "2018-01-01T10:00+05:30"), 422, _at("ts", "not an hour start")),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(
    api: str, body: dict[str, Any], status: int, needle: str
) -> None:
    response = signed_in.post(f"{api}/v1/forecast", json=body)
    assert response.status_code == status, response.text
    assert needle in response.text


@pytest.mark.parametrize(
    "content",
    [
        b'{"series_id": ',
        b"\xff\xfe not text",
        b'{"series_id": "traffic:i94-westbound", "history": [{"ts": "2018-01-01T00:00Z", '
        b'"value": NaN}]}',
        b'{"series_id": "traffic:i94-westbound", "horizon": Infinity}',
    ],
)
def test_a_body_that_is_not_json_is_a_400_naming_the_body(api: str, content: bytes) -> None:
    for route in ("/v1/forecast", "/v1/forecast/batch"):
        response = signed_in.post(
            f"{api}{route}", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body"]
        assert error["type"] == "json_invalid"
        assert error["msg"].startswith("the body is not valid JSON")


def test_a_body_over_the_limit_is_a_413(tmp_path: Path, forecaster: Forecaster) -> None:
    settings = _settings(tmp_path, api_max_body_bytes=2048)
    with ApiServer(create_app(settings, _loader(forecaster))) as url:
        body = {"series_id": SERIES, "history": _history_points(100)}
        declared = signed_in.post(f"{url}/v1/forecast", json=body)
        assert declared.status_code == 413
        assert declared.json() == {"detail": "the body is larger than 2048 bytes"}

        def chunks() -> Iterator[bytes]:  # no content-length: counted while read
            yield b'{"series_id": "traffic:i94-westbound", "history": ['
            yield b" " * 4096
            yield b"]}"

        streamed = signed_in.post(f"{url}/v1/forecast", content=chunks())
        assert streamed.status_code == 413


@pytest.mark.parametrize("freeze_heap", [False, True])
def test_only_a_served_app_freezes_its_start_up_heap(
    tmp_path: Path, forecaster: Forecaster, freeze_heap: bool
) -> None:
    frozen_before = gc.get_freeze_count()
    try:
        app = create_app(_settings(tmp_path), _loader(forecaster), freeze_heap=freeze_heap)
        with ApiServer(app) as url:
            assert signed_in.get(f"{url}/v1/models").status_code == 200
            frozen = gc.get_freeze_count() - frozen_before
    finally:
        gc.unfreeze()  # the test process keeps collecting what its other tests leave
    assert (frozen > 0) is freeze_heap, frozen


def test_the_module_app_is_built_on_first_use_only(tmp_path: Path) -> None:
    """A ``python -m inference_api`` worker imports the module for served_app: no second app."""
    script = (
        "import inference_api.main as main\n"
        "assert 'app' not in vars(main), 'built at import'\n"
        "app = main.app\n"
        "assert vars(main)['app'] is app is main.app\n"
        "print(type(app).__name__)\n"
    )
    env = {**os.environ, "HOURCAST_HOME": str(tmp_path), "HOURCAST_API_MODELS": "traffic"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "FastAPI"


def test_openapi_documents_the_routes(api: str) -> None:
    spec = signed_in.get(f"{api}/openapi.json").json()
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
    docs = signed_in.get(f"{api}/docs")
    assert docs.status_code == 200
    # Served from local assets, not a CDN, so the page works offline.
    assert "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert signed_in.get(f"{api}/static/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_model_not_loaded_yet_is_503_then_recovers(tmp_path: Path, forecaster: Forecaster) -> None:
    attempts: list[int] = []

    def flaky_loader(target: Target) -> ServedModel:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("registry at http://10.0.0.7:5000 refused the connection")
        return ServedModel(target.model_name, "1", "run-1", "champion", forecaster)

    settings = _settings(tmp_path, api_model_retry_seconds=0.2)
    with ApiServer(create_app(settings, flaky_loader)) as url:
        early = signed_in.post(f"{url}/v1/forecast", json={"series_id": SERIES})
        assert early.status_code == 503
        assert early.json() == {"detail": f"the model for {SERIES} is not loaded yet; retry later"}
        assert early.headers["retry-after"] == "1"
        not_ready = signed_in.get(f"{url}/ready")
        assert not_ready.status_code == 503
        assert not_ready.json()["status"] == "loading"
        assert not_ready.json()["registry"]["status"] == "degraded"
        # No error body names an internal address.
        for text in (early.text, not_ready.text, signed_in.get(f"{url}/v1/models").text):
            assert "10.0.0.7" not in text
        deadline = time.monotonic() + 10
        while signed_in.get(f"{url}/ready").status_code != 200:
            assert time.monotonic() < deadline, "model never loaded"
            time.sleep(0.1)
        assert signed_in.get(f"{url}/v1/models").json()["models"][0]["version"] == "1"


def test_start_up_does_not_wait_for_a_tracking_server_that_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on this port. MLflow's default HTTP retries would hold the start-up
    # (and /health) for minutes; ApiServer gives up after 30 s.
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    port = local_stack.free_port()
    settings = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        mlflow_tracking_uri=f"http://127.0.0.1:{port}",
        api_model_retry_seconds=60,
        api_models=("traffic",),
    )
    try:
        with ApiServer(create_app(settings, registry_loader(settings))) as url:
            assert signed_in.get(f"{url}/health").json()["models_loaded"] == 0
            ready = signed_in.get(f"{url}/ready")
            assert ready.status_code == 503
            assert ready.json()["models"][0]["state"] == "loading"
            assert ready.json()["registry"]["status"] == "degraded"
            error = signed_in.get(f"{url}/v1/models").json()["models"][0]["error"]
            assert error == "the model registry is unreachable and no copy is cached"
            forecast = signed_in.post(f"{url}/v1/forecast", json={"series_id": SERIES})
            assert forecast.status_code == 503
            assert str(port) not in forecast.text
    finally:
        for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
            os.environ.pop(name, None)


def test_metrics_count_requests_by_route(api: str) -> None:
    signed_in.post(f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 2})
    signed_in.post(f"{api}/v1/forecast", json={"series_id": SERIES, "horizon": 0})
    text = signed_in.get(f"{api}/metrics").text
    assert 'handler="/v1/forecast",method="POST",status="200"' in text
    assert 'handler="/v1/forecast",method="POST",status="422"' in text
    assert 'hourcast_api_forecast_hours_total{series_id="traffic:i94-westbound"}' in text
    assert "http_request_duration_seconds_bucket" in text


def test_metrics_count_a_500_from_an_unhandled_error(
    tmp_path: Path, forecaster: Forecaster
) -> None:
    app = create_app(_settings(tmp_path), _loader(forecaster))

    def broken() -> None:
        raise RuntimeError("secret internals at http://10.0.0.7")

    app.add_api_route("/v1/broken", broken)
    with ApiServer(app) as url:
        response = signed_in.get(f"{url}/v1/broken")
        assert response.status_code == 500
        assert "10.0.0.7" not in response.text
        text = signed_in.get(f"{url}/metrics").text
        assert 'handler="/v1/broken",method="GET",status="500"} 1.0' in text


def test_an_unknown_served_model_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="HOURCAST_API_MODELS names unknown models \\['o3'\\]"):
        create_app(Settings(api_models=("traffic", "o3")))


def test_forecast_numbers_are_those_of_the_forecaster(
    api: str, traffic: pd.DataFrame, forecaster: Forecaster
) -> None:
    # The served fast path against Forecaster.predict_intervals (the path before it).
    tail = traffic.tail(504)
    history = [
        {"ts": ts.isoformat(), "value": v} for ts, v in zip(tail.ts, tail.value, strict=True)
    ]
    body = {"series_id": SERIES, "horizon": 30, "history": history}
    response = signed_in.post(f"{api}/v1/forecast", json=body)
    assert response.status_code == 200, response.text
    series = pd.Series(tail.value.to_numpy(), index=pd.DatetimeIndex(tail.ts))
    expected = forecaster.predict_intervals(series, 30, (80, 95), series_id=SERIES)
    points = response.json()["forecast"]
    assert [pd.Timestamp(p["ts"]) for p in points] == list(expected.index)
    assert [p["value"] for p in points] == expected["value"].tolist()
    assert [p["intervals"][1]["upper"] for p in points] == expected["hi_95"].tolist()
    assert [p["intervals"][0]["lower"] for p in points] == expected["lo_80"].tolist()


def test_batch_answers_every_series_on_its_own(api: str, traffic: pd.DataFrame) -> None:
    tail = traffic.tail(336)
    history = [
        {"ts": ts.isoformat(), "value": v} for ts, v in zip(tail.ts, tail.value, strict=True)
    ]
    items = [
        {"series_id": SERIES, "horizon": 24, "history": history},
        {"series_id": "traffic:unknown"},
        {"series_id": SERIES, "horizon": 6, "levels": [90]},
        {"series_id": SERIES, "horizon": 3, "levels": []},
        {"series_id": SERIES, "history": [{"ts": "2018-01-01T00:00Z", "value": 99_999.0}]},
        {"series_id": SERIES, "horizon": 10_000},
    ]
    response = signed_in.post(f"{api}/v1/forecast/batch", json={"series": items}, timeout=60)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["series_id"], r["status"]) for r in results] == [
        (SERIES, 200),
        ("traffic:unknown", 404),
        (SERIES, 422),
        (SERIES, 200),
        (SERIES, 422),
        (SERIES, 422),
    ]
    single = signed_in.post(f"{api}/v1/forecast", json=items[0]).json()
    assert results[0]["forecast"] == single
    assert results[0]["error"] is None
    assert "unknown series_id 'traffic:unknown'" in results[1]["error"]
    assert results[2]["error"].startswith("levels: hourcast-traffic-volume v7: no intervals")
    assert len(results[3]["forecast"]["forecast"]) == 3
    assert results[4]["error"] == "history.0.value: 99999 is outside the plausible range 0 to 10000"
    assert results[5]["error"] == "horizon: must be at most 168 hours"
    assert all(r["forecast"] is None for r in results if r["status"] != 200)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"series": []}, "at least 1 item"),
        ({"series": [{"series_id": SERIES}] * 1001}, "at most 1000 items"),
        ({"series": [{"series_id": SERIES, "horizon": 0}]}, '"loc":["body","series",0,"horizon"]'),
        ({"series": [{"series_id": SERIES}], "extra": 1}, "extra"),
    ],
)
def test_a_batch_that_breaks_the_schema_is_refused_whole(
    api: str, body: dict[str, Any], needle: str
) -> None:
    response = signed_in.post(f"{api}/v1/forecast/batch", json=body)
    assert response.status_code == 422
    assert needle in response.text


def test_batch_size_setting(tmp_path: Path, forecaster: Forecaster) -> None:
    settings = _settings(tmp_path, api_max_batch=2)
    with ApiServer(create_app(settings, _loader(forecaster))) as url:
        body = {"series": [{"series_id": "traffic:unknown"}] * 3}
        response = signed_in.post(f"{url}/v1/forecast/batch", json=body)
        assert response.status_code == 422
        assert response.json()["detail"][0] == {
            "loc": ["body", "series"],
            "msg": "at most 2 series per batch",
            "type": "value_error",
        }


def test_series_lists_what_can_be_forecast(api: str, traffic: pd.DataFrame) -> None:
    response = signed_in.get(f"{api}/v1/series")
    assert response.status_code == 200
    [series] = response.json()["series"]
    assert series == {
        "series_id": SERIES,
        "source": "traffic",
        "parameter": "traffic_volume",
        "units": "vehicles/h",
        "timezone": "America/Chicago",
        "location": series["location"],
        "target": "traffic",
        "last_observed": traffic.ts.iloc[-1].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {"name": "hourcast-traffic-volume", "version": "7"},
    }


def test_a_new_version_is_swapped_in_without_a_failed_request(
    tmp_path: Path, traffic: pd.DataFrame, forecaster: Forecaster
) -> None:
    versions = ["1"]

    def registry(target: Target) -> ServedModel:
        return ServedModel(target.model_name, versions[-1], "run", "champion", forecaster)

    settings = _settings(tmp_path, api_model_poll_seconds=0.2)
    tail = traffic.tail(200)
    history = [
        {"ts": ts.isoformat(), "value": v} for ts, v in zip(tail.ts, tail.value, strict=True)
    ]
    body = {"series_id": SERIES, "horizon": 24, "history": history}
    with (
        ApiServer(create_app(settings, registry)) as url,
        httpx.Client(headers=signed_in_headers()) as client,
    ):
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and seen.count("2") < 20:
            response = client.post(f"{url}/v1/forecast", json=body)
            assert response.status_code == 200, response.text
            seen.append(response.json()["model"]["version"])
            if len(seen) == 20:
                versions.append("2")
        assert seen[0] == "1"
        assert seen[-1] == "2"
        # Once swapped, never back.
        assert seen == sorted(seen)


def test_a_forecaster_loaded_again_is_not_reconfigured_while_it_serves(
    tmp_path: Path, forecaster: Forecaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XGBoost's set_param marks a booster for reconfiguration: predictions running meanwhile
    fail. A version whose forecaster already serves is loaded without it."""
    booster = forecaster.booster
    booster.set_param({"nthread": 2})  # as fitted
    calls: list[object] = []
    set_param = booster.set_param

    def counted(params: Any, value: Any = None) -> None:
        calls.append(params)
        set_param(params, value)

    monkeypatch.setattr(booster, "set_param", counted)
    versions = ["1"]

    def registry(target: Target) -> ServedModel:
        return ServedModel(target.model_name, versions[-1], "run", "champion", forecaster)

    settings = _settings(tmp_path, api_model_poll_seconds=0.2, api_threads=1)
    with ApiServer(create_app(settings, registry)) as url:
        versions.append("2")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if signed_in.get(f"{url}/v1/models").json()["models"][0]["version"] == "2":
                break
            time.sleep(0.1)
        else:
            pytest.fail("version 2 was not served within 20 s")
    assert calls == [{"nthread": 1}]


def test_an_unknown_query_parameter_is_a_422_naming_it(api: str) -> None:
    response = signed_in.get(f"{api}/v1/series", params={"colour": "red"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["query", "colour"], "msg": "unknown query parameter", "type": "value_error"}
    ]
    assert signed_in.get(f"{api}/v1/series").status_code == 200
