"""The hourly steady state from /v3/parameters/{id}/latest, for 5,000 sensors, over real HTTP.

Requests are counted by the fake server (``/_admin/stats``), rows in real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hourcast.ingestion.openaq_latest import ingest_openaq_latest, parse_latest
from hourcast.ingestion.openaq_sensors import OpenAQSelection
from hourcast.sources.openaq import OpenAQClient
from hourcast.storage.ingestion_state import get_watermark
from hourcast.storage.observations import load_observations
from hourcast_dev.openaq_fake import FakeServer, FleetSpec, create_app
from hourcast_dev.openaq_fleet import FIRST_FLEET_SENSOR_ID

FLEET = 5000
START = datetime(2024, 3, 1, tzinfo=UTC)
NOW = START + timedelta(hours=24)  # the fake's present at the first run
WORLD_PM25 = OpenAQSelection(parameters=("pm25",))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    app = create_app(fleet=FleetSpec(FLEET, START, 48), now=NOW)
    with FakeServer(app) as running:
        yield running


def _at(url: str, now: datetime) -> None:
    httpx.post(f"{url}/_admin/clock", json={"now": now.isoformat()}).raise_for_status()
    httpx.post(f"{url}/_admin/reset").raise_for_status()


def _stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/_admin/stats").json()


def _run(engine: sa.Engine, url: str, selection: OpenAQSelection = WORLD_PM25, **kw: Any) -> Any:
    with OpenAQClient(url, backoff_base=0.01, timeout=30.0) as client:
        return ingest_openaq_latest(engine, client=client, selection=selection, **kw)


def _served(server: FakeServer, sensor_id: int, until: datetime) -> dict[datetime, float]:
    series = server.app.state.dataset.series[sensor_id]
    lo, hi = series.window(None, int(until.timestamp()))
    records = (series.record(i) for i in range(lo, hi))
    return {datetime.fromisoformat(r["period"]["datetimeFrom"]["utc"]): r["value"] for r in records}


def _stored(engine: sa.Engine, sensor_id: int) -> dict[datetime, float]:
    frame = load_observations(engine, series_id=f"openaq:{sensor_id}")
    return {ts.to_pydatetime(): v for ts, v in zip(frame.ts, frame.value, strict=True)}


@pytest.mark.integration
@pytest.mark.slow
def test_steady_state_for_5000_sensors_costs_a_request_per_thousand(
    engine: sa.Engine, server: FakeServer
) -> None:
    url = server.url
    _at(url, NOW)
    first = _run(engine, url, gap_budget=0)
    assert first.status == "succeeded", first.notes
    # The world's PM2.5 stations: the fleet plus two real ones; each starts at its newest hour.
    assert first.series[0].inserted == FLEET + 2

    _at(url, NOW + timedelta(hours=1))
    steady = _run(engine, url)
    stats = _stats(url)
    assert steady.status == "succeeded"
    assert stats["total"] <= 10, stats["by_path"]
    assert stats["by_path"] == {"/v3/parameters/2/latest": 6}  # 5,002 sensors, 1,000 a page
    assert (steady.inserted, steady.updated) == (FLEET, 0)
    sensor = FIRST_FLEET_SENSOR_ID + 17
    last_hour = NOW  # the hour [NOW, NOW + 1 h) has ended by the fake's present
    assert _stored(engine, sensor) == {
        h: v
        for h, v in _served(server, sensor, last_hour + timedelta(hours=1)).items()
        if h >= last_hour - timedelta(hours=1)
    }
    assert get_watermark(engine, series_id=f"openaq:{sensor}").last_ts == last_hour

    # Three hours on: every fleet sensor shows a gap of two hours. A budget of 20 /hours
    # requests fills the 20 sensors with the oldest watermarks; the rest wait, watermark kept.
    _at(url, NOW + timedelta(hours=4))
    gappy = _run(engine, url, gap_budget=20)
    stats = _stats(url)
    hours_requests = {p: n for p, n in stats["by_path"].items() if p.endswith("/hours")}
    assert len(hours_requests) == 20
    assert sum(hours_requests.values()) == 20
    assert stats["total"] == 6 + 20
    assert "20 filled, 4980 deferred" in gappy.notes[-1]
    filled = [int(p.split("/")[3]) for p in hours_requests]
    for sensor in filled[:3]:
        expected = _served(server, sensor, NOW + timedelta(hours=4))
        # From the watermark (NOW) less the 3 h overlap.
        assert _stored(engine, sensor) == {
            h: v for h, v in expected.items() if h >= NOW - timedelta(hours=3)
        }
        assert get_watermark(engine, series_id=f"openaq:{sensor}").last_ts == NOW + timedelta(
            hours=3
        )
    waiting = next(
        FIRST_FLEET_SENSOR_ID + i for i in range(FLEET) if FIRST_FLEET_SENSOR_ID + i not in filled
    )
    assert get_watermark(engine, series_id=f"openaq:{waiting}").last_ts == NOW
    stored = _stored(engine, waiting)
    assert NOW + timedelta(hours=3) in stored  # the newest value is kept meanwhile
    assert NOW + timedelta(hours=1) not in stored  # the gap itself waits for /hours


@pytest.mark.integration
def test_gaps_are_filled_from_hours_within_the_budget(
    engine: sa.Engine, server: FakeServer
) -> None:
    url = server.url
    sensors = tuple(FIRST_FLEET_SENSOR_ID + i for i in range(0, 60, 6))  # 10 sensors
    selection = OpenAQSelection(parameters=("pm25",), sensors=sensors)
    _at(url, NOW)
    assert _run(engine, url, selection=selection).status == "succeeded"
    _at(url, NOW + timedelta(hours=6))
    outcome = _run(engine, url, selection=selection, gap_budget=100)
    stats = _stats(url)
    assert outcome.status == "succeeded"
    assert sum(n for p, n in stats["by_path"].items() if p.endswith("/hours")) == 10
    for sensor in sensors:
        expected = _served(server, sensor, NOW + timedelta(hours=6))
        # From the watermark (the first run's hour, NOW - 1 h) less the 3 h overlap.
        assert _stored(engine, sensor) == {
            h: v for h, v in expected.items() if h >= NOW - timedelta(hours=4)
        }
    # The next hour has no gap: /latest alone.
    _at(url, NOW + timedelta(hours=7))
    assert _run(engine, url, selection=selection).inserted == 10
    assert set(_stats(url)["by_path"]) == {"/v3/parameters/2/latest"}


def test_parse_latest_reads_the_api_shape_and_refuses_the_rest() -> None:
    item = {
        "datetime": {"utc": "2024-03-01T05:00:00Z", "local": "2024-03-01T13:00:00+08:00"},
        "value": -0.4,
        "coordinates": {"latitude": 39.9, "longitude": 116.4},
        "sensorsId": 42,
        "locationsId": 7,
    }
    value = parse_latest(item)
    assert value is not None
    assert (value.sensor_id, value.value, value.on_the_hour) == (42, -0.4, True)
    assert value.hour == datetime(2024, 3, 1, 4, tzinfo=UTC)  # the hour that ended at 05:00
    sub_hourly = parse_latest({**item, "datetime": {"utc": "2024-03-01T05:20:00Z"}})
    assert sub_hourly is not None
    assert not sub_hourly.on_the_hour
    assert parse_latest({**item, "sensorsId": None}) is None
    assert parse_latest({**item, "datetime": {"utc": "yesterday"}}) is None
    assert parse_latest("nope") is None


@pytest.mark.integration
def test_the_mage_block_path_runs_the_steady_state(pg_url: str, server: FakeServer) -> None:
    from hourcast.ingestion.pipeline import run_openaq, summary_frame
    from hourcast.pipeline_variables import OpenAQIngestVariables
    from hourcast.settings import Settings
    from hourcast.storage.db import create_db_engine, upgrade

    engine = create_db_engine(pg_url)
    upgrade(engine)
    engine.dispose()
    _at(server.url, NOW)
    sensors = f"{FIRST_FLEET_SENSOR_ID},{FIRST_FLEET_SENSOR_ID + 1}"
    variables = OpenAQIngestVariables.parse(
        {"parameters": "pm25", "sensors": sensors, "mode": "latest", "gap_budget": 0}
    )
    settings = Settings(database_url=pg_url, openaq_base_url=server.url)
    outcome = run_openaq(
        settings=settings,
        selection=variables.selection(),
        mode=variables.mode,
        gap_budget=variables.gap_budget,
    )
    summary = summary_frame(outcome)
    assert outcome.status == "succeeded"
    assert summary.loc[summary.series_id == "openaq:latest", "inserted"].item() == 2
    assert set(_stats(server.url)["by_path"]) >= {"/v3/parameters/2/latest"}


def test_the_sensors_are_chosen_in_settings_and_a_bad_choice_names_the_setting() -> None:
    from hourcast.ingestion.openaq_sensors import selection_from_settings
    from hourcast.settings import Settings

    by_country = selection_from_settings(Settings(openaq_iso="US", openaq_parameters="pm25,O3"))
    assert (by_country.iso, by_country.parameters) == ("US", ("pm25", "o3"))
    boxed = selection_from_settings(Settings(openaq_bbox="-125,30,-100,45"))
    assert boxed.bbox == (-125.0, 30.0, -100.0, 45.0)
    world = selection_from_settings(Settings())
    assert world.search_parameters() == ("pm25",)  # the default: every PM2.5 station
    with pytest.raises(ValueError, match=r"^HOURCAST_OPENAQ_LOCATIONS: give location ids"):
        selection_from_settings(Settings(openaq_parameters=""))
    with pytest.raises(ValueError, match=r"^HOURCAST_OPENAQ_LOCATIONS: ids cannot"):
        selection_from_settings(Settings(openaq_locations="847", openaq_iso="US"))
