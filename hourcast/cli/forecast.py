"""``hourcast forecast``: ask the API for a forecast, print it as a table, plot it.

typer 0.9 (pinned through mage-ai): no ``X | None`` options and no postponed annotations
here; see :mod:`hourcast.cli.main`.
"""

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import httpx
import typer
from rich.console import Console
from rich.table import Table

from hourcast.settings import Settings, get_settings

__all__ = [
    "credentials",
    "fetch_forecast",
    "forecast_command",
    "forecast_table",
    "plot_forecast",
]

console = Console()


def credentials(token: Optional[str], api_key: Optional[str]) -> dict[str, str]:
    """The header that authenticates a request: a bearer token, else an API key."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {"X-API-Key": api_key} if api_key else {}


def fetch_forecast(
    api_url: str,
    *,
    series_id: str,
    horizon: int,
    wait: float = 0.0,
    headers: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    """POST /v1/forecast, retrying while the model loads (503) for up to ``wait`` seconds.

    Raises:
        RuntimeError: The API answered with an error, or no model loaded in time.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            response = httpx.post(
                f"{api_url}/v1/forecast",
                json={"series_id": series_id, "horizon": horizon},
                headers=headers,
                timeout=60,
            )
        except httpx.HTTPError as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"cannot reach the API at {api_url}: {exc}") from exc
        else:
            if response.status_code == 200:
                return dict(response.json())
            if response.status_code == 401:
                raise RuntimeError(
                    f"the API wants a token or an API key ({response.json().get('detail')}): "
                    "pass --token or --api-key (HOURCAST_API_TOKEN, HOURCAST_API_KEY)"
                )
            if response.status_code != 503 or time.monotonic() >= deadline:
                raise RuntimeError(f"API answered {response.status_code}: {response.text}")
        time.sleep(2)


def forecast_table(response: dict[str, Any]) -> Table:
    """A rich table of the forecast, in UTC and in the series' local time, with its intervals."""
    timezone = response["timezone"]
    model = response["model"]
    table = Table(
        title=f"{response['series_id']}: {model['name']} v{model['version']}",
        caption=f"{response['parameter']} ({response['units']})",
    )
    table.add_column("hour (UTC)")
    table.add_column(f"local ({timezone})")
    table.add_column("forecast", justify="right")
    for level in response["levels"]:
        table.add_column(f"{level} % interval", justify="right")
    import pandas as pd  # imported here, like the plot's, to keep `hourcast --help` quick

    for point in response["forecast"]:
        ts = pd.Timestamp(point["ts"])
        local = ts.tz_convert(timezone)
        intervals = [f"{i['lower']:,.0f} - {i['upper']:,.0f}" for i in point["intervals"]]
        table.add_row(
            ts.strftime("%Y-%m-%d %H:%M"),
            local.strftime("%a %H:%M"),
            f"{point['value']:,.0f}",
            *intervals,
        )
    return table


def plot_forecast(response: dict[str, Any], *, settings: Settings, path: Path) -> Path:
    """PNG of the last week of stored observations followed by the forecast."""
    import matplotlib
    import pandas as pd

    from hourcast.storage.db import create_db_engine
    from hourcast.storage.observations import load_observations

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series_id, timezone = response["series_id"], response["timezone"]
    forecast = pd.DataFrame(response["forecast"])
    forecast["ts"] = pd.to_datetime(forecast["ts"], utc=True)
    start = forecast["ts"].min() - pd.Timedelta(days=7)
    engine = create_db_engine(settings.resolved_database_url)
    try:
        history = load_observations(engine, series_id=series_id, start=start)
    finally:
        engine.dispose()
    figure, axis = plt.subplots(figsize=(12, 4.5), dpi=110)
    axis.plot(history["ts"].dt.tz_convert(timezone), history["value"], label="observed", lw=1.2)
    axis.plot(
        forecast["ts"].dt.tz_convert(timezone),
        forecast["value"],
        label=f"forecast ({response['model']['name']} v{response['model']['version']})",
        lw=2,
        color="tab:orange",
    )
    if response["levels"]:
        level = response["levels"][0]  # the narrowest; a second band would hide the first
        bounds = [point["intervals"][0] for point in response["forecast"]]
        axis.fill_between(
            forecast["ts"].dt.tz_convert(timezone),
            [b["lower"] for b in bounds],
            [b["upper"] for b in bounds],
            color="tab:orange",
            alpha=0.25,
            label=f"{level} % interval",
        )
    axis.axvline(forecast["ts"].min().tz_convert(timezone), color="grey", ls="--", lw=0.8)
    axis.set_title(f"{series_id}: last week and the next {len(forecast)} hours")
    axis.set_ylabel(f"{response['parameter']} ({response['units']})")
    axis.set_xlabel(f"local time ({timezone})")
    axis.legend(loc="upper left")
    axis.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def forecast_command(
    *,
    series_id: Annotated[str, typer.Option(help="Series to forecast.")] = "traffic:i94-westbound",
    horizon: Annotated[int, typer.Option(min=1, help="Hours ahead.")] = 24,
    api_url: Annotated[
        str, typer.Option(envvar="HOURCAST_API_URL", help="Base URL of the inference API.")
    ] = "http://127.0.0.1:8000",
    plot: Annotated[
        Optional[Path], typer.Option(help="Write a PNG of the last week and the forecast here.")
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the model to load.")] = 0.0,
    token: Annotated[
        Optional[str],
        typer.Option(envvar="HOURCAST_API_TOKEN", help="Bearer token from POST /v1/auth/token."),
    ] = None,
    api_key: Annotated[
        Optional[str], typer.Option(envvar="HOURCAST_API_KEY", help="API key (X-API-Key).")
    ] = None,
) -> None:
    """Ask the API for a forecast and print it as a table (optionally plot it)."""
    try:
        response = fetch_forecast(
            api_url,
            series_id=series_id,
            horizon=horizon,
            wait=wait,
            headers=credentials(token, api_key),
        )
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(forecast_table(response))
    if plot is not None:
        settings = get_settings()
        written = plot_forecast(response, settings=settings, path=plot)
        console.print(f"plot written to {written}")
