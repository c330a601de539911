"""Throughput and latency of the inference API against ``mlflow models serve``, same model.

Everything is throwaway and on loopback: a tracking server (SQLite, local artifacts), the
traffic champion trained with the production preset on the bundled data and registered
(``--num-boost-round`` changes its tree count), then both servers for that registered
version, on the same machine and cores:

- the API as its image runs it, ``python -m inference_api`` (``--workers`` processes of
  ``--threads`` XGBoost threads each), authenticated with a token of a throwaway user when the
  API has auth;
- ``mlflow models serve -m models:/hourcast-traffic-volume@champion --env-manager local -w 2``.

One load generator drives both, for ``--seconds`` per scenario after a 2 s warm-up: wrk (one
thread, as many connections as clients) when it is on PATH (``apt-get install wrk``), else an
asyncio aiohttp client (``--load-generator``); bodies are encoded once. It shares the two cores
with the servers, so the table shows the CPU it spent per request. It prints requests/s, p50,
p99 and errors for:

- a 24-hour forecast with 21 days (504 hours) of history in the request, at 1 client and at
  32 concurrent clients; the 32-client runs are made ``--rounds`` times, alternating between
  the servers, and the table shows the round of median rate (the rates of every round and the
  ratio of the medians follow it);
- a batch of 1,000 series x 24 hours, each with 14 days of history in the request (the API
  only: ``mlflow models serve`` takes one series per request), ``--batches`` times in a row;
- the API's single forecasts at 1 client while two other clients send such batches back to
  back;
- the API's resident memory (every worker process) after the runs.

    .venv/bin/python scripts/benchmark_api.py
    .venv/bin/python scripts/benchmark_api.py --num-boost-round 100 --seconds 10
    .venv/bin/python scripts/benchmark_api.py --keep-model .hourcast/bench/traffic-600
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import orjson
import pandas as pd
import psutil
import typer
from rich.console import Console
from rich.table import Table

console = Console()
MODEL = "hourcast-traffic-volume"
SERIES = "traffic:i94-westbound"


@dataclass(frozen=True)
class Outcome:
    """One scenario against one server."""

    server: str
    scenario: str
    requests: int  # answered 200
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    client_cpu: float  # CPU seconds the load generator spent

    @property
    def rate(self) -> float:
        """Answered requests per second."""
        return self.requests / self.seconds


def _quantile(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


async def drive(
    url: str, body: bytes, headers: dict[str, str], *, clients: int, seconds: float
) -> tuple[int, int, float, float, float]:
    """``clients`` concurrent loops posting ``body`` for ``seconds``; (ok, errors, s, p50, p99).

    aiohttp rather than httpx: the load generator shares the two cores with the servers, and
    httpx spent 7.7 ms of CPU per request at 32 clients here (2.8 ms at one), so that it held
    back whichever server it drove; aiohttp's client spends a fraction of that.
    """
    latencies: list[float] = []
    errors = 0
    headers = {**headers, "content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    p50, p99 = _quantile(latencies, 0.5), _quantile(latencies, 0.99)
    return len(latencies), errors, elapsed, p50, p99


# wrk's script: POST the body file with the headers; print the figures in one line at the end.
_WRK_SCRIPT = """
wrk.method = "POST"
local file = assert(io.open({body_path}, "rb"))
wrk.body = file:read("*a")
file:close()
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def drive_wrk(
    url: str, body: bytes, headers: dict[str, str], *, clients: int, seconds: float
) -> tuple[int, int, float, float, float]:
    """:func:`drive` by wrk (one thread, ``clients`` connections); (ok, errors, s, p50, p99).

    wrk is C and spends 25 to 75 microseconds of CPU per request where aiohttp spends 160
    to 420 here, CPU that the servers on the same two cores then have (see ``client CPU``).
    """
    with tempfile.TemporaryDirectory(prefix="hourcast-wrk-") as folder:
        body_path = Path(folder) / "body.json"
        body_path.write_bytes(body)
        lines = [
            f"wrk.headers[{_lua(name)}] = {_lua(value)}"
            for name, value in {**headers, "Content-Type": "application/json"}.items()
        ]
        script = Path(folder) / "post.lua"
        script.write_text(
            _WRK_SCRIPT.format(body_path=_lua(str(body_path)), headers="\n".join(lines))
        )
        command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "60s"]
        done = subprocess.run(
            [*command, "-s", str(script), url], capture_output=True, text=True, check=True
        )
    figures = next(line for line in done.stdout.splitlines() if line.startswith("WRK "))
    answered, micros, status_errors, socket_errors, p50, p99 = map(int, figures.split()[1:])
    ok = answered - status_errors
    return ok, status_errors + socket_errors, micros / 1e6, p50 / 1000, p99 / 1000


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def measure(
    server: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    clients: int,
    seconds: float,
    generator: str,
) -> Outcome:
    """One scenario after a 2 s warm-up, with the load generator's own CPU time."""

    def run(seconds: float) -> tuple[int, int, float, float, float]:
        if generator == "wrk":
            return drive_wrk(url, body, headers, clients=clients, seconds=seconds)
        return asyncio.run(drive(url, body, headers, clients=clients, seconds=seconds))

    run(2)
    before = _cpu_seconds()
    ok, errors, elapsed, p50, p99 = run(seconds)
    scenario = f"24 h, 504 h history, {clients} client(s)"
    return Outcome(server, scenario, ok, errors, elapsed, p50, p99, _cpu_seconds() - before)


