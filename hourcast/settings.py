"""One settings class for every Hourcast process (Mage blocks, API, CLI).

Every field reads ``HOURCAST_<FIELD>`` from the environment (or a ``.env`` file). With no
configuration everything runs on one machine: SQLite files and the bundled data under
``HOURCAST_HOME``. A value may be an AWS Secrets Manager ARN, resolved at start-up.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hourcast.secrets import is_secret_arn, resolve_secret

__all__ = ["BUNDLED_TRAFFIC_CSV", "Settings", "get_settings"]

BUNDLED_TRAFFIC_CSV = (
    Path(__file__).parent / "data" / "traffic" / "Metro_Interstate_Traffic_Volume.csv"
)


class Settings(BaseSettings):
    """Configuration of an Hourcast process."""

    model_config = SettingsConfigDict(
        env_prefix="HOURCAST_", env_file=".env", extra="ignore", validate_default=True
    )

    home: Path = Field(
        default=Path(".hourcast"),
        description="Folder for local state: the SQLite database, MLflow files, run logs.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the observation store; empty means SQLite in `home`.",
    )
    mlflow_tracking_uri: str = Field(
        default="http://127.0.0.1:5000", description="MLflow tracking server URL."
    )
    traffic_source: str = Field(
        default=str(BUNDLED_TRAFFIC_CSV),
        description="Traffic CSV: a local file, or s3://bucket/prefix naming {prefix}_{year}.csv.",
    )
    traffic_series_id: str = Field(default="traffic:i94-westbound")
    model_alias: str = Field(default="champion", description="Registry alias the API serves.")
    aws_region: str = Field(default="us-east-1")
    aws_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint for S3 and Secrets Manager (a moto server locally); AWS if unset.",
    )
    openaq_api_key: SecretStr | None = Field(default=None)
    openaq_base_url: str = Field(default="https://api.openaq.org")
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

    @model_validator(mode="before")
    @classmethod
    def _resolve_secret_arns(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        endpoint = data.get("aws_endpoint_url")
        return {
            key: resolve_secret(value, endpoint_url=endpoint) if is_secret_arn(value) else value
            for key, value in data.items()
        }

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
        """The observation store URL, defaulting to a SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'hourcast.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
