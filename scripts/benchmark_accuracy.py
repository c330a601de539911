"""Accuracy benchmark: Hourcast against baselines and mlforecast on identical daily windows.

For each series, the windows are the last ``--origins`` local midnights of the data (or the
first ones after ``--train-end``); every model forecasts the 24 hours from each midnight,
having been fitted once on the data up to ``train_end`` (the hour before the first origin by
default) and then only fed the new observations, like ``mlforecast``'s
``cross_validation(..., refit=False)``. Only hours with an observed actual are scored, and
all models are scored on exactly the same hours. No observed weather is used by any model.

Models:

- ``hourcast``: ``hourcast.forecasting.forecaster.Forecaster`` with the series' preset
  (``hourcast.forecasting.presets``): direct 24-step model, holiday calendar for traffic,
  conformal intervals; it reads the series with its gaps as they are.
- baselines (``hourcast.forecasting.baselines``, gaps handled natively): persistence,
  seasonal naive 24 and 168.
- ``mlforecast`` peers, recursive, date features ``hour``, ``dayofweek``, ``month`` computed
  in the series' local time: (a) LightGBM and (b) XGBoost, 500 trees, learning rate 0.05, on
  lags 1, 2, 3, 24, 48, 168, RollingMean/RollingStd(24) of lag 1 and RollingMean(168) of lag
  24; (c) XGBoost, 1000 trees, learning rate 0.03, depth 8, subsample 0.8, colsample 0.6,
  min_child_weight 5, on lags 1-3, every day back to a week, 2-4 weeks, RollingMean/Std(24)
  of lag 1, RollingMean(168) and SeasonalRollingMean(24, 7) of lag 24, RollingMean(4) and
  SeasonalRollingMean(168, 4 and 8) of lag 168.

How the peers get a regular series (mlforecast needs one). A careful user fills gaps with
past values only: a fill that looks ahead (e.g. linear interpolation) would hand a model,
at an origin right after a gap, information from after the origin.

- Traffic: the history starts after the last gap longer than a week before ``train_end``
  (the 10-month hole of 2014-15 cannot be filled credibly); each remaining missing hour takes
  the value one week earlier (traffic is weekly), else one day earlier, else the previous
  hour.
- PM2.5: no gap is longer than a week; each missing hour takes the last observed value
  (pollution persists; there is no weekly cycle to copy).

Filled hours are never scored.

It ends with the wall time of the whole ``train_traffic`` pipeline
(``scripts/benchmark_training.py``; ``--no-pipeline`` skips it).

Examples:
    python scripts/benchmark_accuracy.py --series all --origins 84
    python scripts/benchmark_accuracy.py --series traffic --strategy both --no-peers
"""

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from hourcast.forecasting.baselines import persistence, seasonal_naive
from hourcast.forecasting.features import HOUR, regularize
from hourcast.forecasting.forecaster import Forecaster
from hourcast.forecasting.presets import preset_for
from hourcast.forecasting.scoring import mase_scale, score
from hourcast.settings import BUNDLED_TRAFFIC_CSV
from hourcast.sources.traffic import TRAFFIC_TIMEZONE, load_traffic
from hourcast.timeutil import parse_instant
from hourcast.training.backtest import ForecastFn, daily_origins, rolling_origin
from hourcast_dev.openaq_fake import DATA_DIR

TRAFFIC_CSV = BUNDLED_TRAFFIC_CSV
PM25_CSV = DATA_DIR / "beijing_pm25" / "PRSA_data_2010.1.1-2014.10.8.csv"
PM25_TIMEZONE = "Asia/Shanghai"
HORIZON = 24
SEED = 0
LEVELS = (80, 95)

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
    history_start: Callable[[pd.Series, pd.Timestamp], pd.Timestamp]


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


def _after_last_long_gap(series: pd.Series, train_end: pd.Timestamp) -> pd.Timestamp:
    """First hour after the last gap longer than a week that ends before ``train_end``."""
    observed = pd.DatetimeIndex(series[series.index <= train_end].dropna().index)
    gaps = (observed[1:] - observed[:-1]) / HOUR
    long_gaps = np.flatnonzero(np.asarray(gaps) > 168)
    return observed[long_gaps[-1] + 1] if len(long_gaps) else observed[0]


def _first_observed(series: pd.Series, train_end: pd.Timestamp) -> pd.Timestamp:
    return pd.DatetimeIndex(series.dropna().index)[0]


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
            history_start=_after_last_long_gap,
        )
    return Benchmarked(
        name="pm25",
        series=load_pm25_series(pm25_csv),
        timezone=PM25_TIMEZONE,
        holiday_calendar=None,
        preset_source="openaq",
        fill=_fill_forward,
        history_start=_first_observed,
    )


