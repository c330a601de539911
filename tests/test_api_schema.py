"""schemathesis against the API's own OpenAPI schema: every operation, every check.

Real HTTP (uvicorn in a thread) with a real, small traffic forecaster and a PostgreSQL store.
Each operation gets a bounded number of generated requests, valid and invalid by the schema
(``DataGenerationMethod.all()``); every check of schemathesis runs on each answer (no 5xx,
documented status codes, content types and headers, bodies that match the documented schema,
schema-invalid requests refused, and the declared auth enforced). Requests carry an admin's
token when the API has auth, so the admin operations are exercised too.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import DataGenerationMethod
from schemathesis.checks import ALL_CHECKS
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

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
from tests.conftest import ApiServer, PostgresDatabases

pytestmark = [pytest.mark.slow, pytest.mark.integration]

EXAMPLES_PER_OPERATION = 25
# FastAPI writes OpenAPI 3.1, which schemathesis 3.39 reads behind this switch.
schemathesis.experimental.OPEN_API_3_1.enable()


def _mage_stand_in() -> FastAPI:
    """Mage's API trigger, answering as Mage does: the admin retrain route has its dependency
    up here (a real headless Mage run is tested with the admin routes)."""
    mage = FastAPI()
    runs = itertools.count(1)

    @mage.post("/api/pipeline_schedules/{schedule_id}/api_trigger")
    def trigger(schedule_id: int) -> dict[str, Any]:
        return {"pipeline_run": {"id": next(runs), "status": "running"}}

    return mage


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresDatabases
) -> Iterator[tuple[str, str]]:
    home = tmp_path_factory.mktemp("schema")
    frame = load_traffic(BUNDLED_TRAFFIC_CSV).frame
    frame = frame[frame.ts >= pd.Timestamp("2018-05-01", tz="UTC")].reset_index(drop=True)
    series = pd.Series(frame.value.to_numpy(), index=pd.DatetimeIndex(frame.ts))
    config = FeatureConfig(timezone=TRAFFIC_I94.timezone, holiday_calendar="US-MN")
    forecaster = Forecaster(config, num_boost_round=10, calibration_days=14)
    forecaster.fit({TRAFFIC_I94.series_id: series})
    database = postgres.create("hourcast_schema")
    engine = create_db_engine(database)
    upgrade(engine)
    with engine.begin() as connection:
        register_series(connection, spec=TRAFFIC_I94)
        upsert_observations(connection, series_id=TRAFFIC_I94.series_id, frame=frame)
    engine.dispose()

    def loader(target: Target) -> ServedModel:
        return ServedModel(target.model_name, "1", "run-1", "champion", forecaster)

    with ApiServer(_mage_stand_in()) as mage_url:
        app_settings = Settings(
            home=home,
            database_url=database,
            api_models=("traffic",),
            jwt_secret_key=secrets.token_urlsafe(32),
            mage_url=mage_url,
            mage_trigger_token=secrets.token_urlsafe(16),
            mage_retrain_triggers={"traffic": 1, "pm25": 2},
        )
        with ApiServer(create_app(app_settings, loader)) as url:
            yield url, database
    postgres.drop(database)


@pytest.fixture(scope="module")
def auth_headers(api: tuple[str, str]) -> dict[str, str]:
    """An admin's credentials when the API has auth (``/v1/auth/token``); else none.

    Both schemes the schema declares are sent (a bearer token and an API key), so schemathesis
    takes the credentials as given and checks that each invalid one alone gets a 401.
    """
    url, database = api
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    if "/v1/auth/token" not in paths:
        return {}
    from hourcast.auth.store import add_user, create_api_key

    password = secrets.token_urlsafe(16)
    engine = create_db_engine(database)
    add_user(engine, username="schema-admin", password=password, role="admin", replace=True)
    _, key = create_api_key(engine, name="schema-admin-key", role="admin")
    engine.dispose()
    answer = httpx.post(
        f"{url}/v1/auth/token", data={"username": "schema-admin", "password": password}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}", "X-API-Key": key}


@pytest.fixture(scope="module")
def api_schema(api: tuple[str, str]) -> BaseOpenAPISchema:
    url, _ = api
    return schemathesis.from_uri(
        f"{url}/openapi.json",
        base_url=url,
        data_generation_methods=DataGenerationMethod.all(),
    )


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, auth_headers: dict[str, str]
) -> None:
    case.call_and_validate(headers=auth_headers, checks=ALL_CHECKS, timeout=60)
