"""Traffic ingestion: content-hash and ETag memory, appends, partial runs, a killed run resumed.

S3 is a real moto server; the store is real PostgreSQL. Expected hours come from converting
the same CSV rows in one piece, so per-object conversion is checked against it too.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import sqlalchemy as sa

from hourcast.ingestion.outcome import IngestionError
from hourcast.ingestion.traffic import ingest_traffic, ingest_traffic_objects, list_traffic_objects
from hourcast.series import TRAFFIC_I94
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings
from hourcast.sources.traffic import read_traffic_csv, to_hourly_utc
from hourcast.storage.ingestion_state import get_run, list_runs
from hourcast.storage.observations import load_observations
from tests.conftest import AWS_ENV, ROOT

SERIES = TRAFFIC_I94.series_id


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """Bundled rows of 2016 and 2017 (local time), as the CSV has them."""
    frame = pd.read_csv(BUNDLED_TRAFFIC_CSV)
    return frame[frame.date_time.str[:4].isin(["2016", "2017"])].reset_index(drop=True)


@pytest.fixture
def s3(moto_endpoint: str, request: pytest.FixtureRequest) -> Any:
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=_bucket(request))
    return client


def _bucket(request: pytest.FixtureRequest) -> str:
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    return f"traffic-{digest}"


class _CountingS3:
    """A boto3 client that records which objects were downloaded."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.gets: list[str] = []

    def get_object(self, **kwargs: Any) -> Any:
        self.gets.append(kwargs["Key"])
        return self._client.get_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _csv(rows: pd.DataFrame) -> bytes:
    return rows.to_csv(index=False).encode()


def _expected(rows: pd.DataFrame) -> dict[str, float]:
    frame = to_hourly_utc(read_traffic_csv(io.BytesIO(_csv(rows)))).frame
    return {ts.isoformat(): value for ts, value in zip(frame.ts, frame.value, strict=True)}


def _stored(engine: sa.Engine) -> dict[str, float]:
    frame = load_observations(engine, series_id=SERIES)
    return {ts.isoformat(): value for ts, value in zip(frame.ts, frame.value, strict=True)}


