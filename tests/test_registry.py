"""Promotion gate, promote and rollback against a real MLflow tracking server."""

from __future__ import annotations

import uuid
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from hourcast.training.registry import (
    CHALLENGER,
    CHAMPION,
    RegistryError,
    apply_decision,
    champion_version,
    decide_promotion,
    list_versions,
    promote,
    rollback,
)
from tests.conftest import MlflowServer


def test_decide_promotion_rules() -> None:
    assert decide_promotion(100.0, None).promote
    better = decide_promotion(98.9, 100.0)
    assert better.promote
    assert better.improvement == pytest.approx(0.011)
    marginal = decide_promotion(99.5, 100.0)
    assert not marginal.promote
    assert "below the required 1%" in marginal.reason
    worse = decide_promotion(180.0, 100.0)
    assert not worse.promote
    assert not decide_promotion(float("nan"), 100.0).promote


def _new_version(client: MlflowClient, name: str, mae: float, tmp_path: Path) -> str:
    with mlflow.start_run() as run:
        mlflow.log_metric("holdout_mae", mae)
        marker = tmp_path / f"{uuid.uuid4().hex}.txt"
        marker.write_text(str(mae))
        mlflow.log_artifact(str(marker), artifact_path="model")
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    source = f"{run.info.artifact_uri}/model"
    return str(client.create_model_version(name, source, run_id=run.info.run_id).version)


@pytest.mark.integration
def test_gate_promote_and_rollback(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    client = MlflowClient(tracking_uri=mlflow_server.tracking_uri)
    name = f"gate-test-{uuid.uuid4().hex[:6]}"

    first = _new_version(client, name, 100.0, tmp_path)
    assert apply_decision(client, name, first, decide_promotion(100.0, None)) == CHAMPION
    assert champion_version(client, name) == first

    # A deliberately weak challenger is never promoted; the champion stays.
    weak = _new_version(client, name, 400.0, tmp_path)
    decision = decide_promotion(400.0, 100.0)
    assert apply_decision(client, name, weak, decision) == CHALLENGER
    assert champion_version(client, name) == first
    assert client.get_model_version_by_alias(name, CHALLENGER).version == weak
    assert client.get_model_version(name, weak).tags["promotion"].startswith("rejected: MAE 400")

    # A better one is promoted.
    better = _new_version(client, name, 90.0, tmp_path)
    assert apply_decision(client, name, better, decide_promotion(90.0, 100.0)) == CHAMPION
    assert champion_version(client, name) == better

    # Rollback restores the previous champion; a second rollback has nowhere to go.
    assert rollback(client, name) == first
    assert champion_version(client, name) == first
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(client, name)

    # Promote by hand, then list.
    promote(client, name, better, reason="by hand")
    rows = list_versions(client, name)
    assert [row.version for row in rows] == [better, weak, first]
    assert rows[0].aliases == (CHAMPION,)
    # The challenger alias moved on to the next new version, which was then promoted.
    assert rows[1].aliases == ()
    assert rows[1].promotion.startswith("rejected")
    assert rows[2].holdout_mae == 100.0