# --------------------------------------------------------------------------- models
@dataclass
class Run:
    """Forecasts of one model over all windows, and what it cost."""

    forecast: np.ndarray
    seconds: float
    intervals: pd.DataFrame | None = None
    latency_ms: tuple[float, float] | None = None
    cpu_seconds: float | None = None


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
        "mlforecast (b) XGBoost": (
            xgb.XGBRegressor(n_estimators=500, learning_rate=0.05, n_jobs=2, random_state=SEED),
            base,
        ),
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
    data: Benchmarked, origins: pd.DatetimeIndex, train_end: pd.Timestamp
) -> dict[str, Run]:
    """mlforecast fitted once on the filled history up to ``train_end``, then fed new data.

    With the default ``train_end`` (the hour before the first origin) and origins 24 h apart
    this is exactly ``cross_validation(..., refit=False)``; otherwise the same thing is done
    by one ``fit`` and a ``predict(new_df=...)`` per origin.
    """
    from mlforecast import MLForecast

    end = origins[-1] + (HORIZON - 1) * HOUR
    start = data.history_start(data.series, train_end)
    window = data.series[(data.series.index >= start) & (data.series.index <= end)]
    frame = pd.DataFrame(
        {
            "unique_id": data.name,
            "ds": pd.DatetimeIndex(window.index).tz_localize(None),
            "y": data.fill(window.to_numpy()),
        }
    )
    naive_origins = origins.tz_localize(None)
    spacing = np.asarray((naive_origins[1:] - naive_origins[:-1]) / HOUR)
    aligned = bool(train_end == origins[0] - HOUR and (spacing == HORIZON).all())
    runs: dict[str, Run] = {}
    for name, (model, features) in _peer_models().items():
        forecaster = MLForecast(
            models={"model": model},
            freq="h",
            date_features=_local_date_features(data.timezone),
            **features,
        )
        started = time.perf_counter()
        if aligned:
            result = forecaster.cross_validation(
                frame, n_windows=len(origins), h=HORIZON, step_size=HORIZON, refit=False
            )
            cutoffs = pd.DatetimeIndex(result["cutoff"].unique()) + HOUR
            if not cutoffs.equals(pd.DatetimeIndex(naive_origins)):
                raise RuntimeError("mlforecast windows do not match the origins")
        else:
            forecaster.fit(frame[frame["ds"] <= train_end.tz_localize(None)])
            result = pd.concat(
                [forecaster.predict(HORIZON, new_df=frame[frame["ds"] < o]) for o in naive_origins]
            )
        seconds = time.perf_counter() - started
        wanted = np.concatenate(
            [pd.date_range(o, periods=HORIZON, freq="h") for o in naive_origins]
        )
        values = result.set_index("ds")["model"].reindex(wanted).to_numpy()
        runs[name] = Run(values, seconds)
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
        with console.status(f"{data.name}: mlforecast peers"):
            runs.update(run_peers(data, origins, cutoff))

    scale = mase_scale(data.series[data.series.index <= cutoff].to_numpy(), 168)
    scores = {name: score(actual, run.forecast, scale=scale) for name, run in runs.items()}
    table = Table(title=f"{data.name}: {len(origins)} daily origins, 24 h ahead")
    for column in ("model", "MAE", "RMSE", "sMAPE %", "MASE", "fit+backtest s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, metrics in scores.items():
        table.add_row(
            name,
            f"{metrics['mae']:.2f}",
            f"{metrics['rmse']:.2f}",
            f"{metrics['smape']:.2f}",
            f"{metrics['mase']:.3f}",
            f"{runs[name].seconds:.1f}",
        )
    console.print(table)

    report: dict[str, Any] = {
        "series": data.name,
        "train_end": str(cutoff),
        "origins": [str(o) for o in origins],
        "scored_hours": int(np.isfinite(actual).sum()),
        "scores": scores,
        "seconds": {name: run.seconds for name, run in runs.items()},
    }
    for name, run in runs.items():
        if run.intervals is None:
            continue
        coverage = _coverage(run.intervals, actual)
        median, worst = run.latency_ms or (float("nan"), float("nan"))
        report.setdefault("hourcast", {})[name] = {
            **coverage,
            "latency_ms": [median, worst],
            "cpu_seconds": run.cpu_seconds,
        }
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
        console.print(
            f"hourcast MAE {ours:.2f} vs best mlforecast ({best}) {peers[best]:.2f}: "
            f"{100 * (1 - ours / peers[best]):+.1f}% better"
        )
    return report


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
        Optional[Path],  # noqa: UP045
        typer.Option(help="Also write the numbers to this JSON file."),
    ] = None,
    pipeline: Annotated[
        bool,
        typer.Option(
            help="Also time the whole train_traffic pipeline (scripts/benchmark_training.py)."
        ),
    ] = True,
) -> None:
    """Benchmark Hourcast against baselines and mlforecast (MAE, RMSE, intervals, timings)."""
    cutoff = parse_instant(train_end, field="--train-end") if train_end else None
    names = ["traffic", "pm25"] if series is SeriesChoice.all else [series.value]
    strategies = ["direct", "recursive"] if strategy is StrategyChoice.both else [strategy.value]
    reports = [
        benchmark_series(
            load(name, pm25_csv),
            n_origins=origins,
            train_end=cutoff,
            strategies=strategies,
            with_peers=peers,
        )
        for name in names
    ]
    if json_out is not None:
        json_out.write_text(json.dumps(reports, indent=2, default=str))
    if pipeline:
        # A separate process: the pipeline benchmark sets up its own throwaway stores.
        console.rule("[bold]train_traffic pipeline wall time")
        script = Path(__file__).with_name("benchmark_training.py")
        subprocess.run([sys.executable, str(script), "--runs", "1"], check=True)


if __name__ == "__main__":
    app()
