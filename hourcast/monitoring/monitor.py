"""One monitor run: score the served forecasts, measure drift, retrain what degraded.

For each target (``hourcast.targets``) whose model served forecasts in the last
``monitor_window_hours``:

1. read those forecasts from the prediction log (the newest of each version, series and
   origin) and the actuals stored since for the hours they forecast;
2. write MAE and interval coverage per version, series and horizon step (and rolled up) to
   ``monitoring_metrics``, with the version's backtest MAE from its MLflow run;
3. for the version in use (the one served last), compare each series' recent values (from
   the first origin scored to its newest stored hour) with the last
   ``monitor_reference_days`` of the version's training data: PSI to ``monitoring_drift``;
4. decide (:mod:`hourcast.monitoring.policy`); when retraining is due, start the Mage
   pipeline ``train`` through :func:`hourcast.training.retrain_trigger.start_retraining`, the
   trigger ``POST /v1/admin/retrain`` uses, unless the monitor started one within the
   cooldown; the decision, its reasons and figures, and the Mage run id (or the error) go to
   ``retrain_decisions``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
from mlflow.tracking import MlflowClient
from sqlalchemy import Engine

from hourcast.monitoring.policy import Assessment, RetrainPolicy, assess, cooldown_until
from hourcast.monitoring.scoring import forecast_hours, psi, rolling_scores, with_actuals
from hourcast.monitoring.versions import VersionFacts, version_facts
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine
from hourcast.storage.monitoring import (
    insert_rows,
    last_started_retrain,
    retrain_lock,
    served_forecasts,
)
from hourcast.storage.observations import load_observations
from hourcast.storage.schema import monitoring_drift, monitoring_metrics, retrain_decisions
from hourcast.targets import TARGETS, Target, get_target
from hourcast.training.retrain_trigger import RetrainError, start_retraining

__all__ = ["MonitorReport", "TargetReport", "run_monitor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetReport:
    """What one monitor run found for one target, and what it did."""

    target: str
    model_name: str
    model_version: str | None = None
    scored_hours: int = 0
    rolling_mae: float | None = None
    backtest_mae: float | None = None
    coverage: dict[str, float] = field(default_factory=dict)
    psi: float | None = None
    due: bool = False
    reason: str = ""
    outcome: str | None = None
    mage_run_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class MonitorReport:
    """One monitor run over every target."""

    monitor_run_id: str
    computed_at: datetime
    window_start: datetime
    targets: list[TargetReport]

    def frame(self) -> pd.DataFrame:
        """One row per target (the Mage block's output)."""
        rows = [
            {"monitor_run_id": self.monitor_run_id, "computed_at": self.computed_at, **asdict(t)}
            for t in self.targets
        ]
        frame = pd.DataFrame(rows, columns=["monitor_run_id", "computed_at", *_REPORT_FIELDS])
        frame["coverage"] = frame["coverage"].map(
            lambda c: ", ".join(f"{k}: {v:.3f}" for k, v in c.items())
        )
        return frame


_REPORT_FIELDS = list(TargetReport.__dataclass_fields__)


@dataclass(frozen=True)
class _Run:
    """What every target of one monitor run shares."""

    engine: Engine
    client: MlflowClient
    settings: Settings
    policy: RetrainPolicy
    columns: dict[str, Any]  # monitor_run_id, computed_at, window_start, window_end
    transport: httpx.BaseTransport | None


def _actuals(engine: Engine, hours: pd.DataFrame) -> dict[str, pd.Series]:
    found = {}
    for sid, group in hours.groupby("series_id", sort=True):
        stored = load_observations(
            engine, series_id=str(sid), start=group["ts"].min(), end=group["ts"].max()
        )
        found[str(sid)] = pd.Series(stored["value"].to_numpy(), index=stored["ts"])
    return found


def _drift(
    engine: Engine,
    facts: VersionFacts,
    forecasts: pd.DataFrame,
    reference_days: int,
) -> list[dict[str, Any]]:
    """PSI per series of the version in use; reference and recent windows as described above."""
    rows = []
    for sid, group in forecasts.groupby("series_id", sort=True):
        recent = load_observations(engine, series_id=str(sid), start=group["origin"].min())
        recent = recent.dropna(subset=["value"])
        reference = recent.iloc[0:0]
        if facts.data_end is not None:
            reference = load_observations(
                engine,
                series_id=str(sid),
                start=facts.data_end - pd.Timedelta(days=reference_days),
                end=facts.data_end,
            ).dropna(subset=["value"])
        value = psi(reference["value"], recent["value"])
        rows.append(
            {
                "series_id": str(sid),
                "psi": value if math.isfinite(value) else None,
                "recent_start": recent["ts"].min() if len(recent) else None,
                "recent_end": recent["ts"].max() if len(recent) else None,
                "recent_hours": len(recent),
                "reference_start": reference["ts"].min() if len(reference) else None,
                "reference_end": reference["ts"].max() if len(reference) else None,
                "reference_hours": len(reference),
            }
        )
    return rows


def _python(value: Any) -> Any:
    """Timestamps as datetimes and NaN as None, for the database."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _decide(run: _Run, assessment: Assessment, base: dict[str, Any]) -> dict[str, Any]:
    """Start the retraining unless within the cooldown; record the decision. Returns its row."""
    target = base["target"]
    with run.engine.begin() as connection, retrain_lock(connection, target):
        now = datetime.now(UTC)
        last = last_started_retrain(connection, target)
        ends = cooldown_until(run.policy, last[0] if last else None, now)
        row = {
            **base,
            "decided_at": now,
            "reason": assessment.reason,
            "metrics": assessment.figures,
            "mage_run_id": None,
            "error": None,
        }
        if ends is not None and last is not None:
            row["outcome"] = "cooldown"
            row["reason"] += (
                f"\nnot started: the monitor started one at {last[0].isoformat()} "
                f"(Mage run {last[1]}); the cooldown ends at {ends.isoformat()}"
            )
        else:
            try:
                started = start_retraining(run.settings, target, transport=run.transport)
            except RetrainError as exc:  # not configured, Mage away or refusing
                row["outcome"], row["error"] = "failed", str(exc)
                log.error("monitor: retraining %s not started: %s", target, exc)
            else:
                row["outcome"], row["mage_run_id"] = "started", started.run_id
                log.info("monitor: retraining %s started, Mage run %d", target, started.run_id)
        insert_rows(connection, retrain_decisions, [row])
    return row


def _monitor_target(run: _Run, target: Target) -> TargetReport:
    engine = run.engine
    forecasts = served_forecasts(
        engine,
        model_name=target.model_name,
        since=run.columns["window_start"],
        until=run.columns["window_end"],
    )
    if forecasts.empty:
        return TargetReport(target.name, target.model_name, reason="no forecasts served")
    hours = forecast_hours(forecasts)
    scores = rolling_scores(with_actuals(hours, _actuals(engine, hours)))
    facts = {
        str(version): version_facts(run.client, target.model_name, str(version))
        for version in sorted(forecasts["model_version"].unique())
    }
    in_use = str(forecasts.loc[forecasts["served_at"].idxmax(), "model_version"])
    base = {"target": target.name, "model_name": target.model_name, **run.columns}
    metric_rows = [
        {
            **base,
            "model_version": str(row["model_version"]),
            "series_id": None if pd.isna(row["series_id"]) else str(row["series_id"]),
            "step": None if pd.isna(row["step"]) else int(row["step"]),
            "scored_hours": int(row["scored_hours"]),
            "mae": float(row["mae"]),
            "coverage": row["coverage"],
            "backtest_mae": facts[str(row["model_version"])].backtest_mae,
        }
        for row in scores.to_dict("records")
    ]
    drift = _drift(
        engine,
        facts[in_use],
        forecasts[forecasts["model_version"] == in_use],
        run.settings.monitor_reference_days,
    )
    drift_rows = [
        {
            **{k: v for k, v in base.items() if k not in ("window_start", "window_end")},
            "model_version": in_use,
            **{key: _python(value) for key, value in row.items()},
        }
        for row in drift
    ]
    with engine.begin() as connection:
        insert_rows(connection, monitoring_metrics, metric_rows)
        insert_rows(connection, monitoring_drift, drift_rows)

    overall = scores[
        (scores["model_version"] == in_use) & scores["series_id"].isna() & scores["step"].isna()
    ]
    mae = float(overall["mae"].iloc[0]) if len(overall) else None
    scored_hours = int(overall["scored_hours"].iloc[0]) if len(overall) else 0
    assessment = assess(
        run.policy,
        rolling_mae=mae,
        scored_hours=scored_hours,
        backtest_mae=facts[in_use].backtest_mae,
        psi_by_series={
            row["series_id"]: (
                row["psi"] if row["psi"] is not None else math.nan,
                row["recent_hours"],
            )
            for row in drift
        },
    )
    psis = [row["psi"] for row in drift if row["psi"] is not None]
    report = TargetReport(
        target=target.name,
        model_name=target.model_name,
        model_version=in_use,
        scored_hours=scored_hours,
        rolling_mae=mae,
        backtest_mae=facts[in_use].backtest_mae,
        coverage=dict(overall["coverage"].iloc[0]) if len(overall) else {},
        psi=max(psis) if psis else None,
        due=assessment.due,
        reason=assessment.reason,
    )
    if not assessment.due:
        return report
    decision = _decide(
        run,
        assessment,
        {
            "monitor_run_id": run.columns["monitor_run_id"],
            "target": target.name,
            "model_name": target.model_name,
            "model_version": in_use,
        },
    )
    return replace(
        report,
        reason=decision["reason"],
        outcome=decision["outcome"],
        mage_run_id=decision["mage_run_id"],
        error=decision["error"],
    )


def run_monitor(
    settings: Settings,
    *,
    targets: Sequence[str] = (),
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
) -> MonitorReport:
    """Monitor ``targets`` (default: every target) once; see the module docstring.

    Args:
        settings (Settings): The store, the tracking server, the ``monitor_*`` limits and the
            Mage trigger settings of ``start_retraining``.
        targets (Sequence[str]): Target names. Defaults to all of ``hourcast.targets``.
        now (datetime | None): End of the window (forecasts served up to then). Defaults to
            the current time.
        transport (httpx.BaseTransport | None): For tests, passed to ``start_retraining``.

    Returns:
        MonitorReport: A report per target.

    Raises:
        ValueError: An unknown target name.
    """
    chosen = [get_target(name) for name in targets] if targets else list(TARGETS.values())
    policy = RetrainPolicy.from_settings(settings)
    computed_at = datetime.now(UTC)
    window_end = now or computed_at
    columns: dict[str, Any] = {
        "monitor_run_id": uuid.uuid4().hex,
        "computed_at": computed_at,
        "window_start": window_end - timedelta(hours=settings.monitor_window_hours),
        "window_end": window_end,
    }
    engine = create_db_engine(settings.resolved_database_url)
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    run = _Run(engine, client, settings, policy, columns, transport)
    try:
        reports = [_monitor_target(run, target) for target in chosen]
    finally:
        engine.dispose()
    return MonitorReport(columns["monitor_run_id"], computed_at, columns["window_start"], reports)
