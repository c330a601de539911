"""Every forecast the API serves lands in the prediction log, also across a database outage."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import TRAFFIC_I94
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings
from hourcast.sources.traffic import load_traffic
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.targets import Target
from hourcast.training.tracking import ServedModel
from inference_api.main import create_app
from tests.conftest import (
    ApiServer,
    PostgresDatabases,
    api_headers,
    database_outage,
    signed_in_client,
)

pytestmark = pytest.mark.integration

SERIES = TRAFFIC_I94.series_id


@pytest.fixture(scope="module")
def forecaster_and_history() -> tuple[Forecaster, list[dict[str, Any]]]:
    frame = load_traffic(BUNDLED_TRAFFIC_CSV).frame
    frame = frame[frame.ts >= pd.Timestamp("2018-03-01", tz="UTC")]  # enough to calibrate
    series = pd.Series(frame.value.to_numpy(), index=pd.DatetimeIndex(frame.ts))
    config = FeatureConfig(timezone=TRAFFIC_I94.timezone, holiday_calendar="US-MN")
    forecaster = Forecaster(config, num_boost_round=20).fit({SERIES: series})
    history = [{"ts": ts.isoformat(), "value": float(v)} for ts, v in series.iloc[-200:].items()]
    return forecaster, history


@dataclass(frozen=True)
class Store:
    url: str
    engine: sa.Engine

    def rows(self) -> int:
        with self.engine.connect() as connection:
            query = sa.text("SELECT count(*) FROM prediction_log")
            return int(connection.execute(query).scalar_one())


@pytest.fixture
def store(postgres: PostgresDatabases) -> Iterator[Store]:
    url = postgres.create("predlog")
    engine = create_db_engine(url)
    upgrade(engine)
    yield Store(url, engine)
    engine.dispose()
    postgres.drop(url)


def _app(store: Store, forecaster: Forecaster, **settings: Any) -> Any:
    def loader(target: Target) -> ServedModel:
        return ServedModel(target.model_name, "7", "run-abc", "champion", forecaster)

    options = {"api_prediction_log_flush_seconds": 0.1, **settings}
    return create_app(Settings(database_url=store.url, api_models=("traffic",), **options), loader)


def _wait_for_rows(store: Store, expected: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while store.rows() < expected and time.monotonic() < deadline:
        time.sleep(0.1)


def test_forecasts_and_batches_are_logged_and_admins_read_them(
    store: Store, forecaster_and_history: tuple[Forecaster, list[dict[str, Any]]]
) -> None:
    forecaster, history = forecaster_and_history
    with ApiServer(_app(store, forecaster)) as url:
        user = api_headers(url, store.engine, role="user", username="ursula")
        admin = api_headers(url, store.engine, role="admin", username="ada")
        body = {"series_id": SERIES, "horizon": 3, "history": history, "levels": [80]}
        single = httpx.post(
            f"{url}/v1/forecast", json=body, headers={**user, "X-Request-ID": "req-one"}
        )
        assert single.status_code == 200, single.text
        batch = httpx.post(
            f"{url}/v1/forecast/batch",
            json={"series": [body, {**body, "horizon": 2}, {**body, "series_id": "nope:1"}]},
            headers=admin,
            timeout=30,
        )
        assert batch.status_code == 200, batch.text
        assert [r["status"] for r in batch.json()["results"]] == [200, 200, 404]
        _wait_for_rows(store, 3)
        read = httpx.get(f"{url}/v1/admin/predictions", headers=admin)
        assert read.status_code == 200, read.text
        rows = read.json()["predictions"]

        # Filters: series, model, since, limit.
        def count(**params: Any) -> int:
            answer = httpx.get(f"{url}/v1/admin/predictions", params=params, headers=admin)
            assert answer.status_code == 200, answer.text
            return len(answer.json()["predictions"])

        assert count(series_id=SERIES) == 3
        assert count(series_id="openaq:1") == 0
        assert count(model="hourcast-traffic-volume", limit=2) == 2
        assert count(model="hourcast-pm25") == 0
        assert count(since=(datetime.now(UTC) + timedelta(minutes=1)).isoformat()) == 0
        assert count(since=(datetime.now(UTC) - timedelta(minutes=5)).isoformat()) == 3
        # Any offset Python reads, although PostgreSQL's own end at +-15:59; and the ends.
        far_east = timezone(timedelta(hours=16))
        assert count(since=datetime.now(far_east).isoformat()) == 0
        assert count(since=(datetime.now(far_east) - timedelta(minutes=5)).isoformat()) == 3
        assert count(since="0001-01-01T00:00:00+16:00") == 3
        assert count(since="9999-12-31T23:00:00-16:00") == 0
        assert (
            httpx.get(f"{url}/v1/admin/predictions", params={"limit": 0}, headers=admin).status_code
            == 422
        )

    assert len(rows) == 3  # one per forecast series; the unknown series got no forecast
    first = rows[-1]  # newest first
    assert (first["request_id"], first["caller"], first["series_id"]) == (
        "req-one",
        "user:ursula",
        SERIES,
    )
    assert (first["model_name"], first["model_version"], first["horizon"]) == (
        "hourcast-traffic-volume",
        "7",
        3,
    )
    points = single.json()["forecast"]
    assert first["forecast"] == pytest.approx([p["value"] for p in points])
    assert first["intervals"]["80"]["lower"] == pytest.approx(
        [p["intervals"][0]["lower"] for p in points]
    )
    assert datetime.fromisoformat(first["origin"]) == datetime.fromisoformat(
        points[0]["ts"].replace("Z", "+00:00")
    ) - timedelta(hours=1)
    assert first["latency_ms"] > 0
    batch_rows = rows[:2]
    assert {r["caller"] for r in batch_rows} == {"user:ada"}
    assert len({r["request_id"] for r in batch_rows}) == 1  # one request, two series
    assert re.fullmatch(r"[0-9a-f]{32}", batch_rows[0]["request_id"])
    assert sorted(r["horizon"] for r in batch_rows) == [2, 3]


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_a_full_buffer_drops_rows_and_counts_them(
    store: Store, forecaster_and_history: tuple[Forecaster, list[dict[str, Any]]]
) -> None:
    forecaster, history = forecaster_and_history
    body = {"series_id": SERIES, "horizon": 2, "history": history}
    with ApiServer(_app(store, forecaster, api_prediction_log_buffer=3)) as url:
        client = signed_in_client("user")
        dropped_before = _metric(url, "hourcast_prediction_log_dropped_total")
        with database_outage(store.url):
            statuses = [client.post(f"{url}/v1/forecast", json=body).status_code for _ in range(5)]
            assert statuses == [200] * 5  # the outage does not reach the forecasts
            dropped = _metric(url, "hourcast_prediction_log_dropped_total") - dropped_before
            assert dropped == 2
            assert _metric(url, "hourcast_prediction_log_buffered") == 3
        _wait_for_rows(store, 3)
    assert store.rows() == 3


@pytest.mark.slow
def test_forecasts_succeed_through_a_30_s_database_outage_and_every_row_is_kept(
    store: Store, forecaster_and_history: tuple[Forecaster, list[dict[str, Any]]]
) -> None:
    forecaster, history = forecaster_and_history
    body = {"series_id": SERIES, "horizon": 24, "history": history}
    outcomes: Counter[int | str] = Counter()
    during_outage: list[int] = []
    outage = threading.Event()
    stop = threading.Event()
    lock = threading.Lock()

    def client_loop(url: str) -> None:
        with signed_in_client("user") as client:
            while not stop.is_set():
                try:
                    status: int | str = client.post(
                        f"{url}/v1/forecast", json=body, timeout=30
                    ).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    outcomes[status] += 1
                    if outage.is_set() and status == 200:
                        during_outage.append(1)

    app = _app(store, forecaster)
    with ApiServer(app) as url:
        dropped_before = _metric(url, "hourcast_prediction_log_dropped_total")
        clients = [threading.Thread(target=client_loop, args=(url,)) for _ in range(4)]
        for thread in clients:
            thread.start()
        time.sleep(3)
        with database_outage(store.url):
            outage.set()
            time.sleep(30)
            outage.clear()
            waiting = app.state.prediction_log.writer.buffered
        time.sleep(5)
        stop.set()
        for thread in clients:
            thread.join(60)
        served = outcomes[200]
        _wait_for_rows(store, served, timeout=60)
        dropped = _metric(url, "hourcast_prediction_log_dropped_total") - dropped_before
    assert set(outcomes) == {200}, outcomes  # no forecast failed
    assert len(during_outage) > 100  # forecasts went on while the database was away
    assert waiting > 100  # ... and their rows waited in the buffer
    assert dropped == 0
    assert store.rows() == served  # every row, written once the database was back
