"""The Mage pipelines: the ingestion helpers, the triggers, and `mage run` headless."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psycopg2
import pytest
import sqlalchemy as sa
import yaml

from hourcast.ingestion.outcome import RunOutcome, SeriesOutcome
from hourcast.ingestion.pipeline import quality_issues, summary_frame
from hourcast.settings import BUNDLED_TRAFFIC_CSV
from hourcast.sources.traffic import read_traffic_csv, to_hourly_utc
from hourcast.storage.db import head_revision
from hourcast_dev.openaq_fake import (
    BEIJING_LOCATION_ID,
    BEIJING_SENSOR_ID,
    FakeServer,
    create_app,
    load_dataset,
)
from tests.conftest import ROOT, MlflowServer

PIPELINES = ROOT / "orchestration" / "pipelines"


# -- helpers the blocks call ------------------------------------------------------------------


def test_summary_frame_and_quality_issues() -> None:
    series = SeriesOutcome("openaq:1", "pm25", "µg/m³", inserted=3)
    series.saw(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 2, tzinfo=UTC))
    summary = summary_frame(RunOutcome("run-1", "openaq", "succeeded", [series]))
    assert summary.loc[0, ["run_id", "status", "series_id", "inserted"]].tolist() == [
        "run-1",
        "succeeded",
        "openaq:1",
        3,
    ]
    assert str(summary["first_ts"].dtype) == "datetime64[ns, UTC]"
    failed = summary_frame(RunOutcome("run-2", "openaq", "failed", error="no sensor"))
    assert failed.loc[0, ["status", "error"]].tolist() == ["failed", "no sensor"]

    stored = pd.DataFrame(
        {
            "series_id": ["openaq:1"] * 3,
            "parameter": ["pm25"] * 3,
            "units": ["µg/m³"] * 3,
            "ts": pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"),
            "value": [-1.1, 1200.0, None],
        }
    )
    # -1.1 is noise near zero (kept); the range the check reports includes that noise.
    assert quality_issues(stored) == ["openaq:1: range: 1 pm25 value(s) outside -5–1000 µg/m³"]
    assert quality_issues(stored.iloc[[0]]) == []


@pytest.mark.parametrize(
    ("pipeline", "variables"),
    [
        ("ingest_openaq", {"locations", "sensors", "parameters", "backfill_start", "until"}),
        ("ingest_traffic", {"source"}),
    ],
)
def test_pipelines_are_hourly_and_never_overlap(pipeline: str, variables: set[str]) -> None:
    triggers = yaml.safe_load((PIPELINES / pipeline / "triggers.yaml").read_text())["triggers"]
    metadata = yaml.safe_load((PIPELINES / pipeline / "metadata.yaml").read_text())
    assert [t["schedule_interval"] for t in triggers] == ["@hourly"]
    assert triggers[0]["status"] == "active"
    assert triggers[0]["settings"]["skip_if_previous_running"] is True
    assert metadata["uuid"] == pipeline
    assert variables <= set(metadata["variables"])
    for block in metadata["blocks"]:
        folder = {"data_loader": "data_loaders", "transformer": "transformers"}[block["type"]]
        source = (ROOT / "orchestration" / folder / f"{block['uuid']}.py").read_text()
        assert "@test" in source  # every block checks its output


BLOCK_FOLDERS = {
    "data_loader": "data_loaders",
    "transformer": "transformers",
    "data_exporter": "data_exporters",
}


@pytest.mark.parametrize(
    "pipeline", sorted(p.parent.name for p in PIPELINES.glob("*/metadata.yaml"))
)
def test_migrations_run_once_in_the_first_block(pipeline: str) -> None:
    blocks = yaml.safe_load((PIPELINES / pipeline / "metadata.yaml").read_text())["blocks"]
    upstream = {block["uuid"]: set(block["upstream_blocks"]) for block in blocks}
    types = {block["uuid"]: block["type"] for block in blocks}
    assert [uuid for uuid, parents in upstream.items() if not parents] == ["migrate_store"]

    def ancestors(uuid: str) -> set[str]:
        return upstream[uuid].union(*(ancestors(parent) for parent in upstream[uuid]))

    for uuid in upstream.keys() - {"migrate_store"}:
        assert "migrate_store" in ancestors(uuid), uuid
        source = (ROOT / "orchestration" / BLOCK_FOLDERS[types[uuid]] / f"{uuid}.py").read_text()
        assert "upgrade" not in source, f"{uuid} migrates too"


# -- `mage run`, headless, against PostgreSQL ----------------------------------------------------


@pytest.fixture(scope="module")
def fake_openaq() -> Iterator[str]:
    with FakeServer(create_app()) as server:
        yield server.url


def _mage_run(mage_python: Path, pipeline: str, variables: dict, env: dict) -> str:
    command = [
        str(mage_python.parent / "mage"),
        "run",
        "orchestration",
        pipeline,
        "--runtime-vars",
        json.dumps(variables),
        "--test",  # run the blocks' @test functions too
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{output[-4000:]}"
    assert "Failed to pass tests" not in output
    return output


def _scalar(url: str, query: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


def _env(pg_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOURCAST_DATABASE_URL": pg_url,
        "HOURCAST_HOME": str(tmp_path / "home"),
        "MAGE_DATA_DIR": str(tmp_path / "mage_data"),
        **extra,
    }


@pytest.mark.integration
@pytest.mark.slow
def test_mage_ingest_openaq(
    mage_python: Path, pg_url: str, fake_openaq: str, tmp_path: Path
) -> None:
    variables = {
        "locations": [BEIJING_LOCATION_ID],
        "parameters": ["pm25"],
        "backfill_start": "2014-09-01T00:00:00Z",
        "until": "2014-10-01T00:00:00Z",
    }
    env = _env(pg_url, tmp_path, HOURCAST_OPENAQ_BASE_URL=fake_openaq)
    output = _mage_run(mage_python, "ingest_openaq", variables, env)

    series = load_dataset().series[BEIJING_SENSOR_ID]
    lo, hi = series.window(
        int(datetime(2014, 9, 1, tzinfo=UTC).timestamp()),
        int(datetime(2014, 10, 1, tzinfo=UTC).timestamp()),
    )
    stored = _scalar(
        pg_url, f"SELECT count(*) FROM observations WHERE series_id = 'openaq:{BEIJING_SENSOR_ID}'"
    )
    assert stored == hi - lo > 600
    assert _scalar(pg_url, "SELECT status FROM ingestion_runs WHERE source = 'openaq'") == (
        "succeeded"
    )
    assert "4/4 tests passed" in output  # the quality checks of check_openaq_hours


@pytest.mark.integration
@pytest.mark.slow
def test_mage_ingest_traffic(mage_python: Path, pg_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "traffic.csv"
    lines = BUNDLED_TRAFFIC_CSV.read_text().splitlines()[:1500]
    csv.write_text("\n".join(lines) + "\n")
    hours = len(to_hourly_utc(read_traffic_csv(io.StringIO(csv.read_text()))).frame)

    output = _mage_run(mage_python, "ingest_traffic", {"source": str(csv)}, _env(pg_url, tmp_path))

    assert _scalar(pg_url, "SELECT count(*) FROM observations") == hours
    assert _scalar(pg_url, "SELECT status FROM ingestion_runs") == "succeeded"
    assert _scalar(pg_url, "SELECT count(*) FROM source_objects") == 1
    assert "4/4 tests passed" in output


@pytest.mark.integration
@pytest.mark.slow
def test_mage_train_pm25_on_ingested_openaq(
    mage_python: Path, pg_url: str, fake_openaq: str, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    env = _env(
        pg_url,
        tmp_path,
        HOURCAST_OPENAQ_BASE_URL=fake_openaq,
        HOURCAST_MLFLOW_TRACKING_URI=mlflow_server.tracking_uri,
        MLFLOW_S3_ENDPOINT_URL=mlflow_server.s3_endpoint,
    )
    ingest = {
        "locations": [BEIJING_LOCATION_ID],
        "parameters": ["pm25"],
        "backfill_start": "2014-05-01T00:00:00Z",
        "until": "2014-10-01T00:00:00Z",
    }
    _mage_run(mage_python, "ingest_openaq", ingest, env)
    variables = {"target": "pm25", "num_boost_round": 40, "holdout_days": 3}
    output = _mage_run(mage_python, "train", variables, env)
    assert "registered hourcast-pm25 v1 as @champion" in output
    with psycopg2.connect(_dsn(mlflow_server.backend_store_uri)) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT m.key FROM metrics m JOIN model_versions v ON v.run_id = m.run_uuid "
            "WHERE v.name = 'hourcast-pm25'"
        )
        logged = {row[0] for row in cursor.fetchall()}
    assert {"holdout_mae", "holdout_coverage_80", "holdout_coverage_95"} <= logged
    assert "holdout_seasonal_naive_24_mae" in logged


@pytest.mark.integration
@pytest.mark.slow
def test_mage_run_names_a_bad_variable(mage_python: Path, pg_url: str, tmp_path: Path) -> None:
    command = [
        str(mage_python.parent / "mage"),
        "run",
        "orchestration",
        "train",
        "--runtime-vars",
        json.dumps({"target": "nox", "holdout_days": 0}),
    ]
    env = _env(pg_url, tmp_path)
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    # Mage's console wraps long lines at its width; compare with the wrapping undone.
    flat = " ".join(output.split())
    assert "bad variable of pipeline train: target: unknown target 'nox'" in flat, output[-4000:]
    assert "holdout_days: Input should be greater than 0 (got 0)" in flat
    # The store was migrated by the first block, once; the bad variables stopped the next one.
    assert _scalar(pg_url, "SELECT version_num FROM alembic_version") == head_revision()


def _dsn(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
