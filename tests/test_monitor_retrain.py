"""Acceptance: a level-shifted series, fed through the API and the monitor, retrains exactly once.

A real registered model (trained and backtested by ``hourcast.training`` on the bundled
traffic data up to a Sunday night, registered as champion in a tracking server of this
module's own) is served by the real API, which reads the history from a PostgreSQL store and
logs every forecast. Hour by hour the test asks the API for a forecast and then stores the
next actual, for two days: once the true values, once the same values plus a level shift.
Then the monitor runs twice against a real headless Mage server (``mage start`` on a copy of
``orchestration/``), whose API trigger ``retrain_traffic`` it calls as
``POST /v1/admin/retrain`` does. The true series starts nothing. The shifted one starts the
pipeline ``train`` once: the second run, made by the Mage pipeline ``monitor`` itself
(``mage run``), finds the cooldown and starts nothing; its charts are then rendered the way
the Mage editor renders them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from hourcast.monitoring.monitor import TargetReport, run_monitor
from hourcast.series import TRAFFIC_I94
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings
from hourcast.sources.traffic import load_traffic
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.observations import register_series, upsert_observations
from hourcast.training.data import load_training_frame, prepare_training_frame
from hourcast.training.fit import fit_and_log
from hourcast.training.register import register_trained
from inference_api.main import create_app
from tests.conftest import (
    ROOT,
    ApiServer,
    MageServer,
    PostgresDatabases,
    scalar,
    signed_in_headers,
    sqlite_mlflow_server,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERIES = TRAFFIC_I94.series_id
# Sunday 2018-06-24 23:00 in Minneapolis: trained up to here, served Monday and Tuesday.
TRAIN_END = pd.Timestamp("2018-06-25 04:00", tz="UTC")
HISTORY_START = pd.Timestamp("2017-06-10", tz="UTC")  # a year: the intervals calibrate on it
SERVED_HOURS = 48
LEVEL_SHIFT = 1500.0  # vehicles/h; the series' mean is about 3,300


@dataclass(frozen=True)
class Registry:
    uri: str
    version: str
    backtest_mae: float


def _store(postgres: PostgresDatabases, frame: pd.DataFrame) -> str:
    url = postgres.create("monitor_store")
    engine = create_db_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        register_series(connection, spec=TRAFFIC_I94)
        upsert_observations(connection, series_id=SERIES, frame=frame)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    frame = load_traffic(BUNDLED_TRAFFIC_CSV).frame[["ts", "value"]]
    return frame[frame["ts"] >= HISTORY_START].reset_index(drop=True)


def _train(store: str, uri: str, home: Path) -> Registry:
    """Train, backtest and register the traffic model as the training pipeline does."""
    settings = Settings(database_url=store, mlflow_tracking_uri=uri, home=home)
    frame = prepare_training_frame(
        load_training_frame(settings=settings, train_end=TRAIN_END, target="traffic")
    )
    trained = fit_and_log(
        frame,
        target="traffic",
        settings=settings,
        train_end=TRAIN_END,
        num_boost_round=30,
        holdout_days=7,
    )
    registered = register_trained(trained, settings=settings)
    assert registered.alias == "champion"
    return Registry(uri, registered.version, trained.metrics["holdout_mae"])


@pytest.fixture(scope="module")
def training(
    postgres: PostgresDatabases, traffic: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Future[Registry]]:
    """The registered model, trained in a thread while Mage starts (set up after this)."""
    root = tmp_path_factory.mktemp("monitor-mlflow")
    store = _store(postgres, traffic[traffic["ts"] <= TRAIN_END])
    with sqlite_mlflow_server(root) as uri, ThreadPoolExecutor(1) as pool:
        yield pool.submit(_train, store, uri, root)  # the pool waits for it before the server stops
    postgres.drop(store)


def _serve_hour_by_hour(url: str, engine: sa.Engine, actuals: pd.DataFrame) -> None:
    """Forecast from the stored history, then store the next hour's actual; repeat."""
    headers = signed_in_headers("user")
    body = {"series_id": SERIES, "horizon": 24}
    with httpx.Client(headers=headers, timeout=30) as client:
        for hour in range(len(actuals)):
            answer = client.post(f"{url}/v1/forecast", json=body)
            assert answer.status_code == 200, answer.text
            with engine.begin() as connection:
                upsert_observations(
                    connection, series_id=SERIES, frame=actuals.iloc[hour : hour + 1]
                )


