"""The serving path of a direct forecaster: numpy only, calendar rows cached, one booster call.

:meth:`Forecaster.predict_intervals <hourcast.forecasting.forecaster.Forecaster.predict_intervals>`
works on pandas series and builds the calendar of every history hour, which is right for
training and backtests but costs most of a request's time. :class:`DirectPredictor` forecasts
from plain arrays of epoch hours and values: it builds the same direct feature rows
(:func:`hourcast.forecasting.features.build_direct_features`) for the forecast hours only, takes
their calendar rows from a cache (most requests forecast the same next hours), runs the lag
transforms once over all the series of a request that have the same history length (one per
row of a 2-D array), and forecasts them all in one ``inplace_predict`` call. Its numbers are
those of ``predict_intervals`` to the bit (``tests/test_fast_path.py``): the rows are built by
the same functions in the same order, and XGBoost scores each row on its own.

Only the direct strategy without known-future covariates has a fast path; other models are
served by ``predict_intervals``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from hourcast.forecasting.arrays import FloatArray, IntArray
from hourcast.forecasting.calendars import holiday_dates
from hourcast.forecasting.coalesce import Coalescer
from hourcast.forecasting.features import FeatureConfig, calendar_features
from hourcast.forecasting.forecaster import Forecaster
from hourcast.forecasting.target_transforms import decode, encode_features, origin_levels

__all__ = [
    "DirectPredictor",
    "PointForecast",
    "SeriesInput",
    "epoch_hours_index",
    "recent_observed",
]

_HOUR_NS = 3_600_000_000_000


def epoch_hours_index(first_hour: int, periods: int) -> pd.DatetimeIndex:
    """UTC hour starts ``first_hour, first_hour + 1, ...`` (hours since 1970-01-01 UTC)."""
    stamps = (np.arange(first_hour, first_hour + periods, dtype=np.int64) * _HOUR_NS).astype(
        "datetime64[ns]"
    )
    return pd.DatetimeIndex(stamps).tz_localize("UTC")


def recent_observed(hours: IntArray, values: FloatArray, lookback: int) -> tuple[int, FloatArray]:
    """The last ``lookback`` hours of the observed span of a history, as a regular array.

    What ``observed_history`` followed by the forecaster's ``[-lookback:]`` gives, without
    pandas: the span runs from the first to the last observed hour, unobserved hours are NaN,
    and only its last ``lookback`` hours are kept (a model reads no further back).

    Args:
        hours: Hour starts as whole hours since 1970-01-01 UTC, unique, any order.
        values: The value of each hour; NaN where unknown.
        lookback: Hours the model reads.

    Returns:
        tuple: The epoch hour of the first kept hour, and the kept values.

    Raises:
        ValueError: No value is observed.
    """
    observed = ~np.isnan(values)
    if not observed.any():
        raise ValueError("the history has no observed value")
    kept_hours = hours[observed]
    last = int(kept_hours.max())
    first = max(int(kept_hours.min()), last - lookback + 1)
    recent = kept_hours >= first
    out = np.full(last - first + 1, np.nan)
    out[kept_hours[recent] - first] = values[observed][recent]
    return first, out


def _calendar_hours(
    timezone: str, holiday_calendar: str | None, first_hour: int, periods: int
) -> tuple[FloatArray, IntArray]:
    """Calendar rows and local hours of ``periods`` hours from ``first_hour`` (read-only)."""
    index = epoch_hours_index(first_hour, periods)
    config = FeatureConfig(timezone=timezone, holiday_calendar=holiday_calendar)
    rows = calendar_features(index, config)
    local = index.tz_convert(timezone).hour.to_numpy()
    rows.setflags(write=False)
    local.setflags(write=False)
    return rows, local


# Most requests forecast the same next hours: their blocks come from this cache.
_calendar_block = lru_cache(maxsize=4096)(_calendar_hours)

_SHARED_CALENDAR_HOURS = 24 * 62
"""Series of one call whose blocks all lie within this many hours share one calendar pass.

