"""The forecaster: an XGBoost model over :mod:`hourcast.features`, forecasting recursively.

``Forecaster.fit`` learns one-step-ahead values; ``Forecaster.predict`` rolls that model
forward hour by hour, feeding each forecast back as the next lag, using the same
``build_features`` as training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import xgboost as xgb

from hourcast.features import HOUR, FeatureConfig, build_features, regularize

__all__ = ["DEFAULT_PARAMS", "Forecaster", "NotFittedError"]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "reg:squarederror",
    "eta": 0.05,
    "max_depth": 8,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "tree_method": "hist",
    "nthread": 2,
    "seed": 7,
}
_FORMAT_VERSION = 1


class NotFittedError(RuntimeError):
    """predict or save before fit."""


@dataclass
class Forecaster:
    """Front class: feature configuration, booster parameters and the fitted booster.

    Args:
        config (FeatureConfig): Features to build.
        params (dict): XGBoost training parameters. Defaults to ``DEFAULT_PARAMS``.
        num_boost_round (int): Number of trees. Defaults to 400.
    """

    config: FeatureConfig
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    num_boost_round: int = 400
    booster: xgb.Booster | None = None
    feature_names: list[str] = field(default_factory=list)
    trained_until: pd.Timestamp | None = None

    def fit(self, values: pd.Series) -> Self:
        """Fit on an hourly series (UTC-aware index); hours with no value are not targets."""
        series = regularize(values)
        features = build_features(series, self.config)
        target = series.to_numpy()
        usable = ~np.isnan(target)
        if usable.sum() < 2 * self.config.lookback:
            raise ValueError(
                f"need at least {2 * self.config.lookback} observed hours to fit, "
                f"got {int(usable.sum())}"
            )
        self.feature_names = list(features.columns)
        matrix = xgb.DMatrix(features[usable], label=target[usable])
        self.booster = xgb.train(self.params, matrix, num_boost_round=self.num_boost_round)
        self.trained_until = series.index[-1]
        return self

    def _require_booster(self) -> xgb.Booster:
        if self.booster is None:
            raise NotFittedError("the forecaster is not fitted")
        return self.booster

    def predict(self, history: pd.Series, horizon: int) -> pd.Series:
        """Forecast the ``horizon`` hours after the last hour of ``history``.

        Args:
            history (pd.Series): Recent observed values indexed by UTC-aware hour starts;
                NaN or missing hours are allowed (the model treats them as unknown).
            horizon (int): Hours to forecast (>= 1).

        Returns:
            pd.Series: Forecasts indexed by UTC hour start.
        """
        booster = self._require_booster()
        if horizon < 1:
            raise ValueError("horizon must be >= 1")
        series = regularize(history.dropna() if history.notna().any() else history)
        series = series.iloc[-self.config.lookback :]
        origin = series.index[-1]
        future = pd.date_range(origin + HOUR, periods=horizon, freq="h")
        extended = pd.concat([series, pd.Series(np.nan, index=future)])
        values = extended.to_numpy(copy=True)
        start = len(series)
        for step in range(horizon):
            window = pd.Series(values[: start + step + 1], index=extended.index[: start + step + 1])
            row = build_features(window.iloc[-(self.config.lookback + 1) :], self.config).iloc[[-1]]
            prediction = booster.predict(xgb.DMatrix(row[self.feature_names]))
            values[start + step] = float(prediction[0])
        return pd.Series(values[start:], index=future, name="forecast")

    def save(self, path: str | Path) -> Path:
        """Write the forecaster to a folder (JSON spec + UBJSON booster); returns the folder."""
        booster = self._require_booster()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        booster.save_model(folder / "booster.ubj")
        spec = {
            "format_version": _FORMAT_VERSION,
            "config": self.config.to_dict(),
            "params": self.params,
            "num_boost_round": self.num_boost_round,
            "feature_names": self.feature_names,
            "trained_until": None if self.trained_until is None else self.trained_until.isoformat(),
        }
        (folder / "forecaster.json").write_text(json.dumps(spec, indent=2))
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Read a folder written by :meth:`save`."""
        folder = Path(path)
        spec = json.loads((folder / "forecaster.json").read_text())
        if spec["format_version"] != _FORMAT_VERSION:
            raise ValueError(f"unsupported forecaster format {spec['format_version']}")
        booster = xgb.Booster()
        booster.load_model(folder / "booster.ubj")
        trained_until = spec.get("trained_until")
        return cls(
            config=FeatureConfig.from_dict(spec["config"]),
            params=spec["params"],
            num_boost_round=spec["num_boost_round"],
            booster=booster,
            feature_names=list(spec["feature_names"]),
            trained_until=None if trained_until is None else pd.Timestamp(trained_until),
        )
