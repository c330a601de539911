"""Settings: defaults, environment, database parts, and the production requirements."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from hourcast.settings import (
    BUNDLED_TRAFFIC_CSV,
    MissingProductionSettingsError,
    Settings,
    check_production_settings,
    main,
    required_environment_variables,
)

# What ECS injects into the API task (values are placeholders, not credentials).
API_PRODUCTION_ENV = {
    "HOURCAST_ENV": "production",
    "HOURCAST_DB_HOST": "observations.internal",
    "HOURCAST_DB_USER": "hourcast",
    "HOURCAST_DB_PASSWORD": "placeholder",
    "HOURCAST_MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "HOURCAST_JWT_SECRET_KEY": "placeholder",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HOURCAST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env file


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


def test_database_url_is_assembled_from_parts_with_the_credentials_encoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "p@ss:w/rd%?#"
    monkeypatch.setenv("HOURCAST_DB_HOST", "db.internal")
    monkeypatch.setenv("HOURCAST_DB_PORT", "6543")
    monkeypatch.setenv("HOURCAST_DB_NAME", "observations")
    monkeypatch.setenv("HOURCAST_DB_USER", "app user")
    monkeypatch.setenv("HOURCAST_DB_PASSWORD", password)

    url = Settings().resolved_database_url

    assert url.startswith("postgresql+psycopg2://app%20user:p%40ss%3Aw%2Frd%25%3F%23@")
    assert url.endswith("@db.internal:6543/observations")
    parsed = sa.make_url(url)
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "app user",
        password,
        "db.internal",
        6543,
        "observations",
    )


def test_a_whole_database_url_wins_over_the_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOURCAST_DB_HOST", "db.internal")
    monkeypatch.setenv("HOURCAST_DATABASE_URL", "postgresql://u@other:5432/x")
    assert Settings().resolved_database_url == "postgresql+psycopg2://u@other:5432/x"


def test_required_variables_are_read_from_the_field_marks() -> None:
    api = required_environment_variables("api")
    mage = required_environment_variables("mage")
    assert api == [
        "HOURCAST_ENV",
        "HOURCAST_DB_HOST",
        "HOURCAST_DB_USER",
        "HOURCAST_DB_PASSWORD",
        "HOURCAST_MLFLOW_TRACKING_URI",
        "HOURCAST_JWT_SECRET_KEY",
    ]
    assert set(mage) - set(api) == {
        "HOURCAST_TRAFFIC_SOURCE",
        "HOURCAST_AWS_REGION",
        "HOURCAST_OPENAQ_API_KEY",
    }
    with pytest.raises(ValueError, match="unknown service 'mlflow'"):
        required_environment_variables("mlflow")


def test_development_needs_nothing() -> None:
    check_production_settings(Settings(), "api")
    check_production_settings(Settings(), "mage")


def test_production_names_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in API_PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    check_production_settings(Settings(), "api")

    with pytest.raises(MissingProductionSettingsError) as raised:
        check_production_settings(Settings(), "mage")
    assert raised.value.variables == (
        "HOURCAST_TRAFFIC_SOURCE",
        "HOURCAST_AWS_REGION",
        "HOURCAST_OPENAQ_API_KEY",
    )
    assert "mage in production needs" in str(raised.value)

    monkeypatch.setenv("HOURCAST_DB_PASSWORD", "")  # set but empty counts as missing
    monkeypatch.delenv("HOURCAST_MLFLOW_TRACKING_URI")  # the laptop default is no answer
    with pytest.raises(
        MissingProductionSettingsError,
        match=r"HOURCAST_DB_PASSWORD, HOURCAST_MLFLOW_TRACKING_URI$",
    ):
        check_production_settings(Settings(), "api")


def test_a_whole_database_url_replaces_the_parts_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOURCAST_ENV", "production")
    monkeypatch.setenv("HOURCAST_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("HOURCAST_JWT_SECRET_KEY", API_PRODUCTION_ENV["HOURCAST_JWT_SECRET_KEY"])
    with pytest.raises(MissingProductionSettingsError, match="HOURCAST_DB_HOST"):
        check_production_settings(Settings(), "api")
    monkeypatch.setenv("HOURCAST_DATABASE_URL", "postgresql://u@db:5432/hourcast")
    check_production_settings(Settings(), "api")


def test_the_api_refuses_to_start_in_production_without_its_settings() -> None:
    from inference_api.main import create_app

    with pytest.raises(MissingProductionSettingsError, match="HOURCAST_DB_HOST"):
        create_app(Settings(env="production", mlflow_tracking_uri="http://mlflow:5000"))


def test_command_line_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mage"]) == 0
    monkeypatch.setenv("HOURCAST_ENV", "production")
    assert main(["mage"]) == 1
    assert "HOURCAST_OPENAQ_API_KEY" in capsys.readouterr().err
    assert main(["mlflow"]) == 2
    monkeypatch.setenv("HOURCAST_ENV", "prod")
    assert main(["api"]) == 1
    assert "env" in capsys.readouterr().err
