"""Authentication of the inference API over real HTTP, with users and keys in PostgreSQL."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import SecretStr
from starlette.routing import Mount, Route

from hourcast.auth.mode import AuthModeError
from hourcast.auth.store import add_user, create_api_key, disable_user, list_api_keys
from hourcast.auth.tokens import issue_token
from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import TRAFFIC_I94
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings
from hourcast.sources.traffic import load_traffic
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import register_series, upsert_observations
from hourcast.targets import Target
from hourcast.training.tracking import ServedModel
from inference_api.main import create_app
from tests.conftest import ApiServer, PostgresDatabases, api_headers

pytestmark = pytest.mark.integration

SERIES = TRAFFIC_I94.series_id
SIGNING_KEY = secrets.token_urlsafe(32)
NOT_A_KEY = "hck_" + "0" * 12
# What answers without a token or key (the Swagger UI assets are under the mount).
PUBLIC = {
    "/health",
    "/ready",
    "/docs",
    "/openapi.json",
    "/metrics",
    "/v1/auth/token",
    "/static/swagger-ui",
}


@dataclass(frozen=True)
class RunningApi:
    url: str
    app: FastAPI
    engine: sa.Engine
    history: list[dict[str, Any]]


@pytest.fixture(scope="module")
def running(postgres: PostgresDatabases) -> Iterator[RunningApi]:
    frame = load_traffic(BUNDLED_TRAFFIC_CSV).frame
    frame = frame[frame.ts >= pd.Timestamp("2018-05-01", tz="UTC")]
    series = pd.Series(frame.value.to_numpy(), index=pd.DatetimeIndex(frame.ts))
    config = FeatureConfig(timezone=TRAFFIC_I94.timezone, holiday_calendar="US-MN")
    forecaster = Forecaster(config, num_boost_round=20).fit({SERIES: series})
    history = [{"ts": ts.isoformat(), "value": float(v)} for ts, v in series.iloc[-400:].items()]

    url = postgres.create("api_auth")
    engine = create_db_engine(url)
    upgrade(engine)
    with engine.begin() as connection:  # for forecasts from stored observations
        register_series(connection, spec=TRAFFIC_I94)
        upsert_observations(connection, series_id=SERIES, frame=frame[["ts", "value"]].tail(400))
    settings = Settings(
        database_url=url, api_models=("traffic",), jwt_secret_key=SecretStr(SIGNING_KEY)
    )

    def loader(target: Target) -> ServedModel:
        return ServedModel(target.model_name, "7", "run-abc", "champion", forecaster)

    app = create_app(settings, loader)
    with ApiServer(app) as api_url:
        yield RunningApi(api_url, app, engine, history)
    engine.dispose()
    postgres.drop(url)


def _requests(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path to call, route path) for every route of the app, path parameters filled."""
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            found.append(("GET", f"{route.path}/swagger-ui.css", route.path))
        elif isinstance(route, APIRoute | Route):
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            found.extend((method, path, route.path) for method in route.methods - {"HEAD"})
    return found


def _forecast(api: RunningApi, headers: dict[str, str]) -> httpx.Response:
    body = {"series_id": SERIES, "horizon": 6, "history": api.history}
    return httpx.post(f"{api.url}/v1/forecast", json=body, headers=headers, timeout=30)


def test_only_the_public_paths_answer_without_credentials(running: RunningApi) -> None:
    requests = _requests(running.app)
    assert {route for _, _, route in requests} >= PUBLIC  # the list above is not stale
    assert any(route.startswith("/v1/admin/") for _, _, route in requests)
    for method, path, route in requests:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": NOT_A_KEY}):
            answer = httpx.request(method, f"{running.url}{path}", headers=headers, timeout=30)
            if route in PUBLIC:
                assert answer.status_code != 401, (method, path, headers)
            else:
                assert answer.status_code == 401, (method, path, headers, answer.text)
                assert answer.headers["www-authenticate"] == "Bearer"
                assert answer.json()["detail"]
    assert httpx.get(f"{running.url}/static/swagger-ui/swagger-ui.css").status_code == 200
    assert httpx.get(f"{running.url}/redoc").status_code == 404  # one docs page, local


