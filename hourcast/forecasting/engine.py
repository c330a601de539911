"""The engine under :class:`~hourcast.forecasting.forecaster.Forecaster`: design matrices,
booster training and the forecasting loops.

Like ``mlforecast``'s ``TimeSeries`` under ``MLForecast``, the engine holds no fitted state:
the front class passes it the booster and what it learnt (series codes, whether the series
is non-negative). ``direct`` forecasts a block of ``config.horizon`` steps from one origin in
one booster call and feeds each block back as history; ``recursive`` forecasts hour by hour,
each forecast fed back as the next lag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import xgboost as xgb

from hourcast.forecasting.features import (
    HOUR,
    FeatureConfig,
    build_direct_features,
    build_features,
    direct_feature_names,
)
from hourcast.forecasting.target_transforms import (
    TargetTransform,
    decode,
    encode_features,
    encode_target,
    origin_levels,
)

__all__ = ["STRATEGIES", "Engine", "Strategy"]

Strategy = Literal["direct", "recursive"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
Covariates = pd.DataFrame | None


def _probe() -> pd.Series:
    """A two-hour series, only to read the one-step column names."""
    index = pd.date_range("2000-01-01", periods=2, freq="h", tz="UTC")
    return pd.Series([0.0, 0.0], index=index)


@dataclass(frozen=True)
class Engine:
    """Feature design, training rows and forecasting loops for one configuration.

    Args:
        config (FeatureConfig): Features to build.
        strategy (str): ``direct`` or ``recursive``.
        target_transform (str): ``scale``, ``log1p`` or ``none``.
        steps_per_hour (int): Direct training: steps drawn per target hour.
    """

    config: FeatureConfig
    strategy: Strategy
    target_transform: TargetTransform
    steps_per_hour: int

    @cached_property
    def feature_names(self) -> list[str]:
        """The booster's columns, in order."""
        if self.strategy == "direct":
            return direct_feature_names(self.config)
        return list(build_features(_probe(), self.config).columns)

    @cached_property
    def _value_columns(self) -> np.ndarray:
        """Mask of the columns holding series values (lag transforms)."""
        values = {t.name for t in self.config.transforms}
        return np.array([name in values for name in self.feature_names])

    def local_hours(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Hour of day (0-23) of each UTC hour in the series' time zone."""
        return index.tz_convert(self.config.timezone).hour.to_numpy()

    # ----------------------------------------------------------------- design
    def _direct_design(
        self,
        series: pd.Series,
        origins: np.ndarray,
        steps: np.ndarray,
        covariates: Covariates,
        code: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        matrix = build_direct_features(
            series, self.config, origins, steps, covariates=covariates, series_code=code
        )
        levels = origin_levels(series.to_numpy(dtype=float), origins)
        return encode_features(matrix, self._value_columns, levels, self.target_transform), levels

    def training_rows(
        self, series: pd.Series, covariates: Covariates, code: float, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows and labels of one regular series (hours with no value are not labels).

        Direct rows pair each target hour with ``steps_per_hour`` steps drawn at random.
        """
        values = series.to_numpy(dtype=float)
        targets = np.flatnonzero(~np.isnan(values))
        transform = self.target_transform
        if self.strategy == "recursive":
            frame = build_features(series, self.config, covariates=covariates, series_code=code)
            scales = origin_levels(values, targets)
            matrix = encode_features(
                frame.to_numpy()[targets], self._value_columns, scales, transform
            )
            return matrix, encode_target(values[targets], scales, transform)
        horizon = self.config.horizon
        rng = np.random.default_rng(seed)
        k = self.steps_per_hour
        steps = np.argsort(rng.random((len(targets), horizon)), axis=1)[:, :k] + 1
        rows = np.repeat(targets, k)
        steps = steps.ravel()
        origins = rows - steps + 1
        keep = origins >= 1
        rows, steps, origins = rows[keep], steps[keep], origins[keep]
        matrix, scales = self._direct_design(series, origins, steps, covariates, code)
        return matrix, encode_target(values[rows], scales, transform)

    def train(
        self,
        series_map: Mapping[str, pd.Series],
        covariates: Mapping[str, Covariates],
        codes: Mapping[str, int],
        *,
        params: dict[str, Any],
        num_boost_round: int,
    ) -> xgb.Booster:
        """Fit a booster on every series (regular hourly, by name)."""
        seed = int(params.get("seed", 0))
        parts = [
            self.training_rows(series, covariates.get(name), float(codes[name]), seed + number)
            for number, (name, series) in enumerate(series_map.items())
        ]
        matrix = np.vstack([p[0] for p in parts])
        label = np.concatenate([p[1] for p in parts])
        dmatrix = xgb.DMatrix(matrix, label=label, feature_names=self.feature_names)
        return xgb.train(params, dmatrix, num_boost_round=num_boost_round)

    # ----------------------------------------------------------------- forecast
    def forecast(
        self,
        booster: xgb.Booster,
        history: pd.Series,
        horizon: int,
        *,
        covariates: Covariates,
        code: float,
        nonnegative: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts of the ``horizon`` hours after a regular history, and their origin levels."""
        run = self._direct if self.strategy == "direct" else self._recursive
        return run(
            booster, history, horizon, covariates=covariates, code=code, nonnegative=nonnegative
        )

    def forecast_origins(
        self,
        booster: xgb.Booster,
        series: pd.Series,
        origins: np.ndarray,
        *,
        covariates: Covariates,
        code: float,
        nonnegative: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forecasts, levels and actuals of ``config.horizon`` hours from each origin (a
        position in ``series``), each shaped (origins, horizon)."""
        horizon = self.config.horizon
        values = series.to_numpy(dtype=float)
        targets = origins[:, None] + np.arange(horizon)[None, :]
        if self.strategy == "direct":
            steps = np.tile(np.arange(1, horizon + 1), len(origins))
            matrix, levels = self._direct_design(
                series, targets.ravel() - steps + 1, steps, covariates, code
            )
            raw = booster.inplace_predict(matrix)
            forecast = decode(raw, levels, self.target_transform, nonnegative=nonnegative)
            return forecast.reshape(-1, horizon), levels.reshape(-1, horizon), values[targets]
        parts = [
            self._recursive(
                booster,
                series.iloc[:origin],
                horizon,
                covariates=covariates,
                code=code,
                nonnegative=nonnegative,
            )
            for origin in origins
        ]
        forecast = np.vstack([p[0] for p in parts])
        levels = np.vstack([p[1] for p in parts])
        return forecast, levels, values[targets]

    def _direct(
        self,
        booster: xgb.Booster,
        history: pd.Series,
        horizon: int,
        *,
        covariates: Covariates,
        code: float,
        nonnegative: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts and origin levels, block by block."""
        block = self.config.horizon
        values = history.to_numpy(dtype=float)[-self.config.lookback :]
        start = history.index[-len(values)]
        forecasts, levels_out = [], []
        done = 0
        while done < horizon:
            index = pd.date_range(start, periods=len(values) + block, freq="h")
            extended = pd.Series(np.r_[values, np.full(block, np.nan)], index=index)
            origin = np.full(block, len(values))
            steps = np.arange(1, block + 1)
            matrix, levels = self._direct_design(extended, origin, steps, covariates, code)
            raw = booster.inplace_predict(matrix)
            forecast = decode(raw, levels, self.target_transform, nonnegative=nonnegative)
            forecasts.append(forecast)
            levels_out.append(levels)
            done += block
            values = np.r_[values, forecast][-self.config.lookback :]
            start = index[len(index) - len(values)]
        return np.concatenate(forecasts)[:horizon], np.concatenate(levels_out)[:horizon]

    def _recursive(
        self,
        booster: xgb.Booster,
        history: pd.Series,
        horizon: int,
        *,
        covariates: Covariates,
        code: float,
        nonnegative: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts and levels, hour by hour, each forecast fed back as the next lag."""
        values = history.to_numpy(dtype=float)[-self.config.lookback :]
        start = history.index[-len(values)]
        index = pd.date_range(start, periods=len(values) + horizon, freq="h")
        extended = np.r_[values, np.full(horizon, np.nan)]
        n = len(values)
        known = build_features(
            pd.Series(extended, index=index), self.config, covariates=covariates, series_code=code
        ).to_numpy()
        transforms = self.config.transforms
        levels = np.empty(horizon)
        for step in range(horizon):
            row = known[n + step].copy()
            window = extended[: n + step + 1]
            for column, transform in enumerate(transforms):
                row[column] = transform.transform(window[-(transform.span + 1) :])[-1]
            level = origin_levels(window, np.array([n + step]))
            matrix = encode_features(
                row[None, :], self._value_columns, level, self.target_transform
            )
            raw = booster.inplace_predict(matrix)
            extended[n + step] = decode(raw, level, self.target_transform, nonnegative=nonnegative)[
                0
            ]
            levels[step] = level[0]
        return extended[n:], levels

    def future_index(self, history: pd.Series, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` UTC hours after the last hour of ``history``."""
        return pd.date_range(history.index[-1] + HOUR, periods=horizon, freq="h")
