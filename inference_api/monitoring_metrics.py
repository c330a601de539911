"""Prometheus gauges of the monitor's newest figures, read from the store in the background.

The Mage pipeline ``monitor`` writes its figures to PostgreSQL (``hourcast.monitoring``);
every ``HOURCAST_API_MONITOR_REFRESH_SECONDS`` a thread reads the newest run's rows and sets:

- ``hourcast_monitor_rolling_mae`` / ``hourcast_monitor_backtest_mae`` /
  ``hourcast_monitor_scored_hours`` by ``target``, ``model``, ``version``: the rolling MAE of
  the forecasts served in the monitor's window (every series and step), the version's backtest
  MAE, and how many forecast hours had an actual;
- ``hourcast_monitor_interval_coverage`` by the same and ``level``: the share of actuals inside;
- ``hourcast_monitor_psi`` by the same and ``series_id``: input drift of each series;
- ``hourcast_monitor_last_run_timestamp_seconds``: when the newest monitor run computed them.

With several workers (``PROMETHEUS_MULTIPROC_DIR``) each worker reads and sets the same values
and ``/metrics`` shows the most recent; a label set that left the newest run (an old version)
is removed from the worker's own gauges, but in multiprocess mode its last value stays in the
shared files until the API restarts.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Literal

from prometheus_client import Gauge
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from hourcast.storage.monitoring import latest_drift, latest_metrics

__all__ = ["MonitorGauges"]

log = logging.getLogger("inference_api.monitoring")

_VERSION = ["target", "model", "version"]
_MODE: Literal["mostrecent"] = "mostrecent"

ROLLING_MAE = Gauge(
    "hourcast_monitor_rolling_mae",
    "Rolling MAE of the served forecasts against the actuals (monitor window, all steps).",
    _VERSION,
    multiprocess_mode=_MODE,
)
BACKTEST_MAE = Gauge(
    "hourcast_monitor_backtest_mae",
    "Backtest (holdout) MAE of the version, from its training run.",
    _VERSION,
    multiprocess_mode=_MODE,
)
SCORED_HOURS = Gauge(
    "hourcast_monitor_scored_hours",
    "Forecast hours with an actual in the monitor's window.",
    _VERSION,
    multiprocess_mode=_MODE,
)
COVERAGE = Gauge(
    "hourcast_monitor_interval_coverage",
    "Share of actuals inside the served forecast intervals, by level.",
    [*_VERSION, "level"],
    multiprocess_mode=_MODE,
)
PSI = Gauge(
    "hourcast_monitor_psi",
    "Input drift: PSI of a series' recent values against the version's training window.",
    [*_VERSION, "series_id"],
    multiprocess_mode=_MODE,
)
LAST_RUN = Gauge(
    "hourcast_monitor_last_run_timestamp_seconds",
    "When the newest monitor run computed its figures (Unix time).",
    multiprocess_mode=_MODE,
)
_LABELLED = (ROLLING_MAE, BACKTEST_MAE, SCORED_HOURS, COVERAGE, PSI)


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


class MonitorGauges:
    """Keeps the monitor gauges in step with the store.

    Args:
        engine (Engine): The observation store (where the monitor writes).
        refresh_seconds (float): Pause between two reads.
    """

    def __init__(self, engine: Engine, refresh_seconds: float) -> None:
        self._engine = engine
        self._refresh_seconds = refresh_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown: dict[Gauge, set[tuple[str, ...]]] = {gauge: set() for gauge in _LABELLED}
        self._readable = True

    def refresh(self) -> bool:
        """Read the newest monitor run and set the gauges; False if the store could not be read."""
        try:
            metrics = latest_metrics(self._engine)
            drift = latest_drift(self._engine)
        except SQLAlchemyError as exc:  # the store is away, or not migrated to 0005 yet
            log.warning(
                "monitor gauges: cannot read the monitoring tables (%s)", type(exc).__name__
            )
            return False
        values: dict[Gauge, dict[tuple[str, ...], float]] = {gauge: {} for gauge in _LABELLED}
        overall = metrics[metrics["series_id"].isna() & metrics["step"].isna()]
        for row in overall.to_dict("records"):
            labels = (str(row["target"]), str(row["model_name"]), str(row["model_version"]))
            for gauge, column in (
                (ROLLING_MAE, "mae"),
                (BACKTEST_MAE, "backtest_mae"),
                (SCORED_HOURS, "scored_hours"),
            ):
                if _finite(row[column]):
                    values[gauge][labels] = float(row[column])
            for level, share in (row["coverage"] or {}).items():
                values[COVERAGE][(*labels, str(level))] = float(share)
        for row in drift.to_dict("records"):
            if _finite(row["psi"]):
                version = (str(row["target"]), str(row["model_name"]), str(row["model_version"]))
                values[PSI][(*version, str(row["series_id"]))] = float(row["psi"])
        for gauge, found in values.items():
            for gone in self._shown[gauge] - found.keys():
                gauge.remove(*gone)
            for label_values, value in found.items():
                gauge.labels(*label_values).set(value)
            self._shown[gauge] = set(found)
        if len(metrics):
            LAST_RUN.set(metrics["computed_at"].max().timestamp())
        return True

    def start(self) -> None:
        """Read now and then every ``refresh_seconds`` in a background thread."""
        self._thread = threading.Thread(target=self._run, name="monitor-gauges", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self._refresh_seconds)
