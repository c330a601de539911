"""OpenAQ ingestion against the fake OpenAQ v3 server over real HTTP, into real PostgreSQL.

Checks are made against what the fake serves (its dataset), and request counts against what
the fake counted (``/_admin/stats``), never against the ingestion's own report alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hourcast.ingestion.openaq import ingest_openaq_sensors
from hourcast.ingestion.openaq_sensors import OpenAQSelection, SensorTarget
from hourcast.sources.openaq import OpenAQClient
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.ingestion_state import get_run, get_watermark, list_runs
from hourcast.storage.observations import load_observations
from hourcast_dev.openaq_fake import (
    BEIJING_LOCATION_ID,
    BEIJING_SENSOR_ID,
    DATA_DIR,
    FakeServer,
    create_app,
    load_dataset,
)
from tests.conftest import ROOT

BEIJING = f"openaq:{BEIJING_SENSOR_ID}"
LONG_BEACH_LOCATION, LONG_BEACH_SENSOR = 847, 1502
END = datetime(2014, 10, 8, 16, tzinfo=UTC)  # just after the fake's last Beijing hour


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(create_app()) as running:
        yield running


@pytest.fixture
def url(server: FakeServer) -> str:
    httpx.post(f"{server.url}/_admin/reset").raise_for_status()
    return server.url


def _client(url: str, **options: Any) -> OpenAQClient:
    return OpenAQClient(url, backoff_base=0.01, backoff_max=0.05, timeout=10.0, **options)


def _ingest(
    engine: sa.Engine, url: str, *locations: int, client_options: dict | None = None, **kw: Any
) -> Any:
    selection = OpenAQSelection(locations=locations, parameters=("pm25",))
    with _client(url, **(client_options or {})) as client:
        return ingest_openaq_sensors(engine, client=client, selection=selection, **kw)


def _fault(url: str, **spec: Any) -> None:
    httpx.post(f"{url}/_admin/faults", json=spec).raise_for_status()


def _stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/_admin/stats").json()


def _served(sensor_id: int, start: datetime, end: datetime, data_dir: Path = DATA_DIR) -> dict:
    """Hour → value that the fake serves for a sensor in ``[start, end)``."""
    series = load_dataset(data_dir).series[sensor_id]
    lo, hi = series.window(int(start.timestamp()), int(end.timestamp()))
    records = (series.record(i) for i in range(lo, hi))
    return {r["period"]["datetimeFrom"]["utc"]: r["value"] for r in records}


def _stored(engine: sa.Engine, series_id: str) -> dict:
    frame = load_observations(engine, series_id=series_id)
    return {
        ts.strftime("%Y-%m-%dT%H:%M:%SZ"): value
        for ts, value in zip(frame.ts, frame.value, strict=True)
    }


_DATA_TABLES = {
    "series": "series_id, source, location, sensor, parameter, units, latitude, longitude, "
    "timezone, created_at",
    "observations": "series_id, ts, value, covariates, ingested_at, updated_at",
    "ingestion_watermarks": "series_id, last_ts, history_start, updated_at",
    "source_objects": "source, key, etag, size, rows, detail, ingested_at",
}


def _checksums(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    """Row count and content hash of every data table (timestamps included)."""
    out = {}
    with engine.connect() as connection:
        for table, columns in _DATA_TABLES.items():
            rows = connection.execute(sa.text(f"SELECT {columns} FROM {table} ORDER BY 1, 2"))
            text = "\n".join(repr(tuple(row)) for row in rows)
            out[table] = (text.count("\n") + bool(text), hashlib.sha256(text.encode()).hexdigest())
    return out


# -- request counts ------------------------------------------------------------------------


@pytest.mark.integration
def test_backfill_and_steady_state_request_counts(engine: sa.Engine, url: str) -> None:
    start = END - timedelta(days=365)
    backfill = _ingest(engine, url, BEIJING_LOCATION_ID, backfill_start=start, until=END)
    stats = _stats(url)
    assert backfill.status == "succeeded"
    assert stats["total"] <= 10, stats["by_path"]
    assert stats["by_path"] == {
        f"/v3/locations/{BEIJING_LOCATION_ID}": 1,
        f"/v3/sensors/{BEIJING_SENSOR_ID}/hours": 9,
    }
    assert _stored(engine, BEIJING) == _served(BEIJING_SENSOR_ID, start, END)
    with engine.connect() as connection:
        registered = connection.execute(
            sa.text(
                "SELECT source, location, sensor, parameter, units, latitude, longitude, timezone"
                " FROM series WHERE series_id = :s"
            ),
            {"s": BEIJING},
        ).one()
    assert tuple(registered) == (
        "openaq",
        f"Beijing US Embassy (OpenAQ location {BEIJING_LOCATION_ID})",
        str(BEIJING_SENSOR_ID),
        "pm25",
        "µg/m³",
        39.954,
        116.468,
        "Asia/Shanghai",
    )

    httpx.post(f"{url}/_admin/reset").raise_for_status()
    steady = _ingest(
        engine, url, BEIJING_LOCATION_ID, backfill_start=start, until=END + timedelta(hours=1)
    )
    stats = _stats(url)
    assert steady.status == "succeeded"
    assert stats["by_path"] == {f"/v3/sensors/{BEIJING_SENSOR_ID}/hours": 1}
    # Only the overlap was re-read: watermark 15:00 minus 3 h.
    assert steady.series[0].windows == [
        (datetime(2014, 10, 8, 12, tzinfo=UTC), END + timedelta(hours=1))
    ]
    assert (steady.inserted, steady.updated, steady.series[0].unchanged) == (0, 0, 4)


# -- idempotency -------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_running_twice_leaves_identical_tables(
    dialect: str, url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = request.getfixturevalue("pg_url") if dialect == "postgresql" else None
    engine = create_db_engine(store or f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    window = {"backfill_start": datetime(2014, 7, 1, tzinfo=UTC), "until": END}
    first = _ingest(engine, url, BEIJING_LOCATION_ID, LONG_BEACH_LOCATION, **window)
    before = _checksums(engine)
    second = _ingest(engine, url, BEIJING_LOCATION_ID, LONG_BEACH_LOCATION, **window)
    after = _checksums(engine)
    engine.dispose()

    assert first.status == second.status == "succeeded"
    assert first.inserted == before["observations"][0] > 2000
    assert (second.inserted, second.updated) == (0, 0)
    assert after == before


# -- late data ---------------------------------------------------------------------------------


def _fixture_copy(tmp: Path, edit: Any) -> Path:
    """A data dir for the fake: the real Beijing data, and sensor 1502's page edited."""
    (tmp / "openaq").mkdir(parents=True)
    (tmp / "beijing_pm25").symlink_to(DATA_DIR / "beijing_pm25")
    shutil.copy(DATA_DIR / "openaq/sensor_3917_hours.json", tmp / "openaq")
    page = json.loads((DATA_DIR / "openaq/sensor_1502_hours.json").read_text(encoding="utf-8"))
    page["results"] = edit(page["results"])
    (tmp / "openaq/sensor_1502_hours.json").write_text(json.dumps(page), encoding="utf-8")
    return tmp


