"""One settings class for every Hourcast process (Mage blocks, API, CLI).

Every field reads ``HOURCAST_<FIELD>`` from the environment (or a ``.env`` file). With no
configuration everything runs on one machine: SQLite files and the bundled data under
``HOURCAST_HOME``. In AWS, ECS injects secrets into the environment (task definition
``secrets``), so this module never calls Secrets Manager itself.

Settings a service cannot run without in production are marked with
:class:`RequiredInProduction`; :func:`check_production_settings` enforces the marks at start-up
and the infrastructure tests (``tests/infra``) check that Terraform supplies every one of them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "BUNDLED_TRAFFIC_CSV",
    "ENV_PREFIX",
    "SERVICES",
    "MissingProductionSettingsError",
    "RequiredInProduction",
    "Service",
    "Settings",
    "check_production_settings",
    "get_settings",
    "required_environment_variables",
]

BUNDLED_TRAFFIC_CSV = (
    Path(__file__).parent / "data" / "traffic" / "Metro_Interstate_Traffic_Volume.csv"
)
ENV_PREFIX = "HOURCAST_"

Service = Literal["api", "mage"]
SERVICES: tuple[Service, ...] = get_args(Service)


@dataclass(frozen=True)
class RequiredInProduction:
    """Field metadata: the services that need this setting when ``HOURCAST_ENV=production``.

    Args:
        services (tuple[Service, ...]): The services (``api``, ``mage``) that need it.
        unless (str | None): Another field whose value makes this one unnecessary (the database
            parts are not needed when ``database_url`` is given whole). Defaults to None.
    """

    services: tuple[Service, ...]
    unless: str | None = None


_API_AND_MAGE = RequiredInProduction(("api", "mage"))
_DATABASE_PART = RequiredInProduction(("api", "mage"), unless="database_url")


class MissingProductionSettingsError(RuntimeError):
    """A service started with ``HOURCAST_ENV=production`` lacks settings it needs."""

    def __init__(self, service: str, variables: Sequence[str]) -> None:
        self.service = service
        self.variables = tuple(variables)
        super().__init__(
            f"{service} in production needs these environment variables, which are not set: "
            + ", ".join(self.variables)
        )


class Settings(BaseSettings):
    """Configuration of an Hourcast process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    env: Annotated[Literal["development", "production"], _API_AND_MAGE] = Field(
        default="development",
        description="`production` in the ECS tasks: start-up then checks the required settings.",
    )
    home: Path = Field(
        default=Path(".hourcast"),
        description="Folder for local state: the SQLite database, MLflow files, run logs.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the observation store; empty means the db_* parts, "
        "or SQLite in `home` when db_host is empty too.",
    )
    db_host: Annotated[str, _DATABASE_PART] = Field(
        default="", description="PostgreSQL host of the observation store (used if no URL)."
    )
    db_port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    db_name: str = Field(default="hourcast", min_length=1, description="PostgreSQL database.")
    db_user: Annotated[str, _DATABASE_PART] = Field(default="", description="PostgreSQL user.")
    db_password: Annotated[SecretStr | None, _DATABASE_PART] = Field(
        default=None, description="PostgreSQL password."
    )
    mlflow_tracking_uri: Annotated[str, _API_AND_MAGE] = Field(
        default="http://127.0.0.1:5000", description="MLflow tracking server URL."
    )
    traffic_source: Annotated[str, RequiredInProduction(("mage",))] = Field(
        default=str(BUNDLED_TRAFFIC_CSV),
        description="Traffic CSV: a local file, or s3://bucket/prefix naming {prefix}_{year}.csv.",
    )
    traffic_series_id: str = Field(default="traffic:i94-westbound")
    model_alias: str = Field(default="champion", description="Registry alias the API serves.")
    aws_region: Annotated[str, RequiredInProduction(("mage",))] = Field(
        default="us-east-1", description="Region of the S3 client."
    )
    aws_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (a moto server locally); AWS if unset."
    )
    openaq_api_key: Annotated[SecretStr | None, RequiredInProduction(("mage",))] = Field(
        default=None
    )
    openaq_base_url: str = Field(default="https://api.openaq.org")
    # Supplied in AWS already; no code reads them yet, so no service requires them.
    jwt_secret_key: SecretStr | None = Field(
        default=None, description="Signing key for the API's JSON Web Tokens."
    )
    mage_trigger_token: SecretStr | None = Field(
        default=None, description="Token of the Mage API triggers."
    )
    api_max_horizon: int = Field(default=168, ge=1, description="Largest horizon the API serves.")
    api_model_retry_seconds: float = Field(
        default=5.0, gt=0, description="How often the API retries loading a missing champion."
    )
    # NoDecode: the environment gives "traffic,pm25", not JSON.
    api_models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("traffic", "pm25"),
        min_length=1,
        description="Training targets whose models the API serves, comma-separated.",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_scheme(cls, value: str) -> str:
        # SQLAlchemy rejects postgres:// and maps postgresql:// to psycopg 3; we ship psycopg2.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg2://" + value[len(prefix) :]
        return value

    @field_validator("api_models", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        names = value.split(",") if isinstance(value, str) else value
        if isinstance(names, list | tuple):
            names = tuple(str(name).strip() for name in names if str(name).strip())
            if len(set(names)) != len(names):
                raise ValueError("a model is named more than once")
        return names

    @property
    def resolved_database_url(self) -> str:
        """The observation store URL.

        ``database_url`` if given; else assembled from the ``db_*`` parts when ``db_host`` is
        set (user and password URL-encoded); else a SQLite file under ``home``.
        """
        if self.database_url:
            return self.database_url
        if self.db_host:
            credentials = quote(self.db_user, safe="")
            if self.db_password is not None:
                credentials += ":" + quote(self.db_password.get_secret_value(), safe="")
            login = f"{credentials}@" if credentials else ""
            return f"postgresql+psycopg2://{login}{self.db_host}:{self.db_port}/{self.db_name}"
        return f"sqlite:///{(self.home / 'hourcast.db').resolve()}"


def _production_requirements(service: str) -> list[tuple[str, RequiredInProduction]]:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    return [
        (name, mark)
        for name, field in Settings.model_fields.items()
        for mark in field.metadata
        if isinstance(mark, RequiredInProduction) and service in mark.services
    ]


def _env_name(field_name: str) -> str:
    return f"{ENV_PREFIX}{field_name.upper()}"


def required_environment_variables(service: str) -> list[str]:
    """The ``HOURCAST_*`` variables ``service`` needs in production (every marked field).

    Args:
        service (str): ``api`` or ``mage``.

    Returns:
        list[str]: Environment variable names, in field order.
    """
    return [_env_name(name) for name, _ in _production_requirements(service)]


def _is_set(settings: Settings, name: str) -> bool:
    value = getattr(settings, name)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return name in settings.model_fields_set and value not in (None, "")


def check_production_settings(settings: Settings, service: str) -> None:
    """Fail fast when a production service lacks a setting it needs.

    Does nothing unless ``settings.env`` is ``production``. A setting counts as missing when
    its variable is unset or empty (a default is a laptop default, not a production value).

    Args:
        settings (Settings): The settings to check.
        service (str): ``api`` or ``mage``.

    Raises:
        MissingProductionSettingsError: Names every missing ``HOURCAST_*`` variable.
    """
    requirements = _production_requirements(service)
    if settings.env != "production":
        return
    missing = [
        _env_name(name)
        for name, mark in requirements
        if not _is_set(settings, name) and not (mark.unless and _is_set(settings, mark.unless))
    ]
    if missing:
        raise MissingProductionSettingsError(service, missing)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hourcast.settings SERVICE``: exit 1 naming what SERVICE lacks in production."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in SERVICES:
        print(f"usage: python -m hourcast.settings {{{','.join(SERVICES)}}}", file=sys.stderr)
        return 2
    try:
        check_production_settings(Settings(), args[0])
    except (MissingProductionSettingsError, ValidationError) as exc:
        print(f"hourcast: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
