"""Scale benchmark: storage, ingestion and training for 10, 100 and 1,000 sensors.

The sensors are synthetic, made from the real Beijing PM2.5 series (``hourcast_dev`` data):
each takes another stretch of it (phase), multiplies it by its own level (scale), adds noise,
and lives in one of six time zones, its diurnal cycle moved to its local hours. For each size
it prints:

- rows stored and ingest rows/s through the project's upsert (``upsert_observations``: COPY
  into a staging table, then ``INSERT ... ON CONFLICT``) into a throwaway PostgreSQL database
  (``HOURCAST_TEST_DATABASE_URL``, default 127.0.0.1:5432);
- the time of the history query the API forecasts from (21 days of every series, one query);
- training wall time and peak memory (max RSS) single-process and on a local Dask cluster of
  ``--workers`` workers with ``--memory-limit`` each, and the holdout MAE of both (the last
  ``--holdout-days`` UTC midnights, 24 h ahead). Each path runs in a fresh process, so its peak
  memory is its own; the Dask figure is the client process plus each worker.

``--steps-per-hour`` below the preset's 4 samples the training rows (fewer random steps per
target hour); run it at 4 and at the lower value on one size to measure the accuracy cost.

Last, the requests an hourly steady-state run makes for 5,000 sensors with no gap, against the
fake OpenAQ server (``hourcast.ingestion.openaq_latest``).

    .venv/bin/python scripts/benchmark_scale.py --sizes 10 --sizes 100
    .venv/bin/python scripts/benchmark_scale.py --sizes 1000 --steps-per-hour 1
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

console = Console(width=max(Console().width, 120))
app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])

ZONES = (
    "Asia/Shanghai",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kolkata",
    "America/Chicago",
    "Australia/Sydney",
)
START = pd.Timestamp("2024-01-01", tz="UTC")
HISTORY_HOURS = 21 * 24
SIZES = [10, 100, 1000]
PATHS = ["single-process", "dask"]


def beijing_pm25() -> pd.Series:
    """The real hourly series (UTC index, NaN where the station reported nothing)."""
    from hourcast_dev.openaq_fake import DATA_DIR

    path = DATA_DIR / "beijing_pm25" / "PRSA_data_2010.1.1-2014.10.8.csv"
    raw = pd.read_csv(path, usecols=["year", "month", "day", "hour", "pm2.5"])
    local = pd.DatetimeIndex(pd.to_datetime(raw[["year", "month", "day", "hour"]]))
    return pd.Series(raw["pm2.5"].to_numpy(float), index=local.tz_localize("Asia/Shanghai"))


def build_fleet(
    count: int, hours: int, seed: int = 0
) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """``count`` synthetic sensors of ``hours`` hours from START, and the time zone of each."""
    real = beijing_pm25().to_numpy()
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=hours, freq="h")
    series, zones = {}, {}
    for number in range(count):
        zone = ZONES[number % len(ZONES)]
        # Beijing's local hour h becomes the zone's local hour h: shift by the offset difference.
        offset = int(
            (START.tz_convert(zone).utcoffset() - pd.Timedelta(hours=8)) / pd.Timedelta(hours=1)
        )
        start = int(rng.integers(0, len(real) - hours - 48)) // 24 * 24 + 24 - offset % 24
        values = real[start : start + hours] * rng.uniform(0.3, 2.0)
        values = np.abs(values + rng.normal(0.0, 0.05 * np.nanmean(values), hours))
        name = f"openaq:bench-{number:05d}"
        series[name], zones[name] = pd.Series(values, index=index), zone
    return series, zones


def measure_storage(
    series: dict[str, pd.Series], zones: dict[str, str], admin_url: str
) -> dict[str, Any]:
    """Upsert every series into a fresh database; time it and the 21-day history query."""
    import sqlalchemy as sa

    from hourcast.series import SeriesSpec
    from hourcast.storage.db import create_db_engine, upgrade
    from hourcast.storage.history import latest_history_arrays_many
    from hourcast.storage.observations import register_series, upsert_observations
    from hourcast_dev import postgres

    url = postgres.create_database(admin_url, "hourcast_scale")
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        with engine.begin() as connection:
            for name in series:
                spec = SeriesSpec(name, "openaq", name, "pm25", "µg/m³", zones[name])
                register_series(connection, spec=spec)
        for name, values in series.items():
            frame = pd.DataFrame({"ts": values.index, "value": values.to_numpy()}).dropna()
            with engine.begin() as connection:
                upsert_observations(connection, series_id=name, frame=frame)
        ingest_s = time.perf_counter() - started
        with engine.connect() as connection:
            stored = int(
                connection.execute(sa.text("SELECT count(*) FROM observations")).scalar_one()
            )
        ids = list(series)[:1000]
        started = time.perf_counter()
        history = latest_history_arrays_many(engine, series_ids=ids, hours=HISTORY_HOURS)
        query_s = time.perf_counter() - started
        assert all(history[i] is not None for i in ids)
    finally:
        engine.dispose()
        postgres.drop_database(admin_url, url)
    return {
        "rows_stored": stored,
        "ingest_rows_per_s": stored / ingest_s,
        "ingest_s": ingest_s,
        "history_series": len(ids),
        "history_query_s": query_s,
    }


def _forecaster(zones: dict[str, str], rounds: int, steps_per_hour: int) -> Any:
    from hourcast.forecasting.features import FeatureConfig
    from hourcast.targets import PM25_TARGET

    forecaster = PM25_TARGET.preset.forecaster(
        timezone="UTC", num_boost_round=rounds, steps_per_hour=steps_per_hour, calibration_days=0
    )
    if "series_timezones" in {f.name for f in dataclasses.fields(FeatureConfig)}:
        config = dataclasses.replace(forecaster.config, series_timezones=dict(zones))
        forecaster = forecaster.clone(config=config)
    return forecaster


def train_one(
    path: str, series: dict[str, pd.Series], zones: dict[str, str], options: dict[str, Any]
) -> dict[str, Any]:
    """Fit on the hours before the holdout, score the holdout (runs in its own process)."""
    from hourcast.forecasting.engine import booster_trainer
    from hourcast.training.backtest import backtest_forecaster, daily_origins

    origins = daily_origins(
        next(iter(series.values())).index, timezone="UTC", n_origins=options["holdout_days"]
    )
    training = {name: s[s.index < origins[0]] for name, s in series.items()}
    forecaster = _forecaster(zones, options["rounds"], options["steps_per_hour"])
    worker_peaks: list[float] = []
    started = time.perf_counter()
    if path == "single-process":
        forecaster.fit(training)
        fit_s = time.perf_counter() - started
    else:
        from distributed import Client, LocalCluster

        from hourcast.training.dask_training import DaskTrainer

        with (
            LocalCluster(
                n_workers=options["workers"],
                threads_per_worker=options["threads"],
                memory_limit=options["memory_limit"],
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,
        ):
            started = time.perf_counter()  # the cluster's start-up is not training
            with booster_trainer(DaskTrainer(client)):
                forecaster.fit(training)
            fit_s = time.perf_counter() - started
            peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            worker_peaks = [kib / 1024 for kib in peaks.values()]
    scored = series
    if options["eval_series"] and options["eval_series"] < len(series):
        # A fixed random subset of the sensors (the same for both paths).
        names = np.random.default_rng(1).choice(list(series), options["eval_series"], replace=False)
        scored = {name: series[name] for name in sorted(names)}
    frame = backtest_forecaster(forecaster, scored, origins, fit=False).dropna(subset=["actual"])
    return {
        "path": path,
        "fit_s": fit_s,
        "rows": int(sum(s.notna().sum() for s in training.values())) * options["steps_per_hour"],
        "client_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mib": worker_peaks,
        "holdout_mae": float((frame["forecast"] - frame["actual"]).abs().mean()),
        "scored_series": len(scored),
    }


def steady_state_requests(sensors: int = 5000) -> dict[str, Any]:
    """Requests of one hourly steady-state run for ``sensors`` sensors with no gap."""
    import httpx

    from hourcast.ingestion.openaq_latest import ingest_openaq_latest
    from hourcast.ingestion.openaq_sensors import OpenAQSelection
    from hourcast.sources.openaq import OpenAQClient
    from hourcast.storage.db import create_db_engine, upgrade
    from hourcast_dev import postgres
    from hourcast_dev.openaq_fake import FakeServer, FleetSpec, create_app

    start = datetime(2024, 3, 1, tzinfo=UTC)
    now = start + timedelta(hours=24)
    admin = postgres.admin_url()
    url = postgres.create_database(admin, "hourcast_steady")
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        with FakeServer(create_app(fleet=FleetSpec(sensors, start, 48), now=now)) as server:

            def run(at: datetime, **kw: Any) -> Any:
                httpx.post(
                    f"{server.url}/_admin/clock", json={"now": at.isoformat()}
                ).raise_for_status()
                httpx.post(f"{server.url}/_admin/reset").raise_for_status()
                with OpenAQClient(server.url, timeout=30.0) as client:
                    return ingest_openaq_latest(
                        engine, client=client, selection=OpenAQSelection(parameters=("pm25",)), **kw
                    )

            run(now, gap_budget=0)  # the first run registers the sensors at their newest hour
            steady = run(now + timedelta(hours=1))
            stats = httpx.get(f"{server.url}/_admin/stats").json()
    finally:
        engine.dispose()
        postgres.drop_database(admin, url)
    return {
        "sensors": sensors,
        "requests": stats["total"],
        "by_path": stats["by_path"],
        "inserted": steady.inserted,
    }


@app.command()
def main(  # noqa: PLR0917 -- typer options
    sizes: Annotated[list[int], typer.Option(help="Sensor counts to benchmark.")] = SIZES,
    hours: Annotated[int, typer.Option(help="Hours per sensor (8,760 = 1 year).")] = 8760,
    rounds: Annotated[int, typer.Option(help="Boosting rounds of both paths.")] = 200,
    steps_per_hour: Annotated[
        int, typer.Option(help="Training rows per target hour (preset: 4; fewer = sampling).")
    ] = 4,
    holdout_days: Annotated[int, typer.Option(help="Daily origins scored.")] = 7,
    workers: Annotated[int, typer.Option(help="Local Dask workers.")] = 2,
    threads: Annotated[int, typer.Option(help="Threads per Dask worker.")] = 1,
    memory_limit: Annotated[str, typer.Option(help="Memory limit of each Dask worker.")] = "4GiB",
    eval_series: Annotated[
        int, typer.Option(help="Score the holdout on this many random sensors (0 = all).")
    ] = 0,
    paths: Annotated[
        list[str], typer.Option(help="Training paths to run: single-process and/or dask.")
    ] = PATHS,
    storage_hours: Annotated[
        int, typer.Option(help="Hours per sensor stored for the storage figures (0 = all).")
    ] = 0,
    storage: Annotated[
        bool, typer.Option(help="Measure ingestion and the history query (PostgreSQL).")
    ] = True,
    steady_state: Annotated[
        bool, typer.Option(help="Count the 5,000-sensor steady-state requests.")
    ] = True,
    json_out: Annotated[str, typer.Option(help="Also write the figures to this file.")] = "",
) -> None:
    """Run the benchmark and print one table per size."""
    from hourcast_dev import postgres

    options: dict[str, Any] = {
        "rounds": rounds,
        "steps_per_hour": steps_per_hour,
        "holdout_days": holdout_days,
        "workers": workers,
        "threads": threads,
        "eval_series": eval_series,
        "memory_limit": memory_limit,
    }
    results: dict[str, Any] = {"options": options, "sizes": {}}
    spawn = multiprocessing.get_context("spawn")
    with Progress(console=console) as progress:
        task = progress.add_task("sizes", total=len(sizes) * 4 + int(steady_state))
        for size in sizes:
            series, zones = build_fleet(size, hours)
            progress.advance(task)
            figures: dict[str, Any] = {}
            if storage:
                stored = (
                    {n: v.iloc[-storage_hours:] for n, v in series.items()}
                    if storage_hours
                    else series
                )
                figures["storage"] = measure_storage(stored, zones, postgres.admin_url())
            progress.advance(task)
            for path in paths:
                with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                    figures[path] = pool.submit(train_one, path, series, zones, options).result()
                progress.advance(task)
            results["sizes"][size] = figures
            if set(PATHS) <= set(figures):
                _print_size(size, hours, figures)
            else:
                console.print_json(data=figures)
        if steady_state:
            results["steady_state"] = steady_state_requests()
            progress.advance(task)
            found = results["steady_state"]
            console.print(
                f"hourly steady-state run, {found['sensors']:,} sensors, no gap: "
                f"{found['requests']} requests {found['by_path']}"
            )
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2, default=str) + "\n")


def _print_size(size: int, hours: int, figures: dict[str, Any]) -> None:
    table = Table(title=f"{size:,} sensors x {hours:,} hours")
    table.add_column("figure")
    table.add_column("single-process", justify="right")
    table.add_column("Dask (local cluster)", justify="right")
    if "storage" in figures:
        s = figures["storage"]
        table.add_row("rows stored", f"{s['rows_stored']:,}", "")
        table.add_row("ingest rows/s (upsert, PostgreSQL)", f"{s['ingest_rows_per_s']:,.0f}", "")
        table.add_row(
            f"history query, {s['history_series']:,} series x 21 days",
            f"{s['history_query_s']:.2f} s",
            "",
        )
    single, dask = figures["single-process"], figures["dask"]
    table.add_row("training rows", f"{single['rows']:,}", f"{dask['rows']:,}")
    table.add_row("training wall time", f"{single['fit_s']:.1f} s", f"{dask['fit_s']:.1f} s")
    workers = " + ".join(f"{m:,.0f}" for m in dask["worker_peak_mib"])
    table.add_row(
        "peak memory (max RSS)",
        f"{single['client_peak_mib']:,.0f} MiB",
        f"client {dask['client_peak_mib']:,.0f} MiB, workers {workers} MiB",
    )
    ratio = dask["holdout_mae"] / single["holdout_mae"] - 1
    table.add_row("holdout scored on", f"{single['scored_series']:,} sensors", "")
    table.add_row(
        "holdout MAE", f"{single['holdout_mae']:.2f}", f"{dask['holdout_mae']:.2f} ({ratio:+.1%})"
    )
    console.print(table)


if __name__ == "__main__":
    app()