@pytest.mark.integration
def test_late_and_corrected_hours_inside_the_overlap_are_upserted(
    engine: sa.Engine, tmp_path: Path
) -> None:
    # Records are sorted by hour in the recording; the last one is the newest hour.
    def early(records: list) -> list:
        records[5]["value"] = None  # an hour reported without a value: stored as null
        return records[:-2] + records[-1:]  # the second-newest hour has not arrived yet

    def late(records: list) -> list:
        records[-1]["value"] += 5.0  # corrected at the source, inside the 3-hour overlap
        records[-10]["value"] += 5.0  # corrected, but outside the overlap: not re-read
        return records

    window = {
        "backfill_start": datetime(2016, 10, 1, tzinfo=UTC),
        "until": datetime(2017, 6, 1, tzinfo=UTC),
    }
    with FakeServer(create_app(data_dir=_fixture_copy(tmp_path / "a", early))) as fake:
        first = _ingest(engine, fake.url, LONG_BEACH_LOCATION, **window)
    stored_first = _stored(engine, "openaq:1502")
    with FakeServer(create_app(data_dir=_fixture_copy(tmp_path / "b", late))) as fake:
        second = _ingest(engine, fake.url, LONG_BEACH_LOCATION, **window)
    stored = _stored(engine, "openaq:1502")
    served = _served(1502, window["backfill_start"], window["until"], tmp_path / "b")

    assert (second.inserted, second.updated) == (1, 1)
    assert len(stored) == len(stored_first) + 1
    hours = sorted(served)
    assert math.isnan(stored_first[hours[5]])
    assert first.rejected == 0  # the four small negative means are noise near zero: kept
    negatives = {h for h, v in served.items() if v is not None and v < 0}
    assert len(negatives) == 4
    assert {h for h in negatives if h in stored_first} == negatives - {hours[-2]}
    assert stored[hours[-1]] == served[hours[-1]] == stored_first[hours[-1]] + 5.0
    assert stored[hours[-2]] == served[hours[-2]]  # the late hour arrived
    assert stored[hours[-10]] == served[hours[-10]] - 5.0  # outside the overlap, as first stored
    assert first.status == second.status == "succeeded"