def _beside_batches(
    api_url: str,
    body: bytes,
    headers: dict[str, str],
    batch_body: bytes,
    *,
    seconds: float,
    generator: str,
) -> Outcome:
    """One client's forecasts while two other clients send batches back to back."""
    stop = threading.Event()

    def send_batches() -> None:
        with httpx.Client(timeout=300) as client:
            while not stop.is_set():
                client.post(
                    f"{api_url}/v1/forecast/batch",
                    content=batch_body,
                    headers={**headers, "content-type": "application/json"},
                )

    senders = [threading.Thread(target=send_batches) for _ in range(2)]
    for sender in senders:
        sender.start()
    try:
        outcome = measure(
            "hourcast API",
            f"{api_url}/v1/forecast",
            body,
            headers,
            clients=1,
            seconds=seconds,
            generator=generator,
        )
    finally:
        stop.set()
        for sender in senders:
            sender.join()
    # The batch senders run in this process: the load generator's CPU is not told apart here.
    scenario = f"{outcome.scenario}, 2 clients sending batches"
    return dataclasses.replace(outcome, scenario=scenario, client_cpu=math.nan)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _traffic() -> pd.DataFrame:
    from hourcast.settings import BUNDLED_TRAFFIC_CSV
    from hourcast.sources.traffic import load_traffic

    return load_traffic(BUNDLED_TRAFFIC_CSV).frame


def register_champion(tracking_uri: str, num_boost_round: int | None, saved: Path | None) -> str:
    """Fit the traffic preset on the bundled data, log, register, make it champion.

    With ``saved``, a forecaster folder kept there by an earlier run is registered instead of
    fitting again (a fit of 600 trees takes minutes), and a new fit is kept there.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from hourcast.forecasting.forecaster import Forecaster
    from hourcast.forecasting.presets import TRAFFIC
    from hourcast.series import TRAFFIC_I94
    from hourcast.training.tracking import log_forecaster, register_model_version

    frame = _traffic()
    series = pd.Series(frame.value.to_numpy(), index=pd.DatetimeIndex(frame.ts))
    overrides = {} if num_boost_round is None else {"num_boost_round": num_boost_round}
    if saved is not None and (saved / "forecaster.json").exists():
        forecaster = Forecaster.load(saved)
        console.print(f"registering the forecaster kept in {saved}")
    else:
        forecaster = TRAFFIC.forecaster(
            timezone=TRAFFIC_I94.timezone, holiday_calendar="US-MN", **overrides
        )
        started = time.perf_counter()
        forecaster.fit({SERIES: series})
        console.print(
            f"fitted {forecaster.num_boost_round} trees in {time.perf_counter() - started:.0f} s"
        )
        if saved is not None:
            forecaster.save(saved)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("benchmark-api")
    with mlflow.start_run():
        info = log_forecaster(forecaster, history_example=frame[["ts", "value"]].tail(48))
    version = register_model_version(
        tracking_uri=tracking_uri, model_uri=info.model_uri, name=MODEL, tags={}
    )
    MlflowClient(tracking_uri).set_registered_model_alias(MODEL, "champion", version)
    return version


def _history(frame: pd.DataFrame, hours: int, end: int) -> list[tuple[str, float]]:
    part = frame.iloc[end - hours : end]
    return [(ts.isoformat(), float(v)) for ts, v in zip(part.ts, part.value, strict=True)]


def api_token(url: str, database_url: str) -> dict[str, str]:
    """A throwaway user's bearer token when the API has auth; else no header."""
    if "/v1/auth/token" not in httpx.get(f"{url}/openapi.json").json()["paths"]:
        return {}
    from hourcast.auth.store import add_user
    from hourcast.storage.db import create_db_engine

    password = secrets.token_urlsafe(16)
    engine = create_db_engine(database_url)
    add_user(engine, username="benchmark", password=password, role="user", replace=True)
    engine.dispose()
    answer = httpx.post(
        f"{url}/v1/auth/token", data={"username": "benchmark", "password": password}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def resident_mib(pid: int) -> tuple[float, int]:
    """Resident memory of a process and its children (MiB), and how many processes."""
    process = psutil.Process(pid)
    family = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in family) / 2**20, len(family)


