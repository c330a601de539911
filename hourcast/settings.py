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

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

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
    # Which OpenAQ sensors the scheduled runs ingest (comma-separated in the environment):
    # location ids, or a country, or a bounding box, or none of them (every station of the
    # parameters); then only the sensors of these parameters.
    openaq_locations: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(), description="OpenAQ location ids, e.g. 847,900000."
    )
    openaq_iso: str | None = Field(default=None, description="Country code, e.g. US.")
    openaq_bbox: Annotated[tuple[float, float, float, float] | None, NoDecode] = Field(
        default=None, description="min_lon,min_lat,max_lon,max_lat."
    )
    openaq_parameters: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("pm25",), description="Parameter names, e.g. pm25,o3."
    )
    openaq_gap_budget: int = Field(
        default=1000,
        ge=0,
        le=2000,
        description="Most /hours requests an hourly run sends to fill gaps (key: 2,000/h).",
    )
    openaq_archive_bucket: str = Field(default="openaq-data-archive")
    openaq_archive_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint of the archive (a moto server locally); AWS if unset.",
    )
    openaq_archive_workers: int = Field(
        default=16, ge=1, le=128, description="Archive day files read at once."
    )
    # Locally, without a key, the API keeps a generated one in `home` (hourcast.auth.tokens).
    jwt_secret_key: Annotated[SecretStr | None, RequiredInProduction(("api",))] = Field(
        default=None, description="Signing key (HS256) of the API's JSON Web Tokens."
    )
    api_auth: Literal["on", "off"] = Field(
        default="on",
        description="`off` lets every caller in, as an admin: refused with env=production.",
    )
    api_token_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="How long a token from /v1/auth/token lasts."
    )
    mage_url: str = Field(
        default="http://127.0.0.1:6789", description="Mage server the API starts retraining on."
    )
    mage_trigger_token: SecretStr | None = Field(
        default=None, description="Bearer token of the Mage API triggers retrain_<target>."
    )
    # NoDecode: the environment gives "traffic=3,pm25=4", not JSON.
    mage_retrain_triggers: Annotated[dict[str, int | str], NoDecode] = Field(
        default_factory=dict,
        description="Each target's retrain API trigger in Mage: its pipeline-schedule id, or its "
        "name (e.g. traffic=retrain_traffic), looked up in mage_db_name.",
    )
    mage_db_name: str | None = Field(
        default=None,
        min_length=1,
        description="Mage's metadata database beside the store (same server and login), where "
        "trigger names are looked up: Mage numbers its triggers when it first syncs them.",
    )
    api_prediction_log_buffer: int = Field(
        default=100_000,
        ge=1,
        description="Prediction-log rows held in memory while the database is unreachable.",
    )
    api_prediction_log_batch: int = Field(
        default=500, ge=1, description="Prediction-log rows written in one INSERT."
    )
    api_prediction_log_flush_seconds: float = Field(
        default=1.0, gt=0, description="How often buffered prediction-log rows are written."
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
    api_model_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the API asks the registry which version the alias names.",
    )
    api_model_cache_dir: Path | None = Field(
        default=None,
        description="Local copies of the served models (a restart with the registry down "
        "serves them); default `home`/model-cache.",
    )
    api_workers: int = Field(default=2, ge=1, le=64, description="API worker processes.")
    api_threads: int = Field(
        default=1, ge=1, le=64, description="OpenMP/XGBoost threads of each API worker."
    )
    api_max_batch: int = Field(
        default=1000, ge=1, le=1000, description="Series in one POST /v1/forecast/batch."
    )
    api_max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest request body the API reads."
    )

    monitor_window_hours: int = Field(
        default=168,
        ge=1,
        description="The monitor scores the forecasts served in the last this many hours.",
    )
    monitor_mae_ratio: float = Field(
        default=1.5,
        gt=0,
        description="Retrain when the rolling MAE exceeds this many times the backtest MAE.",
    )
    monitor_psi_threshold: float = Field(
        default=0.25,
        gt=0,
        description="Retrain when a series' PSI (recent values against the training window) "
        "exceeds this.",
    )
    monitor_cooldown_hours: float = Field(
        default=24.0,
        ge=0,
        description="The monitor starts at most one retraining of a target in this many hours.",
    )
    monitor_min_hours: int = Field(
        default=24,
        ge=1,
        description="Fewer scored forecast hours (or recent hours, for PSI) are not judged.",
    )
    monitor_reference_days: int = Field(
        default=28,
        ge=1,
        description="Drift reference: the last this many days of the model's training data.",
    )
    api_monitor_refresh_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often the API reads the monitor's newest figures for /metrics.",
    )
    # Training on Dask (hourcast.training.dask_training).
    dask_scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address (tcp://host:8786) training runs on; unset = a "
        "LocalCluster sized to the machine.",
    )
    # One process peaks at ~0.76 KiB per training row (scripts/benchmark_scale.py: 878 MiB at
    # 809,347 rows), so 3 million rows stay near 2.5 GiB, inside the Mage task's 4 GiB.
    dask_min_rows: int = Field(
        default=3_000_000,
        ge=0,
        description="Train on Dask from this many training rows (observed hours x steps per "
        "hour); smaller training sets keep the single-process path.",
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

    @field_validator("openaq_locations", "openaq_parameters", "openaq_bbox", mode="before")
    @classmethod
    def _split_commas(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        items = tuple(item.strip() for item in value.split(",") if item.strip())
        return items or (None if info.field_name == "openaq_bbox" else ())

    @field_validator("mage_retrain_triggers", mode="before")
    @classmethod
    def _split_pairs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs = [pair.strip() for pair in value.split(",") if pair.strip()]
        if any("=" not in pair for pair in pairs):
            raise ValueError(
                "expected target=trigger pairs, e.g. traffic=3,pm25=4 or traffic=retrain_traffic"
            )
        triggers: dict[str, int | str] = {}
        for name, given in (pair.split("=", 1) for pair in pairs):
            trigger = given.strip()
            triggers[name.strip()] = int(trigger) if trigger.isdigit() else trigger
        return triggers

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

    @property
    def resolved_mage_database_url(self) -> str | None:
        """Mage's metadata database: the store's server and login, database ``mage_db_name``."""
        if self.mage_db_name is None:
            return None
        url = make_url(self.resolved_database_url)
        if not url.drivername.startswith("postgresql"):
            return None
        return url.set(database=self.mage_db_name).render_as_string(hide_password=False)

    @property
    def resolved_model_cache_dir(self) -> Path:
        """Where the API keeps local copies of the models it serves."""
        return self.api_model_cache_dir or self.home / "model-cache"


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
