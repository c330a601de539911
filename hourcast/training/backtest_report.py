"""A training run's backtest: its scores, and the artifact the Mage chart blocks draw from.

:func:`evaluate` scores a backtest (overall and per step, with the seasonal-naive baselines
and interval coverage) for the run's metrics. ``fit_and_log`` stores the rolling-origin
backtest of every run as the artifact ``backtest/backtest.parquet``. The Mage training
pipelines load it by run id, add the seasonal-naive forecasts from the same origins, and
draw three views of it: forecast against actual with the 80 % interval over the window, MAE
per horizon step (model and baselines), and interval coverage per step.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import cast

import mlflow
import numpy as np
import pandas as pd

from hourcast.forecasting.baselines import seasonal_naive
from hourcast.forecasting.scoring import (
    aggregate_series,
    mae,
    mase_scale,
    score,
    score_by_series,
    score_by_step,
)
from hourcast.training.backtest import forecast_from
from hourcast.training.data import series_by_id

__all__ = [
    "BACKTEST_ARTIFACT",
    "BACKTEST_COLUMNS",
    "SEASONS",
    "add_seasonal_naive",
    "evaluate",
    "forecast_window",
    "load_backtest",
    "log_backtest",
    "metrics_table",
    "series_scales",
    "step_metrics",
    "with_baselines",
]

_log = logging.getLogger(__name__)

BACKTEST_ARTIFACT = "backtest/backtest.parquet"
BACKTEST_COLUMNS = ("series_id", "origin", "ts", "step", "actual", "forecast")
SEASONS = (24, 168)
"""Seasonal-naive baselines: same hour yesterday, same hour last week."""

_BASELINE = re.compile(r"^seasonal_naive_\d+$")
_LOWER = re.compile(r"^lo_(\d+)$")


def log_backtest(frame: pd.DataFrame) -> None:
    """Store a backtest (``backtest.backtest_forecaster``) in the active MLflow run."""
    folder, name = BACKTEST_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=folder)


def load_backtest(run_id: str, *, tracking_uri: str) -> pd.DataFrame:
    """The backtest stored with MLflow run ``run_id``.

    Args:
        run_id: A run logged by ``hourcast.training.fit.fit_and_log``.
        tracking_uri: The tracking server.

    Returns:
        pd.DataFrame: ``series_id``, ``origin``, ``ts``, ``step``, ``actual``, ``forecast`` and,
        when the model has intervals, ``lo_80``..``hi_95``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=BACKTEST_ARTIFACT, dst_path=tmp, tracking_uri=tracking_uri
        )
        return pd.read_parquet(path)


def add_seasonal_naive(
    backtest: pd.DataFrame, series: Mapping[str, pd.Series], seasons: Iterable[int] = SEASONS
) -> pd.DataFrame:
    """The backtest, sorted by series, origin and step, with ``seasonal_naive_<season>`` columns.

    Each baseline forecasts the hours of its origin from the hours before it only
    (:func:`hourcast.training.backtest.forecast_from`, so a gap just before the origin is
    skipped, not shifted into the forecast).

    Args:
        backtest: Rows of ``series_id``, ``origin``, ``step`` (one per forecast hour).
        series: Observed values by series id (UTC hours).
        seasons: Baseline seasons in hours. Defaults to :data:`SEASONS`.
    """
    out = backtest.sort_values(["series_id", "origin", "step"], ignore_index=True)
    groups = out.groupby(["series_id", "origin"], sort=False).indices
    for season in seasons:

        def naive(past: pd.Series, horizon: int, _season: int = season) -> pd.Series:
            return seasonal_naive(past, horizon, season=_season)

        values = np.empty(len(out))
        for key, rows in groups.items():
            sid, origin = cast(tuple[str, pd.Timestamp], key)
            values[rows] = forecast_from(naive, series[sid], pd.Timestamp(origin), len(rows))
        out[f"seasonal_naive_{season}"] = values
    return out