def main(
    *,
    seconds: float = typer.Option(15.0, help="Seconds each scenario runs (after a warm-up)."),
    workers: int = typer.Option(2, help="API worker processes (HOURCAST_API_WORKERS)."),
    threads: int = typer.Option(1, help="XGBoost threads per API worker (HOURCAST_API_THREADS)."),
    num_boost_round: int = typer.Option(0, help="Trees of the model; 0: the preset's (600)."),
    batches: int = typer.Option(3, help="Batches of 1,000 series sent one after another."),
    rounds: int = typer.Option(
        3, min=1, help="32-client runs of each server, alternating; the median is reported."
    ),
    load_generator: str = typer.Option(
        "auto", help="wrk, aiohttp, or auto: wrk if it is on PATH (apt-get install wrk)."
    ),
    skip_mlflow: bool = typer.Option(False, help="Do not start mlflow models serve."),
    keep_model: str = typer.Option(
        "", help="Folder to keep the fitted forecaster in and reuse on the next run."
    ),
) -> None:
    """Start both servers for one registered model, load them, print the figures."""
    if load_generator == "auto":
        load_generator = "wrk" if shutil.which("wrk") else "aiohttp"
    if load_generator not in ("wrk", "aiohttp"):
        raise typer.BadParameter("wrk, aiohttp or auto", param_hint="--load-generator")
    from hourcast.storage.db import create_db_engine, upgrade
    from hourcast_dev import local_stack

    python_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="hourcast-bench-api-") as tmp:
        home, run_dir = Path(tmp), Path(tmp) / "run"
        mlflow_port, api_port, serve_port = (local_stack.free_port() for _ in range(3))
        tracking_uri = f"http://127.0.0.1:{mlflow_port}"
        database_url = f"sqlite:///{home / 'store.db'}"
        engine = create_db_engine(database_url)
        upgrade(engine)
        engine.dispose()
        try:
            local_stack.start(
                local_stack.mlflow_service(
                    port=mlflow_port,
                    backend_store_uri=f"sqlite:///{home / 'mlflow.db'}",
                    artifacts_destination=str(home / "artifacts"),
                    env={},
                ),
                run_dir,
            )
            version = register_champion(
                tracking_uri, num_boost_round or None, Path(keep_model) if keep_model else None
            )
            env = {
                "HOURCAST_HOME": str(home),
                "HOURCAST_DATABASE_URL": database_url,
                "HOURCAST_MLFLOW_TRACKING_URI": tracking_uri,
                "HOURCAST_API_MODELS": "traffic",
                "HOURCAST_API_WORKERS": str(workers),
                "HOURCAST_API_THREADS": str(threads),
                "HOURCAST_API_TOKEN_MINUTES": "600",
                "HOURCAST_JWT_SECRET_KEY": secrets.token_urlsafe(32),
            }
            api_command = [sys.executable, "-m", "inference_api", "--port", str(api_port)]
            api_url = f"http://127.0.0.1:{api_port}"
            local_stack.start(
                local_stack.Service("api", api_command, f"{api_url}/ready", env), run_dir
            )
            headers = api_token(api_url, database_url)
            servers = [("hourcast API", f"{api_url}/v1/forecast", headers)]
            if not skip_mlflow:
                serve = [
                    str(python_bin / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    f"models:/{MODEL}@champion",
                    "--env-manager",
                    "local",
                    "-w",
                    "2",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(serve_port),
                ]
                serve_url = f"http://127.0.0.1:{serve_port}"
                # It runs `uvicorn` through a shell: the virtualenv's bin goes first on PATH.
                serve_env = {
                    "MLFLOW_TRACKING_URI": tracking_uri,
                    "PATH": f"{python_bin}{os.pathsep}{os.environ.get('PATH', '')}",
                }
                local_stack.start(
                    local_stack.Service("serve", serve, f"{serve_url}/ping", serve_env), run_dir
                )
                servers.append(("mlflow models serve -w 2", f"{serve_url}/invocations", {}))

            frame = _traffic()
            history = _history(frame, 504, len(frame))
            bodies = {
                "hourcast API": orjson.dumps(
                    {
                        "series_id": SERIES,
                        "horizon": 24,
                        "history": [{"ts": ts, "value": v} for ts, v in history],
                    }
                ),
                "mlflow models serve -w 2": orjson.dumps(
                    {
                        "dataframe_split": {"columns": ["ts", "value"], "data": history},
                        "params": {"horizon": 24},
                    }
                ),
            }
            for name, url, server_headers in servers:
                answer = httpx.post(
                    url,
                    content=bodies[name],
                    headers={**server_headers, "content-type": "application/json"},
                    timeout=120,
                )
                if answer.status_code != 200:
                    raise SystemExit(f"{name} answered {answer.status_code}: {answer.text[:500]}")
            outcomes = [
                measure(
                    name,
                    url,
                    bodies[name],
                    server_headers,
                    clients=1,
                    seconds=seconds,
                    generator=load_generator,
                )
                for name, url, server_headers in servers
            ]
            # The 32-client runs alternate between the servers, so that a slow spell of the
            # machine falls on both.
            for _ in range(rounds):
                for name, url, server_headers in servers:
                    outcomes.append(
                        measure(
                            name,
                            url,
                            bodies[name],
                            server_headers,
                            clients=32,
                            seconds=seconds,
                            generator=load_generator,
                        )
                    )

            batch_times, batch_errors = [], 0
            items = [
                {
                    "series_id": SERIES,
                    "horizon": 24,
                    "history": [
                        {"ts": ts, "value": v} for ts, v in _history(frame, 336, len(frame) - i)
                    ],
                }
                for i in range(1000)
            ]
            batch_body = orjson.dumps({"series": items})
            with httpx.Client(timeout=300) as client:
                for _ in range(batches):
                    started = time.perf_counter()
                    answer = client.post(
                        f"{api_url}/v1/forecast/batch",
                        content=batch_body,
                        headers={**headers, "content-type": "application/json"},
                    )
                    elapsed = time.perf_counter() - started
                    results = answer.json()["results"] if answer.status_code == 200 else []
                    if answer.status_code != 200 or any(r["status"] != 200 for r in results):
                        batch_errors += 1
                    batch_times.append(elapsed)
            outcomes.append(
                _beside_batches(
                    api_url,
                    bodies["hourcast API"],
                    headers,
                    batch_body,
                    seconds=seconds,
                    generator=load_generator,
                )
            )
            api_pid = local_stack.running(run_dir)["api"]
            memory, processes = resident_mib(api_pid)
        finally:
            for name in ("serve", "api", "mlflow"):
                local_stack.stop(run_dir, name)

    table = Table(
        title=f"{MODEL} v{version}, loopback, {os.cpu_count()} cores, load by {load_generator}"
    )
    for column in ("server", "scenario", "requests/s", "p50 ms", "p99 ms", "errors", "client CPU"):
        table.add_column(column, justify="right" if column != "server" else "left")
    for outcome in _medians(outcomes):
        table.add_row(
            outcome.server,
            outcome.scenario,
            f"{outcome.rate:,.1f}",
            f"{outcome.p50_ms:.1f}",
            f"{outcome.p99_ms:.1f}",
            str(outcome.errors),
            ""
            if math.isnan(outcome.client_cpu)
            else f"{outcome.client_cpu / max(outcome.requests, 1) * 1e6:.0f} us/req",
        )
    table.add_row(
        "hourcast API",
        f"batch 1,000 series x 24 h, 336 h history each ({len(batch_body) / 2**20:.1f} MiB), "
        f"{batches} in a row",
        f"{len(batch_times) / sum(batch_times):.2f}",
        f"{statistics.median(batch_times) * 1000:.0f}",
        f"{max(batch_times) * 1000:.0f} (max)",
        str(batch_errors),
        "",
    )
    console.print(table)
    rates = {
        server: [
            o.rate for o in outcomes if o.server == server and o.scenario.endswith("32 client(s)")
        ]
        for server in {o.server for o in outcomes}
    }
    for server, values in sorted(rates.items()):
        console.print(
            f"{server}, 32 clients, each round: " + ", ".join(f"{v:,.1f}" for v in values)
        )
    api_rates = rates.get("hourcast API", [])
    serve_rates = rates.get("mlflow models serve -w 2", [])
    if api_rates and serve_rates:
        ratios = [a / b for a, b in zip(api_rates, serve_rates, strict=True)]
        ratio = statistics.median(api_rates) / statistics.median(serve_rates)
        console.print(
            f"32 clients: the API serves {ratio:.1f} x "
            f"mlflow serve (medians of {len(ratios)} rounds; each round: "
            + ", ".join(f"{r:.1f}" for r in ratios)
            + ")"
        )
    console.print(
        f"API resident memory: {memory:,.0f} MiB in {processes} processes "
        f"({workers} workers of {threads} thread(s))"
    )


def _medians(outcomes: list[Outcome]) -> list[Outcome]:
    """One outcome per server and scenario: the round of median rate, errors of all rounds."""
    grouped: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        grouped.setdefault((outcome.server, outcome.scenario), []).append(outcome)
    chosen = []
    for group in grouped.values():
        middle = sorted(group, key=lambda o: o.rate)[(len(group) - 1) // 2]
        errors = sum(o.errors for o in group)
        chosen.append(dataclasses.replace(middle, errors=errors))
    return chosen


if __name__ == "__main__":
    typer.run(main)
