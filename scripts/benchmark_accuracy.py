"""Accuracy benchmark: Hourcast against baselines and mlforecast on identical daily windows.

For each series, the windows are the last ``--origins`` local midnights of the data (or the
first ones after ``--train-end``); every model forecasts the 24 hours from each midnight,
having been fitted once on the data up to ``train_end`` (the hour before the first origin by
default) and then only fed the new observations, like ``mlforecast``'s
``cross_validation(..., refit=False)``. Only hours with an observed actual are scored, and
all models are scored on exactly the same hours. No observed weather is used by any model.

Every learned model is fitted on the same hours: each observed hour up to ``train_end`` that
Hourcast's forecaster uses as a label (read off its engine: every observed hour but a few at
the very start of the data, which a direct model cannot pair with a step). The benchmark
prints that count for every model and stops if a peer's differs.

Models:

- ``hourcast``: ``hourcast.forecasting.forecaster.Forecaster`` with the series' preset
  (``hourcast.forecasting.presets``): direct 24-step model, holiday calendar for traffic,
  conformal intervals; it reads the series with its gaps as they are.
- baselines (``hourcast.forecasting.baselines``, gaps handled natively): persistence,
  seasonal naive 24 and 168.
- ``mlforecast`` peers, recursive, date features ``hour``, ``dayofweek``, ``month`` computed
  in the series' local time: (a) LightGBM, 500 trees, learning rate 0.05, and (b) XGBoost
  with the library's defaults (no parameter set: xgboost 3 fits 100 trees of depth 6 at
  learning rate 0.3, squared error), on lags 1, 2, 3, 24, 48, 168, RollingMean/RollingStd(24)
  of lag 1 and RollingMean(168) of lag 24; (c) XGBoost, 1000 trees, learning rate 0.03,
  depth 8, subsample 0.8, colsample 0.6, min_child_weight 5, on lags 1-3, every day back to a
  week, 2-4 weeks, RollingMean/Std(24) of lag 1, RollingMean(168) and SeasonalRollingMean(24,
  7) of lag 24, RollingMean(4) and SeasonalRollingMean(168, 4 and 8) of lag 168.

How the peers get the same history. mlforecast needs regular series without holes, while
Hourcast reads the series with its gaps as they are. So the peers' history is cut at every
gap longer than a week (the 10-month hole of 2014-15 in the traffic data cannot be filled
credibly) into segments, each passed as its own ``unique_id``; inside a segment each missing
hour is filled from past values only (a fill that looks ahead, e.g. linear interpolation,
would hand a model, at an origin right after a gap, information from after the origin):

- Traffic: the value one week earlier (traffic is weekly), else one day earlier, else the
  previous hour.
- PM2.5: the last observed value (pollution persists; there is no weekly cycle to copy).

The filled values only feed the features. The training rows are built by mlforecast's own
``preprocess`` (``dropna=False``: like Hourcast's booster, LightGBM and XGBoost take a row
whose lag is not known yet), then only the rows whose label is one of Hourcast's label hours
are kept and passed to ``fit_models``: no filled label is trained on. Forecasts come from
``predict(new_df=...)`` on the segment before each origin, filled the same way. Filled hours
are never scored.

Each run writes its figures to ``benchmarks/accuracy.json`` (``--json-out``; a run of one
series replaces only that series there); ``scripts/readme_tables.py`` writes the README's
accuracy section from it. It ends with the wall time of the whole training pipeline
(``scripts/benchmark_training.py``; ``--no-pipeline`` skips it).

Examples:
    python scripts/benchmark_accuracy.py --series all --origins 84 --no-pipeline
    python scripts/benchmark_accuracy.py --series traffic --strategy both --no-peers
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from hourcast.forecasting.baselines import persistence, seasonal_naive
from hourcast.forecasting.engine import Engine
from hourcast.forecasting.features import HOUR, regularize
from hourcast.forecasting.forecaster import Forecaster
from hourcast.forecasting.presets import preset_for
from hourcast.forecasting.scoring import mase_scale, score
from hourcast.settings import BUNDLED_TRAFFIC_CSV
from hourcast.sources.traffic import TRAFFIC_TIMEZONE, load_traffic
from hourcast.timeutil import parse_instant
from hourcast.training.backtest import ForecastFn, daily_origins, rolling_origin
from hourcast_dev.openaq_fake import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
TRAFFIC_CSV = BUNDLED_TRAFFIC_CSV
PM25_CSV = DATA_DIR / "beijing_pm25" / "PRSA_data_2010.1.1-2014.10.8.csv"
PM25_TIMEZONE = "Asia/Shanghai"
JSON_OUT = ROOT / "benchmarks" / "accuracy.json"
HORIZON = 24
SEED = 0
LEVELS = (80, 95)
LONG_GAP_HOURS = 168
"""A gap longer than this (a week) splits the peers' history into separate series."""

