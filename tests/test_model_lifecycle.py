"""The served model's lifecycle against a real MLflow tracking server of this module's own.

- ``hourcast models promote`` under concurrent load: the API (``python -m inference_api``, two
  worker processes) serves the new champion within its poll interval, with no failed request.
- The tracking server killed while the API runs: forecasts go on, ``/ready`` says degraded.
- An API started while the tracking server is down serves the champion from its local cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import TRAFFIC_I94
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings
from hourcast.sources.traffic import load_traffic
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.targets import TRAFFIC_TARGET
from hourcast.training.tracking import log_forecaster, register_model_version
from hourcast_dev import local_stack
from inference_api.main import create_app, registry_loader
from tests.conftest import ApiServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = TRAFFIC_TARGET.model_name  # the tracking server is this module's own
SERIES = TRAFFIC_I94.series_id
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Registry:
    """This module's tracking server, two registered versions (v1 champion) and the history."""

    uri: str
    run_dir: Path
    service: local_stack.Service
    history: list[dict[str, Any]]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("lifecycle-mlflow")
    port = local_stack.free_port()
    service = local_stack.mlflow_service(
        port=port,
        backend_store_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifacts_destination=str(root / "artifacts"),
        env={},
    )
    run_dir = root / "run"
    local_stack.start(service, run_dir)
    uri = f"http://127.0.0.1:{port}"
    frame = load_traffic(BUNDLED_TRAFFIC_CSV).frame
    frame = frame[frame.ts >= pd.Timestamp("2018-03-01", tz="UTC")].reset_index(drop=True)
    series = pd.Series(frame.value.to_numpy(), index=pd.DatetimeIndex(frame.ts))
    config = FeatureConfig(timezone=TRAFFIC_I94.timezone, holiday_calendar="US-MN")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("lifecycle")
    for rounds in (20, 40):  # versions 1 and 2
        forecaster = Forecaster(config, num_boost_round=rounds, calibration_days=14)
        forecaster.fit({SERIES: series})
        with mlflow.start_run():
            info = log_forecaster(forecaster, history_example=frame.tail(48))
        register_model_version(tracking_uri=uri, model_uri=info.model_uri, name=MODEL, tags={})
    MlflowClient(uri).set_registered_model_alias(MODEL, "champion", "1")
    tail = frame.tail(504)
    history = [
        {"ts": ts.isoformat(), "value": v} for ts, v in zip(tail.ts, tail.value, strict=True)
    ]
    yield Registry(uri, run_dir, service, history)
    local_stack.stop(run_dir, "mlflow")


def _environment(registry: Registry, home: Path) -> dict[str, str]:
    database = home / "store.db"
    engine = create_db_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    return {
        **os.environ,
        "HOURCAST_HOME": str(home),
        "HOURCAST_DATABASE_URL": f"sqlite:///{database}",
        "HOURCAST_MLFLOW_TRACKING_URI": registry.uri,
        "HOURCAST_API_MODELS": "traffic",
        "HOURCAST_API_AUTH": "off",
        "HOURCAST_API_WORKERS": "2",
        "HOURCAST_API_MODEL_POLL_SECONDS": str(POLL_SECONDS),
    }


