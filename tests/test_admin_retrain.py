"""POST /v1/admin/retrain against a real, headless Mage server (`mage start orchestration`).

The session's Mage server (tests/conftest.py ``mage_server``) runs a copy of ``orchestration/``
whose API triggers got their token written into ``triggers.yaml``, as the production entrypoint
writes it; its scheduler syncs them into its PostgreSQL database. The API is configured as it is
deployed: the trigger by name (``retrain_traffic``), looked up in Mage's database, and that token.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from hourcast.settings import Settings
from hourcast.targets import Target
from hourcast.training.tracking import ServedModel
from inference_api.main import create_app
from tests.conftest import (
    ApiServer,
    MageServer,
    PostgresDatabases,
    scalar,
    signed_in_headers,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Counted before and after: the Mage server is the session's, and its schedules may add runs of
# other pipelines.
TRAIN_RUNS = "SELECT count(*) FROM pipeline_run WHERE pipeline_uuid = 'train'"


def _row(url: str, query: str) -> tuple[object, ...] | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(sa.text(query)).one_or_none()
            return None if row is None else tuple(row)
    finally:
        engine.dispose()


def _no_models(target: Target) -> ServedModel:
    raise LookupError(f"{target.model_name} is not registered")


def test_retrain_starts_a_real_mage_run_and_returns_its_id(
    mage_server: MageServer, postgres: PostgresDatabases, tmp_path: Path
) -> None:
    trigger = "SELECT id, token FROM pipeline_schedule WHERE name = 'retrain_traffic'"
    schedule_id, token = wait_for(
        lambda: _row(mage_server.metadata_url, trigger), "Mage to sync triggers.yaml", timeout=180
    )
    # Mage took the token from triggers.yaml (written there as the production entrypoint does).
    assert token == mage_server.trigger_token
    runs = scalar(mage_server.metadata_url, TRAIN_RUNS)

    store = postgres.create("retrain_api")
    settings = Settings(
        database_url=store,
        api_models=("traffic",),
        mage_url=mage_server.url,
        mage_trigger_token=SecretStr(mage_server.trigger_token),
        # By name, as deployed: the API looks the id up in Mage's database on the same server.
        mage_retrain_triggers={"traffic": "retrain_traffic"},
        mage_db_name=make_url(mage_server.metadata_url).database,
        home=tmp_path,
    )
    try:
        with ApiServer(create_app(settings, _no_models)) as url:
            admin = signed_in_headers("admin")
            answer = httpx.post(
                f"{url}/v1/admin/retrain", json={"target": "traffic"}, headers=admin, timeout=60
            )
            assert answer.status_code == 202, answer.text
            started = answer.json()
            # Not configured for pm25 here: a 503 that names the settings, no Mage address.
            pm25 = httpx.post(
                f"{url}/v1/admin/retrain", json={"target": "pm25"}, headers=admin, timeout=60
            )
            unknown = httpx.post(
                f"{url}/v1/admin/retrain", json={"target": "nox"}, headers=admin, timeout=60
            )
    finally:
        postgres.drop(store)

    assert started["target"] == "traffic"
    assert started["pipeline_schedule_id"] == schedule_id
    run = "SELECT pipeline_uuid || ' ' || pipeline_schedule_id FROM pipeline_run WHERE id = :i"
    assert scalar(mage_server.metadata_url, run, i=started["run_id"]) == f"train {schedule_id}"
    assert pm25.status_code == 503
    assert "HOURCAST_MAGE_RETRAIN_TRIGGERS" in pm25.json()["detail"]
    assert mage_server.url.split("//")[1] not in pm25.text
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "target"]

    assert scalar(mage_server.metadata_url, TRAIN_RUNS) == runs + 1

    # The run really runs: its first block migrates the observation store and completes.
    first_block = """
        SELECT status FROM block_run
        WHERE pipeline_run_id = :i AND block_uuid = 'migrate_store'
          AND lower(status::text) = 'completed'
    """
    try:
        wait_for(
            lambda: scalar(mage_server.metadata_url, first_block, i=started["run_id"]),
            "the run's first block",
            timeout=180,
        )
    except AssertionError as exc:  # once seen on a loaded clean run: say what Mage was doing
        raise AssertionError(f"{exc}\n{mage_server.runs_report()}") from None


def test_a_wrong_trigger_token_is_a_502_without_mage_internals(
    mage_server: MageServer, postgres: PostgresDatabases, tmp_path: Path
) -> None:
    trigger = "SELECT id FROM pipeline_schedule WHERE name = 'retrain_pm25'"
    schedule_id = int(wait_for(lambda: scalar(mage_server.metadata_url, trigger), "sync", 180))
    store = postgres.create("retrain_api")
    settings = Settings(
        database_url=store,
        api_models=("traffic",),
        mage_url=mage_server.url,
        mage_trigger_token=SecretStr("not-the-token"),
        mage_retrain_triggers={"pm25": schedule_id},
        home=tmp_path,
    )
    runs = scalar(mage_server.metadata_url, TRAIN_RUNS)
    try:
        with ApiServer(create_app(settings, _no_models)) as url:
            answer = httpx.post(
                f"{url}/v1/admin/retrain",
                json={"target": "pm25"},
                headers=signed_in_headers("admin"),
                timeout=60,
            )
    finally:
        postgres.drop(store)
    assert answer.status_code == 502
    assert answer.json() == {"detail": "Mage did not start the run; the API log says why"}
    assert scalar(mage_server.metadata_url, TRAIN_RUNS) == runs