console = Console(width=max(Console().width, 100))
app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


class SeriesChoice(StrEnum):
    """Which series to benchmark."""

    traffic = "traffic"
    pm25 = "pm25"
    all = "all"


class StrategyChoice(StrEnum):
    """Multi-horizon strategy of the Hourcast model."""

    direct = "direct"
    recursive = "recursive"
    both = "both"


@dataclass(frozen=True)
class Benchmarked:
    """One series to benchmark."""

    name: str
    series: pd.Series
    timezone: str
    holiday_calendar: str | None
    preset_source: str
    fill: Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- data
def _fill_weekly(values: np.ndarray) -> np.ndarray:
    """Past-only fill: one week earlier, else one day earlier, else the previous hour."""
    out = values.copy()
    for position in np.flatnonzero(np.isnan(out)):
        for back in (168, 24, 1):
            if position >= back and not np.isnan(out[position - back]):
                out[position] = out[position - back]
                break
    return out


def _fill_forward(values: np.ndarray) -> np.ndarray:
    """Past-only fill: the last observed value."""
    return pd.Series(values).ffill().to_numpy()


def load_traffic_series() -> pd.Series:
    """I-94 traffic volume, regular hourly UTC, gaps as NaN."""
    frame = load_traffic(TRAFFIC_CSV).frame
    return regularize(pd.Series(frame["value"].to_numpy(), index=pd.DatetimeIndex(frame["ts"])))


def load_pm25_series(path: Path) -> pd.Series:
    """Beijing US-Embassy PM2.5, regular hourly UTC (the file is in UTC+8), ``NA`` as NaN."""
    raw = pd.read_csv(path, usecols=["year", "month", "day", "hour", "pm2.5"])
    local = pd.to_datetime(raw[["year", "month", "day", "hour"]])
    index = pd.DatetimeIndex(local).tz_localize(PM25_TIMEZONE).tz_convert("UTC")
    return regularize(pd.Series(raw["pm2.5"].to_numpy(dtype=float), index=index))


def load(name: str, pm25_csv: Path) -> Benchmarked:
    """The series ``name`` with its benchmark settings."""
    if name == "traffic":
        return Benchmarked(
            name="traffic",
            series=load_traffic_series(),
            timezone=TRAFFIC_TIMEZONE,
            holiday_calendar="US-MN",
            preset_source="traffic",
            fill=_fill_weekly,
        )
    return Benchmarked(
        name="pm25",
        series=load_pm25_series(pm25_csv),
        timezone=PM25_TIMEZONE,
        holiday_calendar=None,
        preset_source="openaq",
        fill=_fill_forward,
    )