class Load:
    """Clients posting forecasts in threads until stopped; every answer is kept."""

    def __init__(self, url: str, body: dict[str, Any], clients: int = 8) -> None:
        self.url, self.body = url, body
        # (when the request was sent, status, version that answered)
        self.answers: list[tuple[float, int, str | None]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post(f"{self.url}/v1/forecast", json=self.body)
                except httpx.HTTPError:
                    self.answers.append((sent, 0, None))
                    continue
                version = response.json()["model"]["version"] if response.is_success else None
                self.answers.append((sent, response.status_code, version))

    def wait_for(self, answers: int, version: str | None = None, timeout: float = 120) -> None:
        """Until ``answers`` requests (of ``version``, if given) are answered."""
        deadline = time.monotonic() + timeout
        while sum(version in (None, v) for _, _, v in self.answers) < answers:
            assert time.monotonic() < deadline, f"fewer than {answers} answers of {version}"
            time.sleep(0.1)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def _when_alias_names(uri: str, version: str, cli: subprocess.Popen[bytes]) -> float:
    """The moment (monotonic, within 50 ms) the champion alias names ``version``."""
    client = MlflowClient(uri)
    deadline = time.monotonic() + 300  # the CLI starts slowly on a busy machine
    while time.monotonic() < deadline:
        if client.get_model_version_by_alias(MODEL, "champion").version == version:
            return time.monotonic()
        if cli.poll() not in (None, 0):
            raise AssertionError(cli.stdout.read() if cli.stdout else "the CLI failed")
        time.sleep(0.05)
    raise AssertionError(f"the champion never became version {version}")


def test_a_promoted_champion_is_served_within_the_poll_interval_under_load(
    registry: Registry, tmp_path: Path
) -> None:
    env = _environment(registry, tmp_path)
    port = local_stack.free_port()
    api = local_stack.Service(
        "api",
        [sys.executable, "-m", "inference_api", "--host", "127.0.0.1", "--port", str(port)],
        f"http://127.0.0.1:{port}/ready",
        env,
    )
    run_dir = tmp_path / "run"
    local_stack.start(api, run_dir)
    url = f"http://127.0.0.1:{port}"
    body = {"series_id": SERIES, "horizon": 24, "history": registry.history}
    try:
        with Load(url, body, clients=4) as load:
            load.wait_for(10)
            started = time.monotonic()
            hourcast = Path(sys.executable).parent / "hourcast"
            command = [hourcast, "models", "promote", "2", "--model", MODEL, "--reason", "test"]
            cli = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            try:
                promoted = _when_alias_names(registry.uri, "2", cli)
                assert cli.wait(timeout=120) == 0, cli.stdout.read() if cli.stdout else ""
            finally:
                cli.kill()
            load.wait_for(40, version="2")
        answers = sorted(load.answers)
    finally:
        local_stack.stop(run_dir, "api")
    assert answers, "no request was made"
    failed = [answer for answer in answers if answer[1] != 200]
    assert failed == []
    before = [version for at, _, version in answers if at < started]
    assert set(before) == {"1"}
    last_old = max(at for at, _, version in answers if version == "1")
    first_new = min(at for at, _, version in answers if version == "2")
    # Both workers serve v2 within the poll interval, plus the download and load of v2: about
    # half a second on an idle machine, 5.4 s in one CI run where the 2 cores were also busy with
    # this test's 4 clients, the MLflow server and the promote CLI starting. The bound leaves room
    # for that; the printed figure is the measurement.
    print(
        f"\n{len(answers)} requests, 0 failed; requests sent {first_new - promoted:.2f} s after "
        f"the promotion got v2, none sent after {last_old - promoted:.2f} s got v1 "
        f"(poll every {POLL_SECONDS} s)"
    )
    assert last_old - promoted < POLL_SECONDS + 10
    assert all(version == "2" for at, _, version in answers if at > last_old)


def test_registry_down_keeps_serving_and_a_restart_serves_the_cached_champion(
    registry: Registry, tmp_path: Path
) -> None:
    settings = Settings(
        api_auth="off",
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        mlflow_tracking_uri=registry.uri,
        api_models=("traffic",),
        api_model_poll_seconds=0.5,
        api_model_retry_seconds=0.5,
    )
    body = {"series_id": SERIES, "horizon": 24, "history": registry.history}
    champion = MlflowClient(registry.uri).get_model_version_by_alias(MODEL, "champion").version
    with ApiServer(create_app(settings, registry_loader(settings))) as url:
        ready = httpx.get(f"{url}/ready").json()
        assert (ready["status"], ready["registry"]["status"]) == ("ok", "ok")
        with Load(url, body, clients=4) as load:
            time.sleep(1)
            local_stack.stop(registry.run_dir, "mlflow")  # the tracking server is killed
            killed = time.monotonic()
            deadline = killed + 30
            while httpx.get(f"{url}/ready").json()["registry"]["status"] != "degraded":
                assert time.monotonic() < deadline, "/ready never said degraded"
                time.sleep(0.2)
            # Forecasts go on once the registry is known to be down: 20 more are answered.
            # (A fixed 2 s window was too short for a 2-core machine busy with other tests.)
            degraded = time.monotonic()
            while sum(at > degraded for at, _, _ in load.answers) < 20:
                assert time.monotonic() < degraded + 60, "forecasts stopped with the registry down"
                time.sleep(0.1)
        statuses = {status for _, status, _ in load.answers}
        assert statuses == {200}
        ready_response = httpx.get(f"{url}/ready")
        assert ready_response.status_code == 200
        assert ready_response.json()["status"] == "degraded"
        assert registry.uri not in ready_response.text

    # A restart with the registry still down: the champion comes from the local cache.
    with ApiServer(create_app(settings, registry_loader(settings))) as url:
        ready_response = httpx.get(f"{url}/ready")
        assert ready_response.status_code == 200
        ready = ready_response.json()
        assert ready["status"] == "degraded"
        assert ready["registry"] == {"status": "degraded", "last_contact": None}
        assert ready["models"] == [
            {
                "target": "traffic",
                "name": MODEL,
                "state": "loaded",
                "version": str(champion),
                "source": "cache",
            }
        ]
        response = httpx.post(f"{url}/v1/forecast", json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["model"]["version"] == str(champion)

    # Back up: the same API picks the registry up again.
    local_stack.start(registry.service, registry.run_dir)
    with ApiServer(create_app(settings, registry_loader(settings))) as url:
        ready = httpx.get(f"{url}/ready").json()
        assert (ready["status"], ready["registry"]["status"]) == ("ok", "ok")