def series_scales(
    series_map: Mapping[str, pd.Series], before: pd.Timestamp, season: int = 168
) -> dict[str, float]:
    """Each series' MASE scale: its own seasonal-naive MAE on its hours before ``before``.

    A series too short (or too flat) for one is left out and logged; its MASE is NaN.
    """
    scales = {}
    for sid, series in series_map.items():
        try:
            scales[sid] = mase_scale(series[series.index < before].to_numpy(), season=season)
        except ValueError as exc:
            _log.warning("series %s has no MASE scale: %s", sid, exc)
    return scales


def evaluate(
    frame: pd.DataFrame, series_map: Mapping[str, pd.Series]
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Overall metrics (with baselines and interval coverage), the per-step and per-series tables.

    Every metric is computed per series first (MASE with each series' own scale, from its
    hours before the first origin) and then aggregated: ``holdout_<metric>_series_mean`` and
    ``holdout_<metric>_volume_weighted``
    (:func:`hourcast.forecasting.scoring.aggregate_series` says how). ``holdout_mase`` is the
    mean over series. ``holdout_mae``, ``holdout_rmse`` and ``holdout_smape`` are over every
    scored hour (for MAE the same as the per-series MAEs weighted by scored hours), as the
    gate and the monitor have always compared them.

    Args:
        frame (pd.DataFrame): A backtest (``hourcast.training.backtest.backtest_forecaster``).
        series_map (Mapping[str, pd.Series]): The series it was made from; the hours before
            the first origin scale MASE, and the baselines forecast from them.

    Returns:
        tuple: ``holdout_<metric>`` values (MAE, RMSE, sMAPE, MASE, hours, the per-series
        aggregates, ``coverage_<level>`` per interval level, ``seasonal_naive_<season>_mae``),
        the metrics per step (MASE: mean over series) and the metrics per series.
    """
    scales = series_scales(series_map, frame["origin"].min())
    by_series = score_by_series(frame, scales=scales)
    table = score_by_step(frame)
    table["mase"] = _step_mase(frame, scales).reindex(table.index)
    table.loc["overall", "mase"] = float(by_series["mase"].mean())
    overall = table.loc["overall"]
    metrics = {f"holdout_{key}": float(value) for key, value in overall.items()}
    metrics |= {f"holdout_{key}": value for key, value in aggregate_series(by_series).items()}
    scored = frame["actual"].notna()
    for level in _interval_levels(frame):
        inside = frame["actual"].between(frame[f"lo_{level}"], frame[f"hi_{level}"])
        metrics[f"holdout_coverage_{level}"] = float(inside[scored].mean())
    baselines = add_seasonal_naive(frame, series_map, SEASONS)
    for season in SEASONS:
        metrics[f"holdout_seasonal_naive_{season}_mae"] = score(
            baselines["actual"], baselines[f"seasonal_naive_{season}"]
        )["mae"]
    return metrics, table, by_series


def _step_mase(frame: pd.DataFrame, scales: Mapping[str, float]) -> pd.Series:
    """MASE per step: the mean over series of each series' MAE at that step over its scale."""
    scored = frame[frame["actual"].notna() & frame["series_id"].isin(list(scales))]
    error = (scored["forecast"] - scored["actual"]).abs() / scored["series_id"].map(scales)
    per_series = error.groupby([scored["step"], scored["series_id"]]).mean()
    return per_series.groupby(level=0).mean()


def _interval_levels(backtest: pd.DataFrame) -> list[str]:
    return [m.group(1) for c in backtest.columns if (m := _LOWER.match(c))]


def with_baselines(
    backtest: pd.DataFrame, history: pd.DataFrame, seasons: Iterable[int] = SEASONS
) -> pd.DataFrame:
    """The backtest plus seasonal-naive forecasts from the same origins and the local hour.

    Args:
        backtest: Output of :func:`load_backtest`.
        history: The training frame (``series_id``, ``ts``, ``value``, ``timezone``); only
            hours before each origin are used.
        seasons: Baseline seasons in hours. Defaults to :data:`SEASONS`.

    Returns:
        pd.DataFrame: The backtest sorted by series, origin and step, with
        ``seasonal_naive_<season>`` per season (:func:`add_seasonal_naive`) and ``ts_local``
        (the hour in the series' time zone, without offset).
    """
    missing = sorted(set(BACKTEST_COLUMNS) - set(backtest.columns))
    if missing:
        raise ValueError(f"not a backtest: missing columns {missing}")
    series = series_by_id(history)
    unknown = sorted(set(backtest["series_id"]) - set(series))
    if unknown:
        raise ValueError(f"no history for series {unknown}")
    out = add_seasonal_naive(backtest, series, seasons)
    zones = history.groupby("series_id")["timezone"].first()
    out["ts_local"] = out.groupby("series_id")["ts"].transform(
        lambda ts: ts.dt.tz_convert(zones[str(ts.name)]).dt.tz_localize(None)
    )
    return out


def forecast_window(backtest: pd.DataFrame, series_id: str | None = None) -> pd.DataFrame:
    """One series' forecasts, 80 % interval and actuals over the window, for a line chart.

    Args:
        backtest: Output of :func:`with_baselines`.
        series_id: The series; defaults to the first by id.

    Returns:
        pd.DataFrame: ``local_time`` (the local hour as milliseconds since 1970: Mage's line
        chart needs numbers on its x axis), ``ts_local``, ``actual``, ``forecast``, ``lo_80``,
        ``hi_80``, by hour. Hours without an actual are left out (Mage draws a missing value
        as 0); without intervals ``lo_80`` and ``hi_80`` equal the forecast.
    """
    sid = str(backtest["series_id"].min()) if series_id is None else series_id
    rows = backtest[(backtest["series_id"] == sid) & backtest["actual"].notna()]
    if rows.empty:
        raise ValueError(f"no observed hour of series {sid!r} in the backtest")
    rows = rows.sort_values("ts")
    local = pd.DatetimeIndex(rows["ts_local"])
    return pd.DataFrame(
        {
            "local_time": (local - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1),
            "ts_local": local,
            "actual": rows["actual"].to_numpy(float),
            "forecast": rows["forecast"].to_numpy(float),
            "lo_80": rows.get("lo_80", rows["forecast"]).to_numpy(float),
            "hi_80": rows.get("hi_80", rows["forecast"]).to_numpy(float),
        }
    )


def step_metrics(backtest: pd.DataFrame) -> pd.DataFrame:
    """MAE (model and each baseline) and interval coverage per horizon step, over all series.

    Args:
        backtest: Output of :func:`with_baselines` (or :func:`load_backtest`: no baselines).

    Returns:
        pd.DataFrame: ``step``, ``mae``, ``seasonal_naive_<season>_mae`` per baseline column,
        ``coverage_<level>`` (percent of observed actuals inside the interval) per interval
        level; steps with no observed actual are left out.
    """
    baselines = [c for c in backtest.columns if _BASELINE.match(c)]
    levels = _interval_levels(backtest)
    rows = []
    for step, group in backtest[backtest["actual"].notna()].groupby("step", sort=True):
        row = {"step": int(cast(int, step)), "mae": mae(group["actual"], group["forecast"])}
        row |= {f"{c}_mae": mae(group["actual"], group[c]) for c in baselines}
        for level in levels:
            inside = group["actual"].between(group[f"lo_{level}"], group[f"hi_{level}"])
            row[f"coverage_{level}"] = 100 * float(inside.mean())
        rows.append(row)
    return pd.DataFrame(rows)


def metrics_table(metrics: Mapping[str, float]) -> pd.DataFrame:
    """A run's logged metrics as ``metric`` / ``value`` rows (4 decimals), in logged order."""
    return pd.DataFrame(
        {"metric": list(metrics), "value": [round(float(v), 4) for v in metrics.values()]}
    )