def segment_starts(observed: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """First hour of each run of observed hours with no gap longer than a week inside."""
    gaps = np.asarray((observed[1:] - observed[:-1]) / HOUR) - 1
    return observed[np.r_[0, np.flatnonzero(gaps > LONG_GAP_HOURS) + 1]]


def _peer_frame(data: Benchmarked, segment: pd.Series) -> pd.DataFrame:
    """One segment as an mlforecast series: ``unique_id``, ``ds`` (naive UTC), filled ``y``."""
    start = pd.Timestamp(segment.index[0])
    return pd.DataFrame(
        {
            "unique_id": f"{data.name}@{start:%Y-%m-%dT%H}",
            "ds": pd.DatetimeIndex(segment.index).tz_localize(None),
            "y": data.fill(segment.to_numpy(dtype=float)),
        }
    )


def peer_training_frame(data: Benchmarked, train_end: pd.Timestamp) -> pd.DataFrame:
    """Every observed hour up to ``train_end``, as one filled series per segment."""
    train = data.series[data.series.index <= train_end]
    observed = pd.DatetimeIndex(train.dropna().index)
    starts = segment_starts(observed)
    ends = [observed[observed < start][-1] for start in starts[1:]] + [observed[-1]]
    return pd.concat(
        [_peer_frame(data, train[start:end]) for start, end in zip(starts, ends, strict=True)],
        ignore_index=True,
    )


def peer_history(data: Benchmarked, origin: pd.Timestamp) -> pd.DataFrame:
    """The segment before ``origin``, filled up to the hour before it.

    A trailing gap longer than a week is not filled: the forecast then starts after the last
    observed hour and covers the gap too.
    """
    past = data.series[data.series.index < origin]
    observed = pd.DatetimeIndex(past.dropna().index)
    start, last = segment_starts(observed)[-1], observed[-1]
    end = last if (origin - last) / HOUR - 1 > LONG_GAP_HOURS else origin - HOUR
    return _peer_frame(data, past[start:end])


def hourcast_label_hours(forecaster: Forecaster, train: pd.Series) -> pd.DatetimeIndex:
    """The hours whose values Hourcast's booster is trained to predict, read off its engine.

    ``Forecaster.fit`` regularizes the observed values and the engine picks its training rows
    (``Engine.training_rows``, with the same seed for the random steps). Run on a copy of the
    series whose values are their positions, with no target transform, the labels it returns
    are the positions of the hours it trains on.
    """
    series = regularize(train.dropna())
    positions = np.where(series.notna(), np.arange(len(series), dtype=float), np.nan)
    engine = Engine(forecaster.config, forecaster.strategy, "none", forecaster.steps_per_hour)
    seed = int(forecaster.params.get("seed", 0))  # Engine.train: seed + series number (0)
    _, labels = engine.training_rows(pd.Series(positions, index=series.index), None, 0.0, seed)
    return pd.DatetimeIndex(series.index[np.unique(labels.astype(int))])


# --------------------------------------------------------------------------- models
@dataclass
class Run:
    """Forecasts of one model over all windows, and what it cost."""

    forecast: np.ndarray
    seconds: float
    intervals: pd.DataFrame | None = None
    latency_ms: tuple[float, float] | None = None
    cpu_seconds: float | None = None
    label_hours: pd.DatetimeIndex | None = None
    """The hours it was trained to predict; None for a model that is not fitted."""


def run_hourcast(
    data: Benchmarked, origins: pd.DatetimeIndex, train_end: pd.Timestamp, strategy: str
) -> Run:
    """Fit once on data up to ``train_end`` (with calibration), forecast every origin."""
    preset = preset_for(data.preset_source)
    forecaster = preset.forecaster(
        timezone=data.timezone, holiday_calendar=data.holiday_calendar, strategy=strategy
    )
    frames: list[pd.DataFrame] = []

    def fit(train: pd.Series) -> ForecastFn:
        forecaster.fit(train[train.index <= train_end])

        def forecast(history: pd.Series, horizon: int) -> pd.Series:
            frame = forecaster.predict_intervals(history, horizon, LEVELS)
            frames.append(frame)
            return frame["value"]

        return forecast

    started, cpu_started = time.perf_counter(), time.process_time()
    result = rolling_origin(data.series, fit, origins, horizon=HORIZON)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    wanted = pd.DatetimeIndex(result["ts"])
    intervals = pd.concat(frames)
    intervals = intervals[~intervals.index.duplicated(keep="last")].reindex(wanted)
    return Run(
        forecast=result["forecast"].to_numpy(),
        seconds=seconds,
        intervals=intervals,
        latency_ms=_latency(forecaster, data.series, origins[-1]),
        cpu_seconds=cpu_seconds,
        label_hours=hourcast_label_hours(forecaster, data.series[data.series.index <= train_end]),
    )


def _latency(
    forecaster: Forecaster, series: pd.Series, origin: pd.Timestamp
) -> tuple[float, float]:
    """Median and worst of 30 timed 24-hour predictions from ``lookback`` hours of history."""
    history = series[series.index < origin].iloc[-forecaster.config.lookback :]
    forecaster.predict(history, HORIZON)  # warm-up
    times = []
    for _ in range(30):
        started = time.perf_counter()
        forecaster.predict(history, HORIZON)
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times)), float(np.max(times))


