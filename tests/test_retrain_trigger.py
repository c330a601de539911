"""Retrain triggers as deployed: tokens written into triggers.yaml, triggers named in settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from hourcast.settings import Settings
from hourcast.training.retrain_trigger import (
    RetrainNotConfiguredError,
    resolve_schedule_id,
    start_retraining,
    write_trigger_tokens,
)
from tests.conftest import ROOT


def test_triggers_are_ids_or_names_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOURCAST_MAGE_RETRAIN_TRIGGERS", "traffic=3, pm25=retrain_pm25")
    assert Settings().mage_retrain_triggers == {"traffic": 3, "pm25": "retrain_pm25"}
    monkeypatch.setenv("HOURCAST_MAGE_RETRAIN_TRIGGERS", "traffic")
    with pytest.raises(ValidationError, match="target=trigger pairs"):
        Settings()


def test_the_mage_database_is_the_stores_server_with_its_own_name() -> None:
    settings = Settings(
        db_host="db.internal", db_user="hc", db_password=SecretStr("p@ss"), mage_db_name="mage"
    )
    url = make_url(settings.resolved_mage_database_url or "")
    assert (url.host, url.username, url.password, url.database) == (
        "db.internal",
        "hc",
        "p@ss",
        "mage",
    )
    assert Settings(db_host="db.internal").resolved_mage_database_url is None
    # SQLite has no second database beside it.
    assert Settings(mage_db_name="mage").resolved_mage_database_url is None


def test_every_api_trigger_gets_the_token_and_no_schedule_does(tmp_path: Path) -> None:
    project = tmp_path / "orchestration"
    shutil.copytree(ROOT / "orchestration" / "pipelines", project / "pipelines")
    written = write_trigger_tokens(project, "s3cret")
    assert sorted(written) == ["train/retrain_pm25", "train/retrain_traffic"]
    triggers = yaml.safe_load((project / "pipelines/train/triggers.yaml").read_text())["triggers"]
    tokens = {t["name"]: t.get("token") for t in triggers}
    assert tokens == {
        "daily_retrain_traffic": None,
        "daily_retrain_pm25": None,
        "retrain_traffic": "s3cret",
        "retrain_pm25": "s3cret",
    }
    # Everything else in the file is kept.
    original = yaml.safe_load((ROOT / "orchestration/pipelines/train/triggers.yaml").read_text())
    assert [{k: v for k, v in t.items() if k != "token"} for t in triggers] == original["triggers"]


def test_a_trigger_name_is_looked_up_in_mages_database(pg_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:  # the columns of Mage's table that the lookup reads
        connection.execute(
            sa.text("CREATE TABLE pipeline_schedule (id int, name text, pipeline_uuid text)")
        )
        connection.execute(
            sa.text(
                "INSERT INTO pipeline_schedule VALUES "
                "(7, 'retrain_traffic', 'train'), (8, 'retrain_traffic', 'monitor')"
            )
        )
    engine.dispose()
    settings = Settings(
        database_url=pg_url.rsplit("/", 1)[0] + "/postgres",
        mage_db_name=make_url(pg_url).database,
        home=tmp_path,
    )
    assert resolve_schedule_id(settings, "retrain_traffic") == 7
    assert resolve_schedule_id(settings, 12) == 12
    with pytest.raises(RetrainNotConfiguredError, match="no trigger 'retrain_nox'"):
        resolve_schedule_id(settings, "retrain_nox")


def test_a_trigger_name_without_mages_database_is_not_configured(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        mage_trigger_token=SecretStr("t"),
        mage_retrain_triggers={"traffic": "retrain_traffic"},
    )
    with pytest.raises(RetrainNotConfiguredError, match="HOURCAST_MAGE_DB_NAME"):
        start_retraining(settings, "traffic")