# -- history extension -------------------------------------------------------------------------


@pytest.mark.integration
def test_an_earlier_backfill_start_loads_only_the_missing_history(
    engine: sa.Engine, url: str
) -> None:
    until = datetime(2014, 10, 1, tzinfo=UTC)
    _ingest(
        engine,
        url,
        BEIJING_LOCATION_ID,
        backfill_start=datetime(2014, 9, 1, tzinfo=UTC),
        until=until,
    )
    earlier = datetime(2014, 8, 1, tzinfo=UTC)
    again = _ingest(engine, url, BEIJING_LOCATION_ID, backfill_start=earlier, until=until)
    mark = get_watermark(engine, series_id=BEIJING)

    assert again.series[0].windows[0] == (earlier, datetime(2014, 9, 1, tzinfo=UTC))
    assert again.series[0].windows[1][0] > datetime(2014, 9, 30, tzinfo=UTC)
    assert _stored(engine, BEIJING) == _served(BEIJING_SENSOR_ID, earlier, until)
    assert mark is not None
    assert mark.history_start == earlier


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_sensor_that_keeps_failing_is_logged_and_the_others_load(
    engine: sa.Engine, url: str
) -> None:
    _fault(url, sensor_id=LONG_BEACH_SENSOR, status=500, detail="sensor down")
    window = {"backfill_start": datetime(2014, 9, 1, tzinfo=UTC), "until": END}
    outcome = _ingest(
        engine,
        url,
        LONG_BEACH_LOCATION,
        BEIJING_LOCATION_ID,
        client_options={"max_retries": 2},
        **window,
    )
    run = get_run(engine, run_id=outcome.run_id)
    stats = _stats(url)

    assert outcome.status == run.status == "partial"
    assert "500" in run.details["series"]["openaq:1502"]["error"]
    assert "sensor down" in run.details["series"]["openaq:1502"]["error"]
    assert run.details["series"][BEIJING]["error"] is None
    assert stats["by_sensor"][str(LONG_BEACH_SENSOR)] == 3  # bounded: 1 try + 2 retries
    assert _stored(engine, "openaq:1502") == {}
    assert _stored(engine, BEIJING) == _served(BEIJING_SENSOR_ID, window["backfill_start"], END)
    assert run.rows_inserted == len(_stored(engine, BEIJING))

    # Once the sensor recovers, its first successful run is its backfill.
    httpx.post(f"{url}/_admin/reset").raise_for_status()
    recovered = _ingest(engine, url, LONG_BEACH_LOCATION, BEIJING_LOCATION_ID, **window)
    assert recovered.status == "succeeded"
    assert recovered.series[0].windows[0][0] == window["backfill_start"]