def run_baseline(data: Benchmarked, origins: pd.DatetimeIndex, forecast: ForecastFn) -> Run:
    """A baseline over every origin (nothing to fit)."""
    started = time.perf_counter()
    result = rolling_origin(data.series, lambda _train: forecast, origins, horizon=HORIZON)
    return Run(result["forecast"].to_numpy(), time.perf_counter() - started)


PEER_DESCRIPTIONS = {
    "mlforecast (a) LightGBM": (
        "LightGBM, 500 trees, learning rate 0.05; 6 lags, 3 rolling means/stds"
    ),
    "mlforecast (b) XGBoost defaults": (
        "XGBoost with nothing set (xgboost's defaults: 100 trees, depth 6, learning rate 0.3); "
        "the features of (a)"
    ),
    "mlforecast (c) XGBoost tuned": (
        "XGBoost, 1000 trees, learning rate 0.03, depth 8, subsampled; 13 lags, 7 rolling "
        "means/stds"
    ),
}
"""One line per peer, for the JSON file and the README."""


def _peer_models() -> dict[str, tuple[Any, dict[str, Any]]]:
    import lightgbm as lgb
    import xgboost as xgb
    from mlforecast.lag_transforms import RollingMean, RollingStd, SeasonalRollingMean

    base = {
        "lags": [1, 2, 3, 24, 48, 168],
        "lag_transforms": {1: [RollingMean(24), RollingStd(24)], 24: [RollingMean(168)]},
    }
    big = {
        "lags": [1, 2, 3, 24, 48, 72, 96, 120, 144, 168, 336, 504, 672],
        "lag_transforms": {
            1: [RollingMean(24), RollingStd(24)],
            24: [RollingMean(168), SeasonalRollingMean(season_length=24, window_size=7)],
            168: [
                RollingMean(4),
                SeasonalRollingMean(season_length=168, window_size=4),
                SeasonalRollingMean(season_length=168, window_size=8),
            ],
        },
    }
    return {
        "mlforecast (a) LightGBM": (
            lgb.LGBMRegressor(
                n_estimators=500, learning_rate=0.05, n_jobs=2, random_state=SEED, verbosity=-1
            ),
            base,
        ),
        # Nothing set: the library's own defaults.
        "mlforecast (b) XGBoost defaults": (xgb.XGBRegressor(), base),
        "mlforecast (c) XGBoost tuned": (
            xgb.XGBRegressor(
                n_estimators=1000,
                learning_rate=0.03,
                max_depth=8,
                subsample=0.8,
                colsample_bytree=0.6,
                min_child_weight=5,
                n_jobs=2,
                random_state=SEED,
            ),
            big,
        ),
    }


def _local_date_features(timezone: str) -> list[Callable[[pd.DatetimeIndex], np.ndarray]]:
    """hour, dayofweek, month of naive-UTC ``ds`` in the series' local time."""

    def local(ds: pd.DatetimeIndex) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(ds).tz_localize("UTC").tz_convert(timezone)

    def hour(ds: pd.DatetimeIndex) -> np.ndarray:
        return local(ds).hour.to_numpy()

    def dayofweek(ds: pd.DatetimeIndex) -> np.ndarray:
        return local(ds).dayofweek.to_numpy()

    def month(ds: pd.DatetimeIndex) -> np.ndarray:
        return local(ds).month.to_numpy()

    return [hour, dayofweek, month]


