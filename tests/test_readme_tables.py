"""The README's accuracy section is generated from the benchmark's JSON file and kept in step."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "readme_tables.py"
JSON_FILE = ROOT / "benchmarks" / "accuracy.json"

readme_tables = load_script("readme_tables")


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def _model(kind: str, mae: float, hours: int) -> dict[str, Any]:
    return {"kind": kind, "mae": mae, "training_hours": hours}


def _document(hourcast_mae: float, peer_hours: int = 1000) -> dict[str, Any]:
    return {
        "series": {
            "traffic": {
                "command": "python scripts/benchmark_accuracy.py",
                "measured_on": "2026-01-02",
                "cpus": 2,
                "versions": {"xgboost": "3.2.0"},
                "horizon": 24,
                "timezone": "America/Chicago",
                "train_end": "2018-04-16T04:00:00+00:00",
                "origins": ["2018-04-16T05:00:00+00:00", "2018-04-17T05:00:00+00:00"],
                "scored_hours": 48,
                "models": {
                    "hourcast": {
                        **_model("hourcast", hourcast_mae, 1000),
                        "coverage_80": 80.1,
                        "coverage_95": 93.4,
                    },
                    "persistence": _model("baseline", 300.0, 0),
                    "mlforecast (b) XGBoost defaults": {
                        **_model("peer", 150.0, peer_hours),
                        "description": "library defaults",
                    },
                },
            }
        }
    }


def test_readme_accuracy_section_matches_the_json() -> None:
    result = _check("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_figure_in_the_json_is_detected_and_rewritten(tmp_path: Path) -> None:
    readme, figures = tmp_path / "README.md", tmp_path / "accuracy.json"
    shutil.copy(ROOT / "README.md", readme)
    document = json.loads(JSON_FILE.read_text())
    hourcast = document["series"]["traffic"]["models"]["hourcast"]
    hourcast["mae"] += 10
    figures.write_text(json.dumps(document))
    paths = ("--readme", str(readme), "--json", str(figures))

    stale = _check("--check", *paths)
    assert stale.returncode == 1
    assert "the accuracy section does not match" in stale.stdout
    assert _check(*paths).returncode == 0
    assert _check("--check", *paths).returncode == 0
    assert f"{hourcast['mae']:.1f}" in readme.read_text()


def test_best_is_bold_and_a_loss_is_said() -> None:
    losing = readme_tables.render(_document(hourcast_mae=160.0))
    assert "| hourcast | 160.0 | 1,000 |" in losing
    assert "| mlforecast (b) XGBoost defaults: library defaults | **150.0** | 1,000 |" in losing
    assert "| persistence | 300.0 | - |" in losing
    assert "(160.0) is 6.7 % higher than the best peer's" in " ".join(losing.split())

    winning = readme_tables.render(_document(hourcast_mae=120.0))
    assert "| hourcast | **120.0** | 1,000 |" in winning
    assert "(120.0) is 20.0 % lower than the best peer's" in " ".join(winning.split())
    assert "80.1 % / 93.4 %" in winning


def test_unequal_training_hours_are_said() -> None:
    same = " ".join(readme_tables.render(_document(120.0)).split())
    assert "they are the same for every learned model on traffic (I-94)." in same
    differ = " ".join(readme_tables.render(_document(120.0, peer_hours=900)).split())
    assert "they are NOT the same for every learned model on traffic (I-94)." in differ


def test_json_and_section_change_together() -> None:
    document = _document(120.0)
    changed = copy.deepcopy(document)
    changed["series"]["traffic"]["models"]["persistence"]["mae"] = 301.0
    assert readme_tables.render(document) != readme_tables.render(changed)


def test_a_readme_without_the_markers_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no section here\n")
    with pytest.raises(readme_tables.SectionError, match="no accuracy section"):
        readme_tables.replace_section(readme.read_text(), "x")
    figures = tmp_path / "accuracy.json"
    figures.write_text(json.dumps(_document(120.0)))
    result = _check("--check", "--readme", str(readme), "--json", str(figures))
    assert result.returncode == 2
    assert "no accuracy section" in result.stderr
