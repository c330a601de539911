"""Showing an API forecast to a person: the table and the plot read the response's metadata."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from rich.console import Console

from hourcast.cli.forecast import forecast_table, plot_forecast
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine, upgrade
from inference_api.schemas import FORECAST_RESPONSE_EXAMPLE, ForecastResponse


def _response() -> dict[str, Any]:
    # The documented example of POST /v1/forecast: a sensor no built-in spec knows.
    ForecastResponse.model_validate(FORECAST_RESPONSE_EXAMPLE)  # it fits the schema
    return copy.deepcopy(FORECAST_RESPONSE_EXAMPLE)


def test_table_shows_local_time_units_and_intervals() -> None:
    console = Console(width=200, record=True)
    console.print(forecast_table(_response()))
    text = console.export_text()
    assert "openaq:900001: hourcast-pm25 v3" in text
    assert "pm25 (µg/m³)" in text
    assert "local (Asia/Shanghai)" in text
    assert "Thu 00:00" in text  # 16:00 UTC is midnight in Beijing
    assert "80 % interval" in text
    assert "62 - 149" in text  # the 95 % interval, rounded


def test_plot_of_a_series_without_stored_observations(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}")
    engine = create_db_engine(settings.resolved_database_url)
    upgrade(engine)
    engine.dispose()
    written = plot_forecast(_response(), settings=settings, path=tmp_path / "plot.png")
    assert written.stat().st_size > 0
