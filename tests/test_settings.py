"""Settings: defaults, environment, and Secrets Manager ARNs resolved at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hourcast.secrets import SecretResolutionError, is_secret_arn, resolve_secret
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HOURCAST_"):
            monkeypatch.delenv(key)


def test_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / '.hourcast' / 'hourcast.db'}"
    assert settings.traffic_source == str(BUNDLED_TRAFFIC_CSV)
    assert BUNDLED_TRAFFIC_CSV.exists()
    assert settings.model_alias == "champion"


def test_environment_and_postgres_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOURCAST_DATABASE_URL", "postgres://u:p@db:5432/hourcast")
    monkeypatch.setenv("HOURCAST_API_MAX_HORIZON", "48")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+psycopg2://u:p@db:5432/hourcast"
    assert settings.api_max_horizon == 48


def test_served_models_are_comma_separated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().api_models == ("traffic", "pm25")
    monkeypatch.setenv("HOURCAST_API_MODELS", " pm25 ,")
    assert Settings().api_models == ("pm25",)
    monkeypatch.setenv("HOURCAST_API_MODELS", "pm25,pm25")
    with pytest.raises(ValueError, match="api_models"):
        Settings()
    monkeypatch.setenv("HOURCAST_API_MODELS", ",")
    with pytest.raises(ValueError, match="api_models"):
        Settings()


def test_invalid_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOURCAST_API_MAX_HORIZON", "lots")
    with pytest.raises(ValueError, match="api_max_horizon"):
        Settings()


def test_is_secret_arn() -> None:
    assert is_secret_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCd")
    assert not is_secret_arn("postgresql://localhost/db")
    assert not is_secret_arn(None)


@pytest.mark.integration
def test_secret_arns_are_resolved_from_secrets_manager(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
    url_arn = client.create_secret(
        Name="hourcast/database-url", SecretString="postgresql://app:s3cret@db:5432/hourcast"
    )["ARN"]
    key_arn = client.create_secret(
        Name="hourcast/openaq", SecretString=json.dumps({"api_key": "k-123", "other": "x"})
    )["ARN"]
    monkeypatch.setenv("HOURCAST_AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("HOURCAST_DATABASE_URL", url_arn)
    monkeypatch.setenv("HOURCAST_OPENAQ_API_KEY", f"{key_arn}#api_key")

    settings = Settings()

    assert settings.resolved_database_url == "postgresql+psycopg2://app:s3cret@db:5432/hourcast"
    assert settings.openaq_api_key is not None
    assert settings.openaq_api_key.get_secret_value() == "k-123"


@pytest.mark.integration
def test_missing_secret_or_key_is_a_clear_error(moto_endpoint: str) -> None:
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = client.create_secret(Name="hourcast/plain", SecretString="not json")["ARN"]
    with pytest.raises(SecretResolutionError, match="no JSON field 'password'"):
        resolve_secret(f"{arn}#password", endpoint_url=moto_endpoint)
    missing = arn.replace("hourcast/plain", "hourcast/absent")
    with pytest.raises(SecretResolutionError, match="cannot read secret"):
        resolve_secret(missing, endpoint_url=moto_endpoint)
