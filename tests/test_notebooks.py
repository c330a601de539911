"""The notebooks in notebooks/: committed without outputs, and they run and draw figures.

Each notebook runs top to bottom in a Jupyter kernel of this interpreter (nbclient), with its
settings pointed at throwaway stores: a PostgreSQL observation store holding the bundled
traffic CSV and the fake OpenAQ server's sensors, and a tracking server of this module's own
(SQLite backend, local artifacts) holding a quick training run of each target, made by the
training step the pipeline uses (``fit_and_log``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from hourcast.ingestion.openaq_sensors import OpenAQSelection
from hourcast.ingestion.pipeline import run_openaq, run_traffic
from hourcast.settings import Settings
from hourcast.storage.db import upgrade_database
from hourcast.targets import TARGETS
from hourcast.training.data import load_training_frame, prepare_training_frame
from hourcast.training.fit import fit_and_log
from hourcast_dev.openaq_fake import BEIJING_LOCATION_ID, BEIJING_SENSOR_ID, FakeServer
from tests.conftest import ROOT, PostgresDatabases, sqlite_mlflow_server
from tests.script_modules import load_script

NOTEBOOKS = ROOT / "notebooks"
NAMES = ("01_traffic_eda.ipynb", "02_air_quality_eda.ipynb", "03_model_experiments.ipynb")
KERNEL = "hourcast-notebook-test"
strip_notebooks = load_script("strip_notebooks")
# Locations of the fake OpenAQ server: South Long Beach (PM2.5), sensor 3917's station (O3),
# Beijing (PM2.5).
OPENAQ_LOCATIONS = (847, 903917, BEIJING_LOCATION_ID)
TRAINING_DAYS = 150
# A line each notebook prints about what it read.
EXPECTED_OUTPUT = {
    NAMES[0]: "45,674 CSV rows -> 38,563 hours",
    NAMES[1]: ": 3 OpenAQ series",
    NAMES[2]: ": training runs traffic 1, pm25 1",
}  # enough for a quick run's backtest and conformal intervals


def images(notebook: nbformat.NotebookNode) -> int:
    """PNG figures among a notebook's outputs."""
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


# -- committed form ------------------------------------------------------------------------


def test_the_three_notebooks_are_committed_without_outputs() -> None:
    assert tuple(sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))) == NAMES
    for name in NAMES:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(notebook)
        left = strip_notebooks.outputs_left(notebook)
        assert left == [], f"{name}: run scripts/strip_notebooks.py before committing"


def test_strip_script_finds_and_removes_outputs_and_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook = nbformat.read(NOTEBOOKS / NAMES[0], as_version=4)
    code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells[code].execution_count = 3
    notebook.cells[code].outputs = [nbformat.v4.new_output("stream", text="hello")]
    path = tmp_path / "dirty.ipynb"
    nbformat.write(notebook, path)

    assert strip_notebooks.main(["--check", str(path)]) == 1
    assert (
        f"cell {code + 1}: 1 outputs; cell {code + 1}: execution count 3" in capsys.readouterr().out
    )
    assert strip_notebooks.main([str(path)]) == 0
    assert strip_notebooks.main(["--check", str(path)]) == 0
    assert nbformat.read(path, as_version=4).cells == strip_notebooks.strip(notebook).cells


# -- executed ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data folder with a kernel of this interpreter (whatever kernels the user has)."""
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Hourcast (.venv)",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return folder


@pytest.fixture(scope="module")
def stores(
    postgres: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The HOURCAST_* variables of a filled observation store and a tracking server with runs."""
    root = tmp_path_factory.mktemp("notebook-stores")
    database = postgres.create("hourcast_notebooks")
    previous_uri = mlflow.get_tracking_uri()
    try:
        with sqlite_mlflow_server(root) as tracking_uri:
            settings = Settings(home=root, database_url=database, mlflow_tracking_uri=tracking_uri)
            _fill(settings)
            yield {
                "HOURCAST_HOME": str(root),
                "HOURCAST_DATABASE_URL": database,
                "HOURCAST_MLFLOW_TRACKING_URI": tracking_uri,
            }
    finally:
        mlflow.set_tracking_uri(previous_uri)
        postgres.drop(database)


def _fill(settings: Settings) -> None:
    """Traffic and OpenAQ observations in the store, a quick training run of each target."""
    upgrade_database(settings.database_url)
    assert run_traffic(settings=settings).status == "succeeded"
    with FakeServer() as fake:
        outcome = run_openaq(
            settings=settings.model_copy(update={"openaq_base_url": fake.url}),
            selection=OpenAQSelection(locations=OPENAQ_LOCATIONS),
            backfill_start=datetime(2013, 1, 1, tzinfo=UTC),  # Beijing: 2 of its 5 years
            until=datetime(2017, 5, 1, tzinfo=UTC),
        )
    assert outcome.status == "succeeded", outcome.error
    # pm25 on the Beijing sensor alone: a global model's backtest window is the longest
    # series' last days, which the other PM2.5 sensor (2016-2017) does not reach.
    for name, series_id in (("traffic", None), ("pm25", f"openaq:{BEIJING_SENSOR_ID}")):
        _quick_run(settings, name, series_id)


def _quick_run(settings: Settings, target: str, series_id: str | None) -> None:
    loaded = load_training_frame(
        settings=settings, target=target, series_id=series_id, train_end=None
    )
    frame = prepare_training_frame(loaded)
    frame = frame[frame.ts > frame.ts.max() - pd.Timedelta(days=TRAINING_DAYS)]
    trained = fit_and_log(
        frame, target=target, settings=settings, train_end=None, num_boost_round=20, holdout_days=3
    )
    assert trained.model_name == TARGETS[target].model_name


def _execute(name: str, environment: dict[str, str], kernel_path: Path) -> Any:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    saved = dict(os.environ)
    # The kernel inherits this process's environment when it starts.
    os.environ.update({**environment, "JUPYTER_PATH": str(kernel_path)})
    os.environ.pop("MPLBACKEND", None)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_draws_figures(
    name: str, stores: dict[str, str], kernel_path: Path
) -> None:
    executed = _execute(name, stores, kernel_path)  # a failing cell raises CellExecutionError
    assert images(executed) >= 3, f"{name} drew {images(executed)} figures"
    streams = "".join(
        output.get("text", "")
        for cell in executed.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    assert "Traceback" not in streams
    assert EXPECTED_OUTPUT[name] in streams  # it read the throwaway stores