def run_peers(
    data: Benchmarked,
    origins: pd.DatetimeIndex,
    train_end: pd.Timestamp,
    label_hours: pd.DatetimeIndex,
) -> dict[str, Run]:
    """The mlforecast peers: fitted once on ``label_hours``, then fed the new data.

    Training rows come from ``preprocess`` on every segment up to ``train_end``; only those
    labelled with one of ``label_hours`` (Hourcast's) go to ``fit_models``. Each origin is
    then forecast by ``predict(new_df=...)`` from the segment before it, which is what
    ``cross_validation(..., refit=False)`` does.
    """
    from mlforecast import MLForecast

    train = peer_training_frame(data, train_end)
    labels = pd.DatetimeIndex(label_hours).tz_convert("UTC").tz_localize(None)
    histories = [peer_history(data, origin) for origin in origins]
    naive_origins = origins.tz_convert("UTC").tz_localize(None)
    wanted = np.concatenate([pd.date_range(o, periods=HORIZON, freq="h") for o in naive_origins])
    runs: dict[str, Run] = {}
    for name, (model, features) in _peer_models().items():
        forecaster = MLForecast(
            models={"model": model},
            freq="h",
            date_features=_local_date_features(data.timezone),
            **features,
        )
        started = time.perf_counter()
        prepared = forecaster.preprocess(train, static_features=[], dropna=False)
        rows = prepared[prepared["ds"].isin(labels)]
        trained_on = pd.DatetimeIndex(rows["ds"])
        same = not trained_on.has_duplicates and trained_on.sort_values().equals(
            labels.sort_values()
        )
        if not same or data.series.reindex(trained_on.tz_localize("UTC")).isna().any():
            raise RuntimeError(f"{name} would not train on exactly Hourcast's observed labels")
        forecaster.fit_models(rows[forecaster.ts.features_order_], rows["y"].to_numpy())
        parts = []
        for origin, history in zip(naive_origins, histories, strict=True):
            ahead = int((origin - history["ds"].iloc[-1]) / HOUR) - 1 + HORIZON
            parts.append(forecaster.predict(ahead, new_df=history))
        seconds = time.perf_counter() - started
        result = pd.concat(parts).drop_duplicates("ds", keep="last")
        values = result.set_index("ds")["model"].reindex(wanted).to_numpy()
        runs[name] = Run(values, seconds, label_hours=trained_on.tz_localize("UTC"))
    return runs


# --------------------------------------------------------------------------- report
def _coverage(intervals: pd.DataFrame, actual: np.ndarray) -> dict[str, float]:
    scored = ~np.isnan(actual)
    out: dict[str, float] = {}
    for level in LEVELS:
        low = intervals[f"lo_{level}"].to_numpy()[scored]
        high = intervals[f"hi_{level}"].to_numpy()[scored]
        inside = (actual[scored] >= low) & (actual[scored] <= high)
        out[f"coverage_{level}"] = float(100 * inside.mean())
        out[f"width_{level}"] = float(np.mean(high - low))
    return out


def _kind(name: str) -> str:
    if name.startswith("hourcast"):
        return "hourcast"
    return "peer" if name.startswith("mlforecast") else "baseline"


def _training_hours(runs: dict[str, Run]) -> str:
    """One line: the training hours of every model, and whether the learned ones agree."""
    learned = {
        name: len(run.label_hours) for name, run in runs.items() if run.label_hours is not None
    }
    counts = set(learned.values())
    verdict = (
        f"[green]equal for all {len(learned)} learned models[/]"
        if len(counts) == 1
        else "[red]NOT equal[/]"
    )
    return (
        "training history (observed hours used as training labels): "
        + "; ".join(f"{name} {hours:,}" for name, hours in learned.items())
        + f": {verdict}; baselines fit nothing (they read the last 1, 24 or 168 hours before "
        "each origin)"
    )


