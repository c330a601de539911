"""End to end: S3 → Postgres → Mage pipeline → MLflow (Postgres + S3) → API over HTTP.

Runs the real CLIs and servers as separate processes, like a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pandas as pd
import psycopg2
import pytest
import sqlalchemy as sa

from hourcast.settings import BUNDLED_TRAFFIC_CSV
from hourcast_dev import local_stack
from tests.conftest import AWS_ENV, ROOT, MlflowServer, signed_in_client

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

MODEL = "hourcast-traffic-volume"


def _run(command: list[str], env: dict[str, str], timeout: float = 900) -> str:
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def _psycopg2_dsn(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _upload_yearly_objects(endpoint: str, bucket: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=bucket)
    raw = pd.read_csv(BUNDLED_TRAFFIC_CSV)
    for year, part in raw.groupby(raw.date_time.str[:4]):
        s3.put_object(
            Bucket=bucket, Key=f"metro/traffic_{year}.csv", Body=part.to_csv(index=False).encode()
        )


# Two ingests, a Mage training run and an API start: minutes on a busy 2-core machine.
@pytest.mark.timeout(1500)
def test_pipeline_registers_and_api_serves(
    mlflow_server: MlflowServer,
    pg_url: str,
    mage_python: Path,
    run_dir: Path,
    tmp_path: Path,
) -> None:
    _upload_yearly_objects(mlflow_server.s3_endpoint, "hourcast-raw")
    env = {
        **os.environ,
        **AWS_ENV,
        "HOURCAST_HOME": str(tmp_path / "home"),
        "HOURCAST_DATABASE_URL": pg_url,
        "HOURCAST_MLFLOW_TRACKING_URI": mlflow_server.tracking_uri,
        "HOURCAST_AWS_ENDPOINT_URL": mlflow_server.s3_endpoint,
        "HOURCAST_TRAFFIC_SOURCE": "s3://hourcast-raw/metro/traffic",
        # Only traffic is trained here; /ready waits for every served model.
        "HOURCAST_API_MODELS": "traffic",
        "HOURCAST_API_MODEL_POLL_SECONDS": "1",  # a promotion is served without a restart
        "MAGE_DATA_DIR": str(tmp_path / "mage_data"),
    }
    hourcast = str(Path(sys.executable).parent / "hourcast")

    # Ingest from the yearly S3 objects into Postgres, twice: the second run changes nothing.
    _run([hourcast, "db", "upgrade"], env)
    first = _run([hourcast, "ingest", "traffic"], env)
    again = _run([hourcast, "ingest", "traffic"], env)
    assert "inserted 38563" in first.replace("\n", " ")
    assert "inserted 0, updated 0" in again.replace("\n", " ")

    # The Mage pipeline, headless.
    mage = str(mage_python.parent / "mage")
    runtime_vars = json.dumps({"target": "traffic", "num_boost_round": 60, "holdout_days": 3})
    _run([mage, "run", "orchestration", "train", "--runtime-vars", runtime_vars], env)

    # Metadata in the Postgres backend store ...
    with psycopg2.connect(_psycopg2_dsn(mlflow_server.backend_store_uri)) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT version, run_id FROM model_versions WHERE name = %s ORDER BY version", (MODEL,)
        )
        versions = cursor.fetchall()
        cursor.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = %s", (MODEL,)
        )
        aliases = dict(cursor.fetchall())
        cursor.execute("SELECT status FROM runs WHERE run_uuid = %s", (versions[0][1],))
        run_status = cursor.fetchone()[0]
        cursor.execute(
            "SELECT value FROM metrics WHERE run_uuid = %s AND key = 'holdout_mae'",
            (versions[0][1],),
        )
        holdout_mae = cursor.fetchone()[0]
    assert [v for v, _ in versions] == [1]
    assert aliases == {"champion": 1}
    assert run_status == "FINISHED"
    assert 0 < holdout_mae < 1000

    # ... and artifacts in the S3 bucket.
    s3 = boto3.client("s3", endpoint_url=mlflow_server.s3_endpoint)
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=mlflow_server.bucket, Prefix=mlflow_server.prefix
        )
        for item in page.get("Contents", [])
    ]
    assert any(key.endswith("/MLmodel") for key in keys), keys
    assert any(key.endswith("forecaster/booster.ubj") for key in keys), keys

    # The API loads the champion from the tracking server and serves it over HTTP.
    port = local_stack.free_port()
    api = local_stack.api_service(port=port, env=env)
    local_stack.start(api, run_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            local_stack.wait_healthy(f"{base}/ready", timeout=120)
        except local_stack.ServiceError as exc:
            log = (run_dir / "api.log").read_text(errors="replace")
            pytest.fail(f"{exc}\n--- api.log ---\n{log[-6000:]}", pytrace=False)
        signed_in = signed_in_client()
        models = signed_in.get(f"{base}/v1/models").json()["models"]
        assert (models[0]["version"], models[0]["run_id"]) == ("1", versions[0][1])
        response = signed_in.post(
            f"{base}/v1/forecast", json={"series_id": "traffic:i94-westbound", "horizon": 24}
        )
        assert response.status_code == 200, response.text
        forecast = response.json()["forecast"]
        assert len(forecast) == 24
        # The data ends 2018-07-08 23:00 CDT = 2018-07-09 04:00 UTC.
        assert forecast[0]["ts"] == "2018-07-09T05:00:00Z"

        # A deliberately weak model (3 trees) from the CLI, with a cutoff: registered as
        # version 2 but kept as challenger by the promotion gate; the champion stays 1.
        weak = _run(
            [
                hourcast,
                "train",
                "traffic",
                "--train-end",
                "2018-06-30T23:00:00-05:00",
                "--num-boost-round",
                "3",
            ],
            env,
        )
        assert "version 2 as @challenger" in weak.replace("\n", " ")
        assert "below the required 1%" in weak.replace("\n", " ")
        listed = _run([hourcast, "models", "list"], env)
        assert "challenger" in listed
        assert "champion" in listed

        # Promoted by hand, version 2 is what the running API serves next (no restart) ...
        _run([hourcast, "models", "promote", "2", "--reason", "e2e"], env)
        assert _served_version(signed_in, base, "2") == "2"
        # ... and a rollback puts version 1 back.
        rolled = _run([hourcast, "models", "rollback"], env)
        assert "rolled back to v1" in rolled
        assert _served_version(signed_in, base, "1") == "1"
    finally:
        local_stack.stop(run_dir, "api")


def _served_version(client: httpx.Client, base: str, expected: str) -> str:
    """The version /v1/models names once it is ``expected``, or the last one after 60 s."""
    deadline = time.monotonic() + 60
    while True:
        version = str(client.get(f"{base}/v1/models").json()["models"][0]["version"])
        if version == expected or time.monotonic() > deadline:
            return version
        time.sleep(0.5)


def test_cli_rejects_a_bad_train_end(tmp_path: Path) -> None:
    hourcast = str(Path(sys.executable).parent / "hourcast")
    result = subprocess.run(
        [hourcast, "train", "traffic", "--train-end", "last tuesday"],
        cwd=ROOT,
        env={**os.environ, "HOURCAST_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--train-end" in result.stderr
    assert "ISO-8601" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_train_end_is_named_before_the_training_stack_loads(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from hourcast.cli.main import app\n"
        "result = CliRunner().invoke(app, ['train', 'traffic', '--train-end', 'last tuesday'])\n"
        "print(result.exit_code, 'hourcast.training.pipeline' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "HOURCAST_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["2", "False"], result.stdout + result.stderr
