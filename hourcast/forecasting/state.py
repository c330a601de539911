"""What a forecaster learns: set by ``Forecaster.fit`` or ``Forecaster.load``, never by hand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
import xgboost as xgb

from hourcast.forecasting.conformal import ConformalIntervals

__all__ = ["FittedState", "NotFittedError"]


class NotFittedError(RuntimeError):
    """predict or save before fit."""


@dataclass(frozen=True)
class FittedState:
    """The fitted state of a forecaster.

    Attributes:
        booster (xgb.Booster): The trained booster.
        feature_names (list[str]): Its columns, in order.
        series_codes (Mapping[str, int]): Code of each series fitted on (the ``series_code``
            feature of a global model).
        trained_until (pd.Timestamp): Last hour of the training data (UTC).
        nonnegative (bool): Every training value was >= 0, so forecasts are clipped at 0.
        intervals (ConformalIntervals): Calibrated interval quantiles; empty without.
    """

    booster: xgb.Booster
    feature_names: list[str]
    series_codes: Mapping[str, int]
    trained_until: pd.Timestamp | None
    nonnegative: bool
    intervals: ConformalIntervals = field(default_factory=ConformalIntervals)