def benchmark_series(
    data: Benchmarked,
    *,
    n_origins: int,
    train_end: pd.Timestamp | None,
    strategies: list[str],
    with_peers: bool,
) -> dict[str, Any]:
    """Run every model on one series, print the tables, return the numbers."""
    origins = daily_origins(
        pd.DatetimeIndex(data.series.index),
        timezone=data.timezone,
        n_origins=n_origins,
        horizon=HORIZON,
        train_end=train_end,
    )
    if len(origins) < n_origins:
        raise typer.BadParameter(f"{data.name}: only {len(origins)} origins fit in the data")
    cutoff = origins[0] - HOUR if train_end is None else train_end
    hours = pd.DatetimeIndex(
        np.concatenate([pd.date_range(o, periods=HORIZON, freq="h") for o in origins])
    )
    actual = data.series.reindex(hours).to_numpy()
    console.rule(f"[bold]{data.name}")
    console.print(
        f"train_end {cutoff} UTC; {len(origins)} origins at local midnight ({data.timezone}) "
        f"from {origins[0].tz_convert(data.timezone):%Y-%m-%d} to "
        f"{origins[-1].tz_convert(data.timezone):%Y-%m-%d}; horizon {HORIZON} h; "
        f"{int(np.isfinite(actual).sum())} of {len(actual)} hours observed and scored"
    )
    runs: dict[str, Run] = {}
    for strategy in strategies:
        label = "hourcast" if len(strategies) == 1 else f"hourcast ({strategy})"
        with console.status(f"{data.name}: {label}"):
            runs[label] = run_hourcast(data, origins, cutoff, strategy)
    baselines: dict[str, ForecastFn] = {
        "persistence": persistence,
        "seasonal naive 24": lambda h, n: seasonal_naive(h, n, 24),
        "seasonal naive 168": lambda h, n: seasonal_naive(h, n, 168),
    }
    for name, forecast in baselines.items():
        runs[name] = run_baseline(data, origins, forecast)
    if with_peers:
        reference = runs[next(iter(runs))].label_hours
        assert reference is not None
        with console.status(f"{data.name}: mlforecast peers"):
            runs.update(run_peers(data, origins, cutoff, reference))

    scale = mase_scale(data.series[data.series.index <= cutoff].to_numpy(), 168)
    scores = {name: score(actual, run.forecast, scale=scale) for name, run in runs.items()}
    table = Table(title=f"{data.name}: {len(origins)} daily origins, 24 h ahead")
    columns = ("model", "MAE", "RMSE", "sMAPE %", "MASE", "training h", "fit+backtest s")
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, metrics in scores.items():
        label_hours = runs[name].label_hours
        table.add_row(
            name,
            f"{metrics['mae']:.2f}",
            f"{metrics['rmse']:.2f}",
            f"{metrics['smape']:.2f}",
            f"{metrics['mase']:.3f}",
            "-" if label_hours is None else f"{len(label_hours):,}",
            f"{runs[name].seconds:.1f}",
        )
    console.print(table)
    console.print(_training_hours(runs))

    models: dict[str, dict[str, Any]] = {}
    for name, run in runs.items():
        metrics = scores[name]
        models[name] = {
            "kind": _kind(name),
            "mae": metrics["mae"],
            "rmse": metrics["rmse"],
            "smape": metrics["smape"],
            "mase": metrics["mase"],
            "training_hours": 0 if run.label_hours is None else len(run.label_hours),
            "seconds": run.seconds,
        }
        if name in PEER_DESCRIPTIONS:
            models[name]["description"] = PEER_DESCRIPTIONS[name]
        if run.intervals is None:
            continue
        coverage = _coverage(run.intervals, actual)
        median, worst = run.latency_ms or (float("nan"), float("nan"))
        models[name].update(
            {**coverage, "latency_ms": [median, worst], "cpu_seconds": run.cpu_seconds}
        )
        console.print(
            f"{name}: training (features, calibration fit, fit, {len(origins)}-origin "
            f"backtest) {run.seconds:.1f} s wall ({run.cpu_seconds:.1f} s CPU); 24-h predict "
            f"from a lookback-long "
            f"history: median {median:.1f} ms, worst {worst:.1f} ms; intervals: "
            + ", ".join(
                f"{level}% covers {coverage[f'coverage_{level}']:.1f}% "
                f"(mean width {coverage[f'width_{level}']:.0f})"
                for level in LEVELS
            )
        )
    ours = scores[next(iter(runs))]["mae"]
    peers = {n: s["mae"] for n, s in scores.items() if n.startswith("mlforecast")}
    if peers:
        best = min(peers, key=peers.__getitem__)
        change = 100 * (ours / peers[best] - 1)
        console.print(
            f"hourcast MAE {ours:.2f} vs best mlforecast ({best}) {peers[best]:.2f}: "
            f"{abs(change):.1f}% {'lower' if change < 0 else 'higher'}"
        )
    return {
        "train_end": cutoff.isoformat(),
        "timezone": data.timezone,
        "horizon": HORIZON,
        "origins": [o.isoformat() for o in origins],
        "scored_hours": int(np.isfinite(actual).sum()),
        "models": models,
    }