A batch of series that end at different hours needs a block each; one pandas pass over the
hours they span costs about what one block costs (1,000 blocks: 1.3 s one by one, here). An
hour's calendar row does not depend on the span it is computed in (the holiday table is padded
by a month on each side, and its distances stop at a week)."""


@dataclass(frozen=True)
class SeriesInput:
    """One series to forecast.

    Attributes:
        first_hour: Epoch hour of ``values[0]``.
        values: Regular hourly values ending at the last observed hour (see
            :func:`recent_observed`).
        horizon: Hours to forecast.
        series_id: The series, for a global model's series code; None for the model's only one.
    """

    first_hour: int
    values: FloatArray
    horizon: int
    series_id: str | None = None


@dataclass(frozen=True)
class PointForecast:
    """Forecasts of one series and what their intervals need.

    Attributes:
        first_hour: Epoch hour of the first forecast hour.
        values: Point forecasts.
        origin_levels: Level of the series at each forecast's origin.
        local_hours: Local hour of day of each forecast hour.
    """

    first_hour: int
    values: FloatArray
    origin_levels: FloatArray
    local_hours: IntArray


class DirectPredictor:
    """Forecasts of a fitted direct forecaster from arrays, many series per booster call.

    Args:
        forecaster: A fitted forecaster with the direct strategy and no known-future
            covariates (:meth:`supports`).
    """

    def __init__(self, forecaster: Forecaster) -> None:
        if not self.supports(forecaster):
            raise ValueError("the fast path serves fitted direct forecasters without covariates")
        config = forecaster.config
        self.forecaster = forecaster
        self.config = config
        self._booster = forecaster.booster
        # Concurrent requests share one booster call and one feature pass (coalesce.py).
        self._coalesced: Coalescer[SeriesInput, PointForecast] = Coalescer(self._predict)
        # The fast path lives beside the front class and reads its fitted state.
        state = forecaster._require_state()
        self._nonnegative = state.nonnegative
        self._codes = dict(state.series_codes)
        self._head = config.origin_transforms
        self._transforms = [*self._head, *config.target_transforms]
        values = {t.name for t in config.transforms}
        self._value_columns = np.array([name in values for name in forecaster.feature_names])
        self._transform = forecaster.target_transform
        if config.holiday_calendar:
            # The holidays package imports a country's module on first use (0.6 s here):
            # paid now, at load, not by the first request.
            holiday_dates(config.holiday_calendar, [2000])

    @staticmethod
    def supports(forecaster: Forecaster) -> bool:
        """Whether ``forecaster`` can be served by this path."""
        return (
            forecaster.is_fitted
            and forecaster.strategy == "direct"
            and not forecaster.config.known_future
        )

    def series_code(self, series_id: str | None) -> float:
        """The ``series_code`` feature for a series, as ``Forecaster.predict`` sets it."""
        if series_id is not None and series_id in self._codes:
            return float(self._codes[series_id])
        # Unknown to a global model: a missing code (XGBoost's default branch).
        return float("nan") if len(self._codes) > 1 else 0.0

    def _design(
        self,
        histories: Sequence[tuple[int, FloatArray]],
        codes: Sequence[float],
        zones: Sequence[str],
    ) -> tuple[FloatArray, FloatArray, IntArray]:
        """Direct rows of the next block of series whose histories have one length.

        The lag transforms run once over all of them (one series per row of a 2-D array),
        not once per series. Returns the rows (``config.horizon`` per series, in order),
        their origin levels and local hours.
        """
        block = self.config.horizon
        origin = len(histories[0][1])
        extended = np.full((len(histories), origin + block), np.nan)
        extended[:, :origin] = np.vstack([values for _, values in histories])
        # Only the positions from the origin on are read below.
        lagged = np.stack([t.transform(extended, origin) for t in self._transforms], axis=-1)
        split = len(self._head)
        calendar, local = self._calendar([first + origin for first, _ in histories], zones)
        matrix = np.hstack(
            [
                np.tile(np.arange(1, block + 1, dtype=float), len(histories))[:, None],
                np.repeat(lagged[:, 0, :split], block, axis=0),
                lagged[:, :, split:].reshape(-1, lagged.shape[-1] - split),
                calendar,
                np.repeat(np.asarray(codes, dtype=float), block)[:, None],
            ]
        )
        levels = origin_levels(extended, np.full(block, origin)).reshape(-1)
        encoded = encode_features(matrix, self._value_columns, levels, self._transform)
        return encoded, levels, local

    def _calendar(self, starts: Sequence[int], zones: Sequence[str]) -> tuple[FloatArray, IntArray]:
        """Calendar rows and local hours of the block from each start, in order."""
        block, holidays = self.config.horizon, self.config.holiday_calendar
        rows: list[FloatArray] = [np.empty(0)] * len(starts)
        hours: list[IntArray] = [np.empty(0, dtype=np.int64)] * len(starts)
        by_zone: dict[str, list[int]] = defaultdict(list)
        for position, zone in enumerate(zones):
            by_zone[zone].append(position)
        for zone, positions in by_zone.items():
            low = min(starts[p] for p in positions)
            span = max(starts[p] for p in positions) - low + block
            if span == block or span > _SHARED_CALENDAR_HOURS:
                for p in positions:
                    rows[p], hours[p] = _calendar_block(zone, holidays, starts[p], block)
                continue
            shared_rows, shared_hours = _calendar_hours(zone, holidays, low, span)
            for p in positions:
                at = starts[p] - low
                rows[p], hours[p] = shared_rows[at : at + block], shared_hours[at : at + block]
        return np.vstack(rows), np.concatenate(hours)

    def predict(self, inputs: Sequence[SeriesInput], *, merge: bool = True) -> list[PointForecast]:
        """Point forecasts of every input, block by block (one booster call per block).

        Forecasts longer than ``config.horizon`` feed each block back as history, as
        ``Forecaster.predict`` does. Calls from other threads that arrive meanwhile are
        computed together (:class:`~hourcast.forecasting.coalesce.Coalescer`); the numbers
        are the same. ``merge=False`` computes at once on the calling thread, beside any
        call running (``inplace_predict`` is thread-safe since XGBoost 1.4 and the rest
        shares no mutable state): for an event loop, which merges its own requests and must
        not wait for a batch that another thread is computing.
        """
        return self._coalesced(inputs) if merge else self._predict(inputs)

    def _predict(self, inputs: Sequence[SeriesInput]) -> list[PointForecast]:
        block, lookback = self.config.horizon, self.config.lookback
        codes = [self.series_code(item.series_id) for item in inputs]
        zones = [self.config.timezone_of(item.series_id) for item in inputs]
        histories = []
        for item in inputs:
            kept = item.values[-lookback:]
            histories.append((item.first_hour + len(item.values) - len(kept), kept))
        starts = [first + len(values) for first, values in histories]
        forecasts: list[list[FloatArray]] = [[] for _ in inputs]
        levels_out: list[list[FloatArray]] = [[] for _ in inputs]
        hours_out: list[list[IntArray]] = [[] for _ in inputs]
        done = 0
        while True:
            by_length: dict[int, list[int]] = defaultdict(list)
            for i, item in enumerate(inputs):
                if item.horizon > done:
                    by_length[len(histories[i][1])].append(i)
            if not by_length:
                break
            groups = list(by_length.values())
            designs = [
                self._design(
                    [histories[i] for i in group],
                    [codes[i] for i in group],
                    [zones[i] for i in group],
                )
                for group in groups
            ]
            raw = self._booster.inplace_predict(np.vstack([design[0] for design in designs]))
            offset = 0
            for group, (_, levels, local) in zip(groups, designs, strict=True):
                for position, i in enumerate(group):
                    rows = slice(position * block, (position + 1) * block)
                    part = raw[offset + rows.start : offset + rows.stop]
                    forecast = decode(
                        part, levels[rows], self._transform, nonnegative=self._nonnegative
                    )
                    forecasts[i].append(forecast)
                    levels_out[i].append(levels[rows])
                    hours_out[i].append(local[rows])
                    if inputs[i].horizon <= done + block:
                        continue  # its last block: no history to carry on
                    first, values = histories[i]
                    joined = np.r_[values, forecast]
                    kept = joined[-lookback:]
                    histories[i] = (first + len(joined) - len(kept), kept)
                offset += len(group) * block
            done += block
        return [
            PointForecast(
                first_hour=starts[i],
                values=np.concatenate(forecasts[i])[: item.horizon],
                origin_levels=np.concatenate(levels_out[i])[: item.horizon],
                local_hours=np.concatenate(hours_out[i])[: item.horizon],
            )
            for i, item in enumerate(inputs)
        ]

    def intervals(
        self, forecast: PointForecast, levels: Sequence[int]
    ) -> dict[int, tuple[FloatArray, FloatArray]]:
        """Lower and upper bounds of each level, as ``Forecaster.predict_intervals`` gives them."""
        intervals = self.forecaster.intervals
        intervals.require(levels)
        steps = np.minimum(np.arange(len(forecast.values)), self.config.horizon - 1)
        out = {}
        for level in levels:
            low, high = intervals.bounds(
                level, forecast.values, forecast.origin_levels, steps, forecast.local_hours
            )
            if self._nonnegative:
                low, high = np.maximum(low, 0.0), np.maximum(high, 0.0)
            out[level] = (low, high)
        return out
