"""What the registry knows of a served version: its backtest MAE and its training window.

``hourcast.training.fit.fit_and_log`` logs, in the run a version is registered from, the
metric ``holdout_mae`` (the rolling-origin backtest over every series and step) and the
params ``data_start`` / ``data_end`` (the first and last hour of the training frame). The
monitor compares the rolling MAE with the first and reads its drift reference from the end
of the second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

__all__ = ["BACKTEST_METRIC", "VersionFacts", "version_facts"]

log = logging.getLogger(__name__)

BACKTEST_METRIC = "holdout_mae"


@dataclass(frozen=True)
class VersionFacts:
    """A registered version's training run, backtest MAE and training window (None: unknown)."""

    name: str
    version: str
    run_id: str | None = None
    backtest_mae: float | None = None
    data_start: pd.Timestamp | None = None
    data_end: pd.Timestamp | None = None
    error: str | None = None


def _instant(text: str | None) -> pd.Timestamp | None:
    if not text:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def version_facts(client: MlflowClient, name: str, version: str) -> VersionFacts:
    """Read ``name`` version ``version`` and its run from the registry.

    Never raises: an unreachable registry or a version without a run gives a
    :class:`VersionFacts` with ``error`` set, and the monitor then judges drift and accuracy
    only as far as it can.
    """
    try:
        found = client.get_model_version(name, version)
        if not found.run_id:
            return VersionFacts(name, version, error="the version has no training run")
        run = client.get_run(found.run_id)
    except (MlflowException, OSError) as exc:
        log.warning("monitor: cannot read %s v%s from MLflow: %s", name, version, exc)
        return VersionFacts(name, version, error=f"{type(exc).__name__}: {exc}"[:500])
    mae = run.data.metrics.get(BACKTEST_METRIC)
    return VersionFacts(
        name=name,
        version=version,
        run_id=str(found.run_id),
        backtest_mae=None if mae is None else float(mae),
        data_start=_instant(run.data.params.get("data_start")),
        data_end=_instant(run.data.params.get("data_end")),
    )