@pytest.mark.integration
def test_malformed_records_are_rejected_counted_and_never_stored(
    engine: sa.Engine, url: str
) -> None:
    _fault(url, sensor_id=LONG_BEACH_SENSOR, malformed=True)  # every page of sensor 1502
    start, until = datetime(2016, 10, 1, tzinfo=UTC), datetime(2017, 6, 1, tzinfo=UTC)
    outcome = _ingest(
        engine, url, LONG_BEACH_LOCATION, backfill_start=start, until=until, page_limit=250
    )
    run = get_run(engine, run_id=outcome.run_id)
    rejections = run.details["series"]["openaq:1502"]["rejections"]

    served = _served(LONG_BEACH_SENSOR, start, until)
    hours = sorted(served)
    # The fake breaks records 1, 3, 5, 7 of each page; record 7 repeats record 6's hour.
    broken = {hours[page + i] for page in range(0, len(hours), 250) for i in (1, 3, 5, 7)}
    expected = {h: v for h, v in served.items() if h not in broken}
    # The recorded page holds four small negative means (instrument noise near zero): kept.
    negative = sorted(v for h, v in expected.items() if v < 0)
    assert negative == [-1.1, -1.1, -0.6, -0.3]

    assert outcome.status == "succeeded"  # rejections do not stop a run
    assert rejections == {
        "bad timestamp": 4,
        "non-numeric value": 4,
        "unknown units": 4,
        "duplicate hour": 4,
    }
    assert run.rows_rejected == 16
    assert _stored(engine, "openaq:1502") == expected


@pytest.mark.integration
def test_near_zero_noise_is_kept_and_sentinels_are_rejected(
    engine: sa.Engine, url: str, tmp_path: Path
) -> None:
    start, until = datetime(2016, 10, 1, tzinfo=UTC), datetime(2017, 6, 1, tzinfo=UTC)
    served = _served(LONG_BEACH_SENSOR, start, until)
    sentinels = set(sorted(served)[10:13])

    def with_sentinels(results: list[dict]) -> list[dict]:
        for record in results:
            if record["period"]["datetime_from"]["utc"] in sentinels:
                record["value"] = -999.0
        return results

    data_dir = _fixture_copy(tmp_path, with_sentinels)
    with FakeServer(create_app(data_dir=data_dir)) as fake:
        outcome = _ingest(engine, fake.url, LONG_BEACH_LOCATION, backfill_start=start, until=until)
    stored = _stored(engine, "openaq:1502")
    assert outcome.series[0].rejections == {"implausible value": 3}
    assert set(stored) == set(served) - set(sentinels)
    assert sum(1 for v in stored.values() if v < 0) == 4


@pytest.mark.integration
def test_an_unknown_location_is_skipped_and_the_others_load(engine: sa.Engine, url: str) -> None:
    start = END - timedelta(days=2)
    outcome = _ingest(engine, url, 123456789, BEIJING_LOCATION_ID, backfill_start=start, until=END)
    run = get_run(engine, run_id=outcome.run_id)
    assert run.status == "succeeded"
    assert any("location 123456789" in note and "404" in note for note in outcome.notes)
    assert _stored(engine, BEIJING) == _served(BEIJING_SENSOR_ID, start, END)

    only_unknown = _ingest(engine, url, 123456789, backfill_start=start, until=END)
    run = get_run(engine, run_id=only_unknown.run_id)
    assert run.status == "failed"
    assert "404" in run.details["error"]