def test_a_user_gets_a_token_and_forecasts_with_it(running: RunningApi) -> None:
    password = secrets.token_urlsafe(16)
    add_user(running.engine, username="ursula", password=password, role="user")
    answer = httpx.post(
        f"{running.url}/v1/auth/token", data={"username": "ursula", "password": password}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert 29 * 60 < body["expires_in"] <= 30 * 60
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{running.url}/v1/models", headers=headers).status_code == 200
    forecast = _forecast(running, headers)
    assert forecast.status_code == 200, forecast.text
    assert len(forecast.json()["forecast"]) == 6


@pytest.mark.parametrize("case", ["mistyped", "unknown user", "disabled user"])
def test_no_token_for_bad_credentials(running: RunningApi, case: str) -> None:
    password = secrets.token_urlsafe(16)
    username = f"u{secrets.token_hex(4)}"
    add_user(running.engine, username=username, password=password)
    if case == "disabled user":
        disable_user(running.engine, username=username)
    sent = {
        "mistyped": (username, password + "x"),
        "unknown user": ("nobody-" + username, password),
        "disabled user": (username, password),
    }[case]
    answer = httpx.post(
        f"{running.url}/v1/auth/token", data={"username": sent[0], "password": sent[1]}
    )
    assert answer.status_code == 401
    assert answer.json() == {"detail": "incorrect username or password"}


def test_an_expired_or_tampered_token_gets_401(running: RunningApi) -> None:
    add_user(running.engine, username="tom", password=secrets.token_urlsafe(16), role="user")
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = issue_token(username="tom", role="user", key=SIGNING_KEY, minutes=30, now=past)
    valid = issue_token(username="tom", role="user", key=SIGNING_KEY, minutes=30).token
    header, _, signature = valid.split(".")
    admin_claims = issue_token(username="tom", role="admin", key="k" * 32, minutes=30)
    tampered = f"{header}.{admin_claims.token.split('.')[1]}.{signature}"
    foreign = issue_token(username="tom", role="admin", key="k" * 32, minutes=30).token
    cases = [
        (expired.token, "the token has expired"),
        (tampered, "the token is not valid"),
        (foreign, "the token is not valid"),
    ]
    for token, message in cases:
        answer = _forecast(running, {"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        assert answer.json() == {"detail": message}
    assert _forecast(running, {"Authorization": f"Bearer {valid}"}).status_code == 200


def test_a_user_gets_403_on_every_admin_route_and_an_admin_gets_in(running: RunningApi) -> None:
    user = api_headers(running.url, running.engine, role="user")
    admin = api_headers(running.url, running.engine, role="admin")
    admin_routes = [r for r in _requests(running.app) if r[2].startswith("/v1/admin/")]
    assert {route for _, _, route in admin_routes} == {
        "/v1/admin/reload",
        "/v1/admin/retrain",
        "/v1/admin/predictions",
    }
    for method, path, _ in admin_routes:
        answer = httpx.request(method, f"{running.url}{path}", headers=user, timeout=60)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json() == {"detail": "this endpoint is for admins"}
    assert httpx.get(f"{running.url}/v1/admin/predictions", headers=admin).status_code == 200
    assert httpx.post(f"{running.url}/v1/admin/reload", headers=admin).status_code == 200


def test_an_api_key_works_until_revoked_at_once(running: RunningApi) -> None:
    info, key = create_api_key(running.engine, name="dashboard", role="user")
    headers = {"X-API-Key": key}
    assert _forecast(running, headers).status_code == 200
    assert httpx.get(f"{running.url}/v1/admin/predictions", headers=headers).status_code == 403
    used = next(k for k in list_api_keys(running.engine) if k.key_id == info.key_id)
    assert used.last_used_at is not None

    with running.engine.begin() as connection:  # as `hourcast keys revoke` does
        connection.execute(
            sa.text("UPDATE api_keys SET revoked_at = now() WHERE key_id = :id"),
            {"id": info.key_id},
        )
    answer = _forecast(running, headers)  # the very next request
    assert answer.status_code == 401
    assert answer.json() == {"detail": "the API key is not valid or has been revoked"}


def test_the_schema_declares_both_schemes_and_the_401_403_answers(running: RunningApi) -> None:
    schema = httpx.get(f"{running.url}/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["OAuth2Password"] == {
        "type": "oauth2",
        "description": "A user's token: POST username and password to /v1/auth/token.",
        "flows": {"password": {"scopes": {}, "tokenUrl": "/v1/auth/token"}},
    }
    assert schemes["APIKey"]["type"] == "apiKey"
    assert (schemes["APIKey"]["in"], schemes["APIKey"]["name"]) == ("header", "X-API-Key")
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 8
    for path, method, operation in operations:
        if path in PUBLIC:
            assert "security" not in operation, path
            continue
        assert {"OAuth2Password": []} in operation["security"], (path, method)
        assert {"APIKey": []} in operation["security"], (path, method)
        assert "401" in operation["responses"], (path, method)
        assert ("403" in operation["responses"]) == path.startswith("/v1/admin/"), path


def test_auth_off_lets_everyone_in_and_says_so_loudly(
    postgres: PostgresDatabases, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres.create("api_noauth")
    try:
        settings = Settings(database_url=url, api_models=("traffic",), api_auth="off")
        with (
            caplog.at_level(logging.WARNING, logger="inference_api"),
            ApiServer(create_app(settings, _never_registered)) as api_url,
        ):
            answer = httpx.post(f"{api_url}/v1/admin/reload", timeout=30)
        assert answer.status_code == 200, answer.text
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("HOURCAST_API_AUTH=off: EVERY CALLER IS LET IN" in m for m in warnings)
    finally:
        postgres.drop(url)
    with pytest.raises(AuthModeError, match="refused with HOURCAST_ENV=production"):
        create_app(
            Settings(
                env="production",
                api_auth="off",
                database_url=url,
                mlflow_tracking_uri="http://mlflow:5000",
                jwt_secret_key=SecretStr(SIGNING_KEY),
            )
        )


def _never_registered(target: Target) -> ServedModel:
    raise LookupError(f"{target.model_name} is not registered")


def test_the_forecast_command_sends_a_token_or_a_key(running: RunningApi) -> None:
    from hourcast.cli.forecast import credentials, fetch_forecast

    with pytest.raises(RuntimeError, match="pass --token or --api-key"):
        fetch_forecast(running.url, series_id=SERIES, horizon=2)
    token = issue_token(username="cli", role="user", key=SIGNING_KEY, minutes=5).token
    _, key = create_api_key(running.engine, name="cli")
    for headers in (credentials(token, None), credentials(None, key)):
        answer = fetch_forecast(running.url, series_id=SERIES, horizon=2, headers=headers)
        assert len(answer["forecast"]) == 2