def _checksums(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    tables = {
        "series": "series_id, source, location, parameter, units, timezone, created_at",
        "observations": "series_id, ts, value, covariates, ingested_at, updated_at",
        "ingestion_watermarks": "series_id, last_ts, history_start, updated_at",
        "source_objects": "source, key, etag, size, rows, ingested_at",
    }
    out = {}
    with engine.connect() as connection:
        for table, columns in tables.items():
            rows = [
                repr(tuple(r))
                for r in connection.execute(sa.text(f"SELECT {columns} FROM {table} ORDER BY 1, 2"))
            ]
            out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


def _ingest(engine: sa.Engine, source: str, s3: Any = None) -> Any:
    outcome, _rows = ingest_traffic_objects(engine, source=source, spec=TRAFFIC_I94, s3=s3)
    return outcome


def _statuses(outcome: Any) -> dict[str, str]:
    return {item.key: item.status for item in outcome.objects}


# -- local CSV -----------------------------------------------------------------------------------


@pytest.mark.integration
def test_local_csv_is_read_once_per_content(
    engine: sa.Engine, raw: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "traffic.csv"
    rows = raw.iloc[:3000].copy()
    path.write_bytes(_csv(rows))
    settings = Settings(home=tmp_path)

    first = ingest_traffic(engine, settings=settings, source=str(path))
    before = _checksums(engine)
    second = ingest_traffic(engine, settings=settings, source=str(path))

    assert (first.objects_read, first.upsert.inserted) == (1, len(_expected(rows)))
    assert (second.objects_read, second.objects_skipped, second.source_rows) == (0, 1, 0)
    assert (second.upsert.inserted, second.upsert.updated) == (0, 0)
    assert _checksums(engine) == before
    assert _stored(engine) == _expected(rows)

    # A changed file is read again; only the changed hour is rewritten.
    rows.loc[10, "traffic_volume"] += 1
    path.write_bytes(_csv(rows))
    third = ingest_traffic(engine, settings=settings, source=str(path))
    assert (third.objects_read, third.upsert.inserted, third.upsert.updated) == (1, 0, 1)
    assert _stored(engine) == _expected(rows)
    runs = list_runs(engine, source="traffic")
    assert [r.status for r in runs] == ["succeeded"] * 3
    assert [r.rows_inserted for r in runs] == [0, 0, len(_expected(rows))]


@pytest.mark.integration
def test_a_missing_source_fails_the_run_and_raises(engine: sa.Engine, tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match="No such file") as raised:
        ingest_traffic(engine, settings=Settings(home=tmp_path), source=str(tmp_path / "nope.csv"))
    run = get_run(engine, run_id=raised.value.outcome.run_id)
    assert run.status == "failed"
    assert "nope.csv" in run.details["error"]


# -- S3 objects ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_s3_etag_memory_changed_objects_and_appends(
    engine: sa.Engine, raw: pd.DataFrame, s3: Any, request: pytest.FixtureRequest
) -> None:
    bucket = _bucket(request)
    source = f"s3://{bucket}/metro/traffic"
    years = {y: raw[raw.date_time.str[:4] == y].copy() for y in ("2016", "2017")}
    for year, rows in years.items():
        s3.put_object(Bucket=bucket, Key=f"metro/traffic_{year}.csv", Body=_csv(rows))
    for decoy in ("metro/traffic_2017.csv.bak", "metro/traffic_notes.csv", "metro/other_2017.csv"):
        s3.put_object(Bucket=bucket, Key=decoy, Body=b"not traffic")
    counting = _CountingS3(s3)

    first = _ingest(engine, source, counting)
    assert counting.gets == ["metro/traffic_2016.csv", "metro/traffic_2017.csv"]
    assert first.status == "succeeded"
    assert _stored(engine) == _expected(raw)
    before = _checksums(engine)

    # Unchanged objects: listed, not downloaded; the tables do not change.
    counting.gets.clear()
    second = _ingest(engine, source, counting)
    assert counting.gets == []
    assert set(_statuses(second).values()) == {"skipped"}
    assert _checksums(engine) == before

    # A changed object is read again: one corrected hour is updated, nothing inserted.
    years["2017"].iloc[100, years["2017"].columns.get_loc("traffic_volume")] += 7
    s3.put_object(Bucket=bucket, Key="metro/traffic_2017.csv", Body=_csv(years["2017"]))
    third = _ingest(engine, source, counting)
    assert counting.gets == ["metro/traffic_2017.csv"]
    assert (third.inserted, third.updated) == (0, 1)

    # A small append object with one new hour is read once, weather and holiday kept.
    hour = (
        years["2017"]
        .iloc[[-1]]
        .assign(date_time="2018-01-01 00:00:00", traffic_volume=1234, holiday="New Years Day")
    )
    s3.put_object(Bucket=bucket, Key="metro/traffic_2018_20180101T0000.csv", Body=_csv(hour))
    counting.gets.clear()
    fourth = _ingest(engine, source, counting)
    fifth = _ingest(engine, source, counting)
    assert counting.gets == ["metro/traffic_2018_20180101T0000.csv"]
    assert (fourth.inserted, fifth.inserted) == (1, 0)
    stored = load_observations(engine, series_id=SERIES, with_covariates=True).iloc[-1]
    assert stored.ts == pd.Timestamp("2018-01-01 06:00", tz="UTC")  # CST is UTC-6
    assert stored.value == 1234
    assert stored.covariates["holiday"] == "New Years Day"
    assert stored.covariates["weather_main"] == hour.weather_main.iloc[0]
    assert _stored(engine) == _expected(pd.concat([years["2016"], years["2017"], hour]))


@pytest.mark.integration
def test_an_unreadable_object_makes_the_run_partial_and_is_retried(
    engine: sa.Engine, raw: pd.DataFrame, s3: Any, request: pytest.FixtureRequest
) -> None:
    bucket = _bucket(request)
    rows = raw[raw.date_time.str[:4] == "2016"]
    s3.put_object(Bucket=bucket, Key="metro/traffic_2016.csv", Body=_csv(rows))
    s3.put_object(Bucket=bucket, Key="metro/traffic_2017.csv", Body=b"date,volume\n1,2\n")
    source = f"s3://{bucket}/metro/traffic"

    first = _ingest(engine, source, s3)
    run = get_run(engine, run_id=first.run_id)
    assert run.status == "partial"
    assert "lacks columns" in run.details["objects"]["metro/traffic_2017.csv"]["error"]
    assert _stored(engine) == _expected(rows)

    counting = _CountingS3(s3)
    again = _ingest(engine, source, counting)
    assert counting.gets == ["metro/traffic_2017.csv"]  # not remembered, so read again
    assert again.status == "partial"


def test_object_names_yearly_then_appends() -> None:
    class _Listing:
        def get_paginator(self, _name: str) -> Any:
            return self

        def paginate(self, **_kwargs: Any) -> list[dict]:
            keys = [
                "p/t_2017_b.csv",
                "p/t_2017.csv",
                "p/t_2016.csv",
                "p/t_2017_a-1.csv",
                "p/t_2017_.csv",
                "p/t_2017_x y.csv",
                "p/t_17.csv",
                "p/t_2017.csv.gz",
            ]
            return [{"Contents": [{"Key": k, "ETag": '"e"', "Size": 1} for k in keys]}]

    found = list_traffic_objects(_Listing(), bucket="b", prefix="p/t")
    assert [o.key for o in found] == [
        "p/t_2016.csv",
        "p/t_2017.csv",
        "p/t_2017_a-1.csv",
        "p/t_2017_b.csv",
    ]
    assert found[0].memory_key == "s3://b/p/t_2016.csv"


# -- killed midway -------------------------------------------------------------------------------


def _ingest_command() -> list[str]:
    return [str(Path(sys.executable).parent / "hourcast"), "ingest"]


def _remembered(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        query = sa.text("SELECT count(*) FROM source_objects WHERE source = 'traffic'")
        return int(connection.execute(query).scalar_one())


@pytest.mark.integration
@pytest.mark.slow
def test_killed_s3_ingestion_resumes_with_no_gap_and_no_duplicate(
    engine: sa.Engine, raw: pd.DataFrame, s3: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bucket = _bucket(request)
    local = pd.to_datetime(raw.date_time)
    weeks = raw.groupby([local.dt.year, local.dt.dayofyear // 7])
    for (year, week), rows in weeks:
        key = f"weekly/traffic_{year}_w{week:02d}.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=_csv(rows))
    total = weeks.ngroups
    env = {
        **os.environ,
        **AWS_ENV,
        "HOURCAST_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "HOURCAST_HOME": str(tmp_path),
        "HOURCAST_AWS_ENDPOINT_URL": s3.meta.endpoint_url,
    }
    command = [*_ingest_command(), "traffic", "--source", f"s3://{bucket}/weekly/traffic"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while _remembered(engine) < 5 and process.poll() is None:
        assert time.monotonic() < deadline, "no object stored in 60 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    remembered = _remembered(engine)

    assert process.returncode == -signal.SIGKILL
    assert 5 <= remembered < total
    assert list_runs(engine, source="traffic")[0].status == "running"

    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    resumed = list_runs(engine, source="traffic")[0]
    statuses = [o["status"] for o in resumed.details["objects"].values()]
    assert statuses.count("skipped") == remembered  # what was stored is not read again
    assert statuses.count("read") == total - remembered
    assert _remembered(engine) == total
    assert _stored(engine) == _expected(raw)