def test_selection_requires_and_checks_a_location_filter() -> None:
    with pytest.raises(ValueError, match=r"^locations: give"):
        OpenAQSelection()
    with pytest.raises(ValueError, match=r"^coordinates:"):
        OpenAQSelection(coordinates=(39.9, 116.4))
    with pytest.raises(ValueError, match=r"^locations: ids cannot"):
        OpenAQSelection(locations=(1,), iso="CN")
    target = SensorTarget(5, 6, "Somewhere", "PM25", "µg/m³", "UTC")
    assert OpenAQSelection(locations=(6,), parameters=("pm25",)).keeps(target)
    assert not OpenAQSelection(locations=(6,), parameters=("o3",)).keeps(target)
    assert not OpenAQSelection(locations=(6,), sensors=(7,)).keeps(target)


# -- the CLI, killed midway --------------------------------------------------------------------


def _ingest_command() -> list[str]:
    """The ``hourcast ingest`` console script of the running interpreter's environment."""
    return [str(Path(sys.executable).parent / "hourcast"), "ingest"]


def _count(engine: sa.Engine, series_id: str) -> int:
    with engine.connect() as connection:
        query = sa.text("SELECT count(*) FROM observations WHERE series_id = :s")
        return int(connection.execute(query, {"s": series_id}).scalar_one())


@pytest.mark.integration
@pytest.mark.slow
def test_killed_backfill_resumes_with_no_gap_and_no_duplicate(
    engine: sa.Engine, pg_url: str, url: str, tmp_path: Path
) -> None:
    start, until = "2012-01-01T00:00:00Z", "2014-01-01T00:00:00Z"
    served = _served(
        BEIJING_SENSOR_ID, datetime(2012, 1, 1, tzinfo=UTC), datetime(2014, 1, 1, tzinfo=UTC)
    )
    command = [
        *_ingest_command(),
        "openaq",
        "--location",
        str(BEIJING_LOCATION_ID),
        "--parameter",
        "pm25",
        "--backfill-start",
        start,
        "--until",
        until,
        "--base-url",
        url,
    ]
    env = {**os.environ, "HOURCAST_DATABASE_URL": pg_url, "HOURCAST_HOME": str(tmp_path)}
    _fault(url, sensor_id=BEIJING_SENSOR_ID, delay_s=0.25)  # every page takes 0.25 s or more
    log = (tmp_path / "killed.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while _count(engine, BEIJING) < 2000 and process.poll() is None:
        assert time.monotonic() < deadline, "the ingestion stored nothing in 60 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    stored_when_killed = _count(engine, BEIJING)
    killed_run = list_runs(engine, source="openaq")[0]

    assert process.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()
    assert 2000 <= stored_when_killed < len(served)
    assert killed_run.status == "running"
    assert killed_run.finished_at is None
    mark = get_watermark(engine, series_id=BEIJING)
    assert mark is not None
    # Nothing past the watermark, nothing missing before it: pages are committed whole.
    stored = _stored(engine, BEIJING)
    assert max(stored) == mark.last_ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert stored == {h: v for h, v in served.items() if h <= max(stored)}

    httpx.post(f"{url}/_admin/reset").raise_for_status()
    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "succeeded" in rerun.stdout
    assert _stored(engine, BEIJING) == served
    assert _count(engine, BEIJING) == len(served)
    resumed = list_runs(engine, source="openaq")[0]
    window_start = resumed.details["series"][BEIJING]["windows"][0][0]
    assert datetime.fromisoformat(window_start) == mark.last_ts - timedelta(hours=3)


@pytest.mark.integration
def test_cli_exit_codes(url: str, pg_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "HOURCAST_DATABASE_URL": pg_url, "HOURCAST_HOME": str(tmp_path)}
    base = [*_ingest_command(), "openaq", "--base-url", url]

    bad = subprocess.run(
        [*base, "--location", "1", "--backfill-start", "yesterday"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "--backfill-start" in bad.stderr
    assert "ISO-8601" in bad.stderr
    assert "Traceback" not in bad.stderr

    missing = subprocess.run(
        [*base, "--location", "123456789", "--until", "2014-10-01"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "failed" in missing.stdout
    assert "404" in missing.stdout