def _logged(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM prediction_log")).scalar_one())


def _train_runs(server: MageServer) -> int:
    query = "SELECT count(*) FROM pipeline_run WHERE pipeline_uuid = 'train'"
    return int(scalar(server.metadata_url, query))  # type: ignore[arg-type]


@dataclass(frozen=True)
class World:
    """What both scenarios share: the test server, the data, the model and Mage."""

    postgres: PostgresDatabases
    traffic: pd.DataFrame
    registry: Registry
    mage: MageServer
    trigger_id: int
    trigger_token: str


@pytest.fixture(scope="module")
def world(
    postgres: PostgresDatabases,
    traffic: pd.DataFrame,
    training: Future[Registry],
    mage_server: MageServer,
) -> World:
    registry = training.result(timeout=600)
    schedule = "SELECT id FROM pipeline_schedule WHERE name = 'retrain_traffic'"
    trigger_id = wait_for(lambda: scalar(mage_server.metadata_url, schedule), "Mage triggers", 180)
    token = scalar(
        mage_server.metadata_url, "SELECT token FROM pipeline_schedule WHERE id = :i", i=trigger_id
    )
    return World(postgres, traffic, registry, mage_server, int(trigger_id), str(token))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Scenario:
    store: str
    settings: Settings


def _serve(world: World, home: Path, shift: float) -> Scenario:
    """A store up to the training end, then two days served through the API, actuals shifted."""
    traffic = world.traffic
    store = _store(world.postgres, traffic[traffic["ts"] <= TRAIN_END])
    served = traffic[traffic["ts"] > TRAIN_END].head(SERVED_HOURS)
    settings = Settings(
        database_url=store,
        mlflow_tracking_uri=world.registry.uri,
        api_models=("traffic",),
        api_prediction_log_flush_seconds=0.1,
        mage_url=world.mage.url,
        mage_trigger_token=SecretStr(world.trigger_token),
        mage_retrain_triggers={"traffic": world.trigger_id},
        home=home,
    )
    engine = create_db_engine(store)
    try:
        with ApiServer(create_app(settings)) as url:
            ready = wait_for(
                lambda: httpx.get(f"{url}/ready").is_success or None, "the champion", 120
            )
            assert ready
            _serve_hour_by_hour(url, engine, served.assign(value=served["value"] + shift))
        assert _logged(engine) == SERVED_HOURS  # the API writes the rest at shutdown
    finally:
        engine.dispose()
    return Scenario(store, settings)


def _decisions(store: str) -> list[dict[str, Any]]:
    engine = create_db_engine(store)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT * FROM retrain_decisions ORDER BY decided_at")
            return [dict(row) for row in connection.execute(query).mappings()]
    finally:
        engine.dispose()


def _monitor(settings: Settings) -> TargetReport:
    (report,) = run_monitor(settings, targets=["traffic"]).targets
    return report


def _mage_monitor(mage_python: Path, scenario: Scenario, world: World, tmp_path: Path) -> dict:
    """``mage run`` of the pipeline ``monitor`` on a copy of the project; its rendered charts."""
    project = tmp_path / "monitor_project" / "orchestration"
    shutil.copytree(
        ROOT / "orchestration",
        project,
        ignore=shutil.ignore_patterns(".file_versions", ".ssh_tunnel", "__pycache__"),
    )
    env = {
        **os.environ,
        "HOURCAST_DATABASE_URL": scenario.store,
        "HOURCAST_HOME": str(tmp_path / "home"),
        "HOURCAST_MLFLOW_TRACKING_URI": world.registry.uri,
        "HOURCAST_MAGE_URL": world.mage.url,
        "HOURCAST_MAGE_TRIGGER_TOKEN": world.trigger_token,
        "HOURCAST_MAGE_RETRAIN_TRIGGERS": f"traffic={world.trigger_id}",
        "MAGE_DATA_DIR": str(tmp_path / "mage_data"),
    }

    def run(*command: str) -> tuple[str, str]:
        result = subprocess.run(
            command,
            cwd=project.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        return result.stdout, result.stderr

    variables = json.dumps({"targets": "traffic", "chart_target": "traffic"})
    mage = str(mage_python.parent / "mage")
    output = "".join(
        run(mage, "run", str(project), "monitor", "--runtime-vars", variables, "--test")
    )
    assert "Failed to pass tests" not in output
    assert "-> cooldown" in output
    charts = str(ROOT / "tests" / "mage_charts.py")
    rendered, _ = run(str(mage_python), charts, str(project), "monitor", "monitoring_history")
    # The last line of stdout: Mage may print before it.
    return json.loads(rendered.strip().splitlines()[-1])


def test_the_true_series_starts_no_training(world: World, tmp_path: Path) -> None:
    scenario = _serve(world, tmp_path, shift=0.0)
    before = _train_runs(world.mage)
    try:
        reports = [_monitor(scenario.settings) for _ in range(2)]
        decisions = _decisions(scenario.store)
    finally:
        world.postgres.drop(scenario.store)
    print(f"true series: {reports[0]}")  # the figures, with pytest -rP
    for report in reports:
        assert report.model_version == world.registry.version
        assert report.backtest_mae == pytest.approx(world.registry.backtest_mae)
        # Every forecast hour whose actual was stored: 48 origins, 24 steps, the last 23 short.
        assert report.scored_hours == SERVED_HOURS * 24 - sum(range(1, 24))
        assert report.rolling_mae < 1.5 * world.registry.backtest_mae
        assert report.psi is not None
        assert report.psi < 0.25
        assert not report.due
        assert report.outcome is None
    assert decisions == []
    assert _train_runs(world.mage) == before


def test_a_level_shift_starts_training_once_within_the_cooldown(
    world: World, mage_python: Path, tmp_path: Path
) -> None:
    scenario = _serve(world, tmp_path, shift=LEVEL_SHIFT)
    before = _train_runs(world.mage)
    try:
        first = _monitor(scenario.settings)
        rendered = _mage_monitor(mage_python, scenario, world, tmp_path)
        decisions = _decisions(scenario.store)
    finally:
        world.postgres.drop(scenario.store)
    print(f"shifted: {first}")  # the figures, with pytest -rP
    assert first.due
    assert first.outcome == "started"
    assert first.rolling_mae > 1.5 * world.registry.backtest_mae
    assert first.psi > 0.25
    assert [d["outcome"] for d in decisions] == ["started", "cooldown"]
    assert decisions[0]["mage_run_id"] == first.mage_run_id
    assert "backtest MAE" in decisions[0]["reason"]
    assert "PSI" in decisions[0]["reason"]
    assert f"Mage run {first.mage_run_id}" in decisions[1]["reason"]
    assert decisions[0]["metrics"]["backtest_mae"] == pytest.approx(world.registry.backtest_mae)
    # Exactly one training run, of the pipeline train for the target traffic.
    assert _train_runs(world.mage) == before + 1
    engine = sa.create_engine(world.mage.metadata_url)
    with engine.connect() as connection:
        run = sa.text("SELECT pipeline_uuid, variables FROM pipeline_run WHERE id = :i")
        pipeline, variables = connection.execute(run, {"i": first.mage_run_id}).one()
    engine.dispose()
    assert pipeline == "train"
    assert (json.loads(variables) if isinstance(variables, str) else variables)["target"] == (
        "traffic"
    )

    # Mage scheduled the pipeline monitor hourly from its triggers.yaml.
    hourly = "SELECT schedule_interval FROM pipeline_schedule WHERE name = 'hourly_monitor'"
    assert scalar(world.mage.metadata_url, hourly) == "@hourly"

    # The charts of the pipeline monitor, from its two runs (the first made in process).
    charts = rendered["charts"]
    assert {uuid: c["chart_type"] for uuid, c in charts.items()} == {
        "monitor_rolling_mae": "line chart",
        "monitor_coverage": "line chart",
        "monitor_drift": "line chart",
        "monitor_latest": "table",
    }
    mae = charts["monitor_rolling_mae"]["data"]
    assert len(mae["x"]) == 2
    rolling, backtest, limit = mae["y"]
    assert rolling[0] == pytest.approx(first.rolling_mae)
    assert backtest == [pytest.approx(world.registry.backtest_mae)] * 2
    assert limit == [pytest.approx(1.5 * world.registry.backtest_mae)] * 2
    coverage = charts["monitor_coverage"]["data"]
    assert coverage["y"][0][0] == pytest.approx(100 * first.coverage["80"])
    assert coverage["y"][2:] == [[80, 80], [95, 95]]
    drift = charts["monitor_drift"]["data"]
    assert drift["y"][0][0] == pytest.approx(first.psi)
    assert drift["y"][1] == [0.25, 0.25]
    table = charts["monitor_latest"]["data"]
    assert table["x"][:2] == ["target", "model_version"]
    assert [row[0] for row in table["y"]] == ["traffic"]
    assert "cooldown" in table["y"][0]
