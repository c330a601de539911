"""XGBoost parameters every forecaster starts from.

Kept apart from the forecaster so that the presets and the targets table import without
XGBoost: the command line's ``--help`` and the API's schemas need them, not the booster.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_PARAMS"]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "reg:absoluteerror",
    "eta": 0.05,
    "max_depth": 8,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "max_bin": 64,
    "tree_method": "hist",
    "nthread": 2,
    "seed": 7,
}
