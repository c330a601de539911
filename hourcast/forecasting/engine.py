"""The engine under :class:`~hourcast.forecasting.forecaster.Forecaster`.

It builds the design matrices, trains the booster and runs the forecasting loops.

Like ``mlforecast``'s ``TimeSeries`` under ``MLForecast``, the engine holds no fitted state:
the front class passes it the booster and what it learnt (series codes, whether the series
is non-negative). ``direct`` forecasts a block of ``config.horizon`` steps from one origin in
one booster call and feeds each block back as history; ``recursive`` forecasts hour by hour,
each forecast fed back as the next lag.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol, get_args

import numpy as np
import pandas as pd
import xgboost as xgb

from hourcast.forecasting.arrays import BoolArray, FloatArray, IntArray
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

__all__ = ["STRATEGIES", "BoosterTrainer", "Engine", "Strategy", "booster_trainer"]

Strategy = Literal["direct", "recursive"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
Covariates = pd.DataFrame | None


def _probe() -> pd.Series:
    """A two-hour series, only to read the one-step column names."""
    index = pd.date_range("2000-01-01", periods=2, freq="h", tz="UTC")
    return pd.Series([0.0, 0.0], index=index)


# --- Training backend hook (issue 13, part C: hourcast.training.dask_training) -------------
class BoosterTrainer(Protocol):
    """Trains the booster of :meth:`Engine.train` elsewhere (e.g. on a Dask cluster)."""

    def __call__(
        self,
        engine: Engine,
        series_map: Mapping[str, pd.Series],
        covariates: Mapping[str, Covariates],
        codes: Mapping[str, int],
        *,
        params: dict[str, Any],
        num_boost_round: int,
    ) -> xgb.Booster:
        """The booster trained on the rows of :meth:`Engine.series_training_rows`."""
        ...


_TRAINER: ContextVar[BoosterTrainer | None] = ContextVar("hourcast_trainer", default=None)


@contextmanager
def booster_trainer(trainer: BoosterTrainer) -> Iterator[None]:
    """Within the block, every :meth:`Engine.train` (fit, calibration) calls ``trainer``."""
    token = _TRAINER.set(trainer)
    try:
        yield
    finally:
        _TRAINER.reset(token)


# -------------------------------------------------------------------------------------------
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
    def _value_columns(self) -> BoolArray:
        """Mask of the columns holding series values (lag transforms)."""
        values = {t.name for t in self.config.transforms}
        return np.array([name in values for name in self.feature_names])

    @cached_property
    def _zoned(self) -> dict[str, Engine]:
        """Engines of this configuration in one time zone each, made on first use."""
        return {}

    def for_series(self, series_id: str | None) -> Engine:
        """The engine that builds ``series_id``'s rows: its own time zone's calendar.

        Only the calendar differs (``FeatureConfig.timezone_of``), so the columns and the
        booster are the same for every series.
        """
        if not self.config.series_timezones:
            return self
        zone = self.config.timezone_of(series_id)
        if zone not in self._zoned:
            config = self.config.for_zone(zone)
            self._zoned[zone] = Engine(
                config, self.strategy, self.target_transform, self.steps_per_hour
            )
        return self._zoned[zone]

    def local_hours(self, index: pd.DatetimeIndex) -> IntArray:
        """Hour of day (0-23) of each UTC hour in the series' time zone."""
        return index.tz_convert(self.config.timezone).hour.to_numpy()

    # ----------------------------------------------------------------- design
    def _direct_design(
        self,
        series: pd.Series,
        origins: IntArray,
        steps: IntArray,
        covariates: Covariates,
        code: float,
    ) -> tuple[FloatArray, FloatArray]:
        matrix = build_direct_features(
            series, self.config, origins, steps, covariates=covariates, series_code=code
        )
        levels = origin_levels(series.to_numpy(dtype=float), origins)
        return encode_features(matrix, self._value_columns, levels, self.target_transform), levels

    def training_rows(
        self, series: pd.Series, covariates: Covariates, code: float, seed: int
    ) -> tuple[FloatArray, FloatArray]:
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

    def series_training_rows(
        self,
        name: str,
        series: pd.Series,
        covariates: Mapping[str, Covariates],
        codes: Mapping[str, int],
        *,
        number: int,
        seed: int,
    ) -> tuple[FloatArray, FloatArray]:
        """Rows of the ``number``-th series of a training set (every training backend's).

        The calendar is the series' own time zone's (:meth:`for_series`).
        """
        return self.for_series(name).training_rows(
            series, covariates.get(name), float(codes[name]), seed + number
        )

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
        trainer = _TRAINER.get()
        if trainer is not None:  # another backend (booster_trainer), same rows
            return trainer(
                self, series_map, covariates, codes, params=params, num_boost_round=num_boost_round
            )
        seed = int(params.get("seed", 0))
        parts = [
            self.series_training_rows(name, series, covariates, codes, number=number, seed=seed)
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
    ) -> tuple[FloatArray, FloatArray]:
        """Forecasts of the ``horizon`` hours after a regular history, and their origin levels."""
        run = self._direct if self.strategy == "direct" else self._recursive
        return run(
            booster, history, horizon, covariates=covariates, code=code, nonnegative=nonnegative
        )

    def forecast_origins(
        self,
        booster: xgb.Booster,
        series: pd.Series,
        origins: IntArray,
        *,
        covariates: Covariates,
        code: float,
        nonnegative: bool,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Forecasts, levels and actuals of ``config.horizon`` hours from each origin.

        Origins are positions in ``series``; each output is shaped (origins, horizon).
        """
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
    ) -> tuple[FloatArray, FloatArray]:
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
    ) -> tuple[FloatArray, FloatArray]:
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
