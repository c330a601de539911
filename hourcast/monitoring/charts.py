"""The stored monitoring figures shaped for the charts of the Mage pipeline ``monitor``.

Mage's line chart takes numbers on its x axis and one list per line, so :func:`chart_history`
gives one row per monitor run of one target, its time as milliseconds since 1970, and the
limits the monitor decided with as lines of their own. :func:`latest_table` is the table of
the run just made.
"""

from __future__ import annotations

import pandas as pd

from hourcast.settings import Settings

__all__ = ["CHART_COLUMNS", "chart_history", "latest_table"]

CHART_COLUMNS = (
    "run_time",
    "computed_at",
    "model_version",
    "rolling_mae",
    "backtest_mae",
    "retrain_above",
    "coverage_80",
    "coverage_95",
    "psi",
    "psi_threshold",
)


def chart_history(history: pd.DataFrame, *, target: str, settings: Settings) -> pd.DataFrame:
    """One row per monitor run of ``target``, oldest first, for the line charts.

    Args:
        history (pd.DataFrame): Output of :func:`hourcast.storage.monitoring.metrics_history`.
        target (str): The target charted.
        settings (Settings): The limits (``monitor_mae_ratio``, ``monitor_psi_threshold``).

    Returns:
        pd.DataFrame: :data:`CHART_COLUMNS`: ``run_time`` (ms since 1970, UTC), the rolling
        and backtest MAE and the MAE above which retraining is due, the interval coverage in
        percent, and the largest PSI of the target's series with its threshold.
    """
    rows = history[history["target"] == target].sort_values("computed_at")
    computed = pd.DatetimeIndex(rows["computed_at"]).tz_convert("UTC").tz_localize(None)

    def coverage(level: str) -> list[float]:
        return [100 * float((c or {}).get(level, float("nan"))) for c in rows["coverage"]]

    backtest = rows["backtest_mae"].to_numpy(float)
    return pd.DataFrame(
        {
            "run_time": (computed - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1),
            "computed_at": computed,
            "model_version": rows["model_version"].to_numpy(str),
            "rolling_mae": rows["mae"].to_numpy(float),
            "backtest_mae": backtest,
            "retrain_above": backtest * settings.monitor_mae_ratio,
            "coverage_80": coverage("80"),
            "coverage_95": coverage("95"),
            "psi": rows["psi"].to_numpy(float),
            "psi_threshold": settings.monitor_psi_threshold,
        },
        columns=list(CHART_COLUMNS),
    )


def latest_table(report: pd.DataFrame) -> pd.DataFrame:
    """The run's report (``MonitorReport.frame``) as the rows of a table chart, one per target."""
    columns = [
        "target",
        "model_version",
        "scored_hours",
        "rolling_mae",
        "backtest_mae",
        "coverage",
        "psi",
        "outcome",
        "mage_run_id",
        "reason",
    ]
    table = report[columns].copy()
    for column in ("rolling_mae", "backtest_mae", "psi"):
        table[column] = table[column].astype(float).round(4)
    table["mage_run_id"] = table["mage_run_id"].astype("Int64")  # not 41.0
    return table.astype(object).where(table.notna(), "")
