"""The wheel the images install holds the product only: no fake server, no sample data."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hourcast.settings import BUNDLED_TRAFFIC_CSV
from tests.conftest import ROOT

_SKIP = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """Build the wheel from the repository's pyproject.toml, hourcast/ and devtools/."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("hourcast", "devtools"):
        shutil.copytree(ROOT / folder, source / folder, ignore=_SKIP)
    dist = tmp_path_factory.mktemp("dist")
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("hourcast-*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.slow
def test_the_wheel_holds_no_dev_tooling_and_no_sample_data(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "hourcast/forecasting/forecaster.py" in names
    assert all(n.startswith(("hourcast/", "hourcast-0.1.0.dist-info/")) for n in names)
    for dev in ("openaq_fake", "local_stack", "stack_cli", "hourcast_dev", "devstack"):
        assert not [n for n in names if dev in n], dev
    data = sorted(n for n in names if n.startswith("hourcast/data/"))
    assert data == ["hourcast/data/README.md", "hourcast/data/traffic/" + BUNDLED_TRAFFIC_CSV.name]
    assert not [n for n in names if n.endswith(".json") or "beijing" in n.lower()]


@pytest.mark.slow
def test_the_wheel_keeps_what_the_product_reads_at_run_time(wheel: zipfile.ZipFile) -> None:
    traffic = wheel.read("hourcast/data/traffic/" + BUNDLED_TRAFFIC_CSV.name)
    assert traffic == BUNDLED_TRAFFIC_CSV.read_bytes()  # the default HOURCAST_TRAFFIC_SOURCE
    names = wheel.namelist()
    assert [n for n in names if n.startswith("hourcast/storage/migrations/versions/")]
    assert "hourcast/training/pyfunc_model.py" in names  # MLflow logs this file as the model
    entry_points = wheel.read("hourcast-0.1.0.dist-info/entry_points.txt").decode()
    assert "hourcast = hourcast.cli:app" in entry_points
