"""How a forecaster is stored: a folder with a JSON spec and the booster in UBJSON.

The format holds no pickled Python object, so a stored forecaster does not depend on the
module paths of the code that wrote it; only :data:`FORMAT_VERSION` does. A folder of another
version is refused with a message saying to retrain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost as xgb

from hourcast.forecasting.conformal import ConformalIntervals
from hourcast.forecasting.feature_config import FeatureConfig
from hourcast.forecasting.state import FittedState

__all__ = ["BOOSTER_FILE", "FORMAT_VERSION", "SPEC_FILE", "read_forecaster", "write_forecaster"]

FORMAT_VERSION = 2
SPEC_FILE = "forecaster.json"
BOOSTER_FILE = "booster.ubj"
_SETTINGS = (
    "params",
    "num_boost_round",
    "strategy",
    "target_transform",
    "steps_per_hour",
    "calibration_days",
    "calibration",
)


def write_forecaster(path: str | Path, *, settings: Mapping[str, Any], state: FittedState) -> Path:
    """Write a fitted forecaster to a folder; returns the folder.

    Args:
        path (str | Path): The folder (created if missing).
        settings (Mapping): The forecaster's configuration: ``config`` (FeatureConfig),
            ``levels`` and the keys of :data:`_SETTINGS`.
        state (FittedState): What it learnt.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    state.booster.save_model(folder / BOOSTER_FILE)
    until = state.trained_until
    spec = {
        "format_version": FORMAT_VERSION,
        "config": settings["config"].to_dict(),
        **{key: settings[key] for key in _SETTINGS},
        "levels": list(settings["levels"]),
        "feature_names": list(state.feature_names),
        "trained_until": None if until is None else until.isoformat(),
        "series_codes": dict(state.series_codes),
        "nonnegative": state.nonnegative,
        **state.intervals.to_dict(),
    }
    (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2))
    return folder


def read_forecaster(path: str | Path) -> tuple[dict[str, Any], FittedState]:
    """Read a folder written by :func:`write_forecaster`.

    Returns:
        tuple: The configuration (keyword arguments of ``Forecaster``) and the fitted state.

    Raises:
        ValueError: The folder holds another format version; the model must be retrained.
    """
    folder = Path(path)
    spec = json.loads((folder / SPEC_FILE).read_text())
    version = spec.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"unsupported forecaster format {version} (this version reads {FORMAT_VERSION}); "
            "retrain the model"
        )
    booster = xgb.Booster()
    booster.load_model(folder / BOOSTER_FILE)
    settings = {key: spec[key] for key in _SETTINGS if key != "calibration"}
    settings["calibration"] = spec.get("calibration", "recent")  # absent in early models
    settings["config"] = FeatureConfig.from_dict(spec["config"])
    settings["levels"] = tuple(spec["levels"])
    until = spec.get("trained_until")
    state = FittedState(
        booster=booster,
        feature_names=list(spec["feature_names"]),
        series_codes={name: int(code) for name, code in spec["series_codes"].items()},
        trained_until=None if until is None else pd.Timestamp(until),
        nonnegative=bool(spec["nonnegative"]),
        intervals=ConformalIntervals.from_dict(spec),
    )
    return settings, state