def write_json(path: Path, reports: dict[str, dict[str, Any]], command: str) -> None:
    """Put each series' report into the JSON file at ``path`` (other series are kept)."""
    document: dict[str, Any] = {"series": {}}
    if path.exists():
        document = json.loads(path.read_text())
    stamp = {
        "command": command,
        "measured_on": datetime.now(UTC).date().isoformat(),
        "cpus": os.cpu_count(),
        "versions": {
            package: version(package) for package in ("xgboost", "lightgbm", "mlforecast")
        },
    }
    for name, report in reports.items():
        document["series"][name] = {**report, **stamp}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


@app.command()
def main(
    *,
    series: Annotated[SeriesChoice, typer.Option(help="Series to benchmark.")] = SeriesChoice.all,
    origins: Annotated[int, typer.Option(min=1, help="Daily origins (local midnights).")] = 84,
    train_end: Annotated[
        Optional[str],  # noqa: UP045 -- typer 0.9 cannot parse X | None
        typer.Option(
            help="Last hour used for fitting, ISO-8601 (no offset = UTC); the origins are then "
            "the first --origins local midnights after it. Default: the hour before the first "
            "of the last --origins midnights of the data."
        ),
    ] = None,
    strategy: Annotated[
        StrategyChoice, typer.Option(help="Hourcast multi-horizon strategy (both: compare).")
    ] = StrategyChoice.direct,
    peers: Annotated[bool, typer.Option(help="Run the mlforecast peers.")] = True,
    pm25_csv: Annotated[Path, typer.Option(help="Beijing PM2.5 CSV.")] = PM25_CSV,
    json_out: Annotated[
        Path,
        typer.Option(
            help="Write the figures here (each series run replaces its entry); the README's "
            "accuracy section is generated from the default file (scripts/readme_tables.py)."
        ),
    ] = JSON_OUT,
    pipeline: Annotated[
        bool,
        typer.Option(help="Also time the whole training pipeline (scripts/benchmark_training.py)."),
    ] = True,
) -> None:
    """Benchmark Hourcast against baselines and mlforecast (MAE, RMSE, intervals, timings)."""
    cutoff = parse_instant(train_end, field="--train-end") if train_end else None
    names = ["traffic", "pm25"] if series is SeriesChoice.all else [series.value]
    strategies = ["direct", "recursive"] if strategy is StrategyChoice.both else [strategy.value]
    reports = {
        name: benchmark_series(
            load(name, pm25_csv),
            n_origins=origins,
            train_end=cutoff,
            strategies=strategies,
            with_peers=peers,
        )
        for name in names
    }
    command = " ".join(["python", "scripts/benchmark_accuracy.py", *sys.argv[1:]])
    write_json(json_out, reports, command)
    console.print(f"figures written to {json_out}")
    if pipeline:
        # A separate process: the pipeline benchmark sets up its own throwaway stores.
        console.rule("[bold]training pipeline wall time")
        script = Path(__file__).with_name("benchmark_training.py")
        subprocess.run([sys.executable, str(script), "--runs", "1"], check=True)


if __name__ == "__main__":
    app()
