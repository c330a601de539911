"""Start a retraining in Mage through the ``train`` pipeline's API trigger ``retrain_<target>``.

Mage's API trigger: ``POST <mage>/api/pipeline_schedules/<id>/api_trigger`` with
``Authorization: Bearer <trigger token>`` and ``{"pipeline_run": {"variables": {...}}}``; the
answer is ``{"pipeline_run": {"id": ..., "status": "running", ...}}``. Mage answers its
errors (unknown schedule, wrong token) with HTTP 200 and an ``error`` object, so success is
read from the body. The run is asynchronous: its id is returned at once.

Mage numbers a trigger when it first syncs ``triggers.yaml`` into its database, so a deployment
names its triggers (``traffic=retrain_traffic``) and the id is looked up by name in Mage's
metadata database (``mage_db_name``). Mage reads a trigger's token from ``triggers.yaml`` too:
``write_trigger_tokens`` puts the deployment's token there before Mage starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the lock

from hourcast.settings import Settings
from hourcast.targets import TARGETS

__all__ = [
    "RetrainError",
    "RetrainNotConfiguredError",
    "StartedRun",
    "resolve_schedule_id",
    "start_retraining",
    "trigger_url",
    "write_trigger_tokens",
]


class RetrainError(RuntimeError):
    """Mage did not start the run (unreachable, refused, or an unexpected answer)."""


class RetrainNotConfiguredError(RetrainError):
    """No trigger id or token is configured for the target."""


@dataclass(frozen=True)
class StartedRun:
    """A pipeline run Mage started."""

    run_id: int
    status: str
    target: str
    pipeline_schedule_id: int


def trigger_url(mage_url: str, schedule_id: int) -> str:
    """The API-trigger endpoint of a pipeline schedule."""
    return f"{mage_url.rstrip('/')}/api/pipeline_schedules/{schedule_id}/api_trigger"


def resolve_schedule_id(settings: Settings, trigger: int | str) -> int:
    """The pipeline-schedule id of ``trigger``: itself, or looked up by name in Mage's database.

    Raises:
        RetrainNotConfiguredError: A name without ``mage_db_name``, or a name Mage does not know.
        RetrainError: Mage's database could not be read.
    """
    if isinstance(trigger, int):
        return trigger
    url = settings.resolved_mage_database_url
    if url is None:
        raise RetrainNotConfiguredError(
            f"the Mage trigger {trigger!r} is given by name, which needs HOURCAST_MAGE_DB_NAME "
            "(Mage's metadata database on the store's PostgreSQL server)"
        )
    query = sa.text(
        "SELECT id FROM pipeline_schedule WHERE name = :name AND pipeline_uuid = 'train'"
    )
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            found = connection.execute(query, {"name": trigger}).scalar()
    except sa.exc.SQLAlchemyError as exc:
        raise RetrainError(f"Mage's database could not be read: {type(exc).__name__}") from exc
    finally:
        engine.dispose()
    if found is None:
        raise RetrainNotConfiguredError(
            f"Mage has no trigger {trigger!r} of the pipeline train (not synced yet?)"
        )
    return int(found)


def write_trigger_tokens(project: Path, token: str) -> list[str]:
    """Give every API trigger of the Mage project at ``project`` the bearer token ``token``.

    Mage takes a trigger's token from ``triggers.yaml`` when it syncs the file, so the token
    comes from the deployment's secret instead of being generated per trigger.

    Returns:
        list[str]: The ``pipeline/trigger`` names that got the token.
    """
    written: list[str] = []
    for path in sorted(project.glob("pipelines/*/triggers.yaml")):
        config = yaml.safe_load(path.read_text()) or {}
        triggers = [t for t in config.get("triggers") or [] if t.get("schedule_type") == "api"]
        if not triggers:
            continue
        for trigger in triggers:
            trigger["token"] = token
            written.append(f"{path.parent.name}/{trigger['name']}")
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return written


def start_retraining(
    settings: Settings, target: str, *, transport: httpx.BaseTransport | None = None
) -> StartedRun:
    """Start the ``train`` pipeline for ``target`` through its Mage API trigger.

    Args:
        settings (Settings): ``mage_url``, ``mage_trigger_token`` and ``mage_retrain_triggers``
            (the pipeline-schedule id of each ``retrain_<target>`` trigger).
        target (str): A training target (``hourcast.targets``).
        transport (httpx.BaseTransport | None): For tests. Defaults to None.

    Raises:
        ValueError: ``target`` is not a training target.
        RetrainNotConfiguredError: No trigger id or token for it.
        RetrainError: Mage could not be reached or did not start a run.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    trigger = settings.mage_retrain_triggers.get(target)
    if trigger is None or settings.mage_trigger_token is None:
        raise RetrainNotConfiguredError(
            f"retraining {target} through Mage is not configured "
            "(HOURCAST_MAGE_RETRAIN_TRIGGERS, HOURCAST_MAGE_TRIGGER_TOKEN)"
        )
    schedule_id = resolve_schedule_id(settings, trigger)
    token = settings.mage_trigger_token.get_secret_value()
    body = {"pipeline_run": {"variables": {"target": target}}}
    try:
        with httpx.Client(transport=transport, timeout=30) as client:
            response = client.post(
                trigger_url(settings.mage_url, schedule_id),
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        answer: Any = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise RetrainError(f"Mage could not be asked: {type(exc).__name__}") from exc
    run = answer.get("pipeline_run") if isinstance(answer, dict) else None
    if response.status_code != 200 or not isinstance(run, dict) or "id" not in run:
        error = answer.get("error") if isinstance(answer, dict) else None
        reason = error.get("exception") if isinstance(error, dict) else None
        raise RetrainError(
            f"Mage did not start a run (HTTP {response.status_code}: {reason or 'no run'})"
        )
    return StartedRun(int(run["id"]), str(run.get("status")), target, schedule_id)
