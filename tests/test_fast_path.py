"""The serving fast path gives the numbers of ``Forecaster.predict_intervals`` to the bit."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.coalesce import Coalescer
from hourcast.forecasting.fast_path import (
    DirectPredictor,
    PointForecast,
    SeriesInput,
    epoch_hours_index,
    recent_observed,
)
from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster

HOURS = pd.date_range("2024-01-01", periods=24 * 70, freq="h", tz="UTC")
CONFIG = FeatureConfig(timezone="America/Chicago", holiday_calendar="US-MN")


def _series(seed: int, level: float) -> pd.Series:
    rng = np.random.default_rng(seed)
    daily = np.sin(2 * np.pi * HOURS.hour.to_numpy() / 24)
    return pd.Series(level * (2 + daily + 0.3 * rng.standard_normal(len(HOURS))), index=HOURS)


@pytest.fixture(scope="module")
def single() -> Forecaster:
    return Forecaster(CONFIG, num_boost_round=20, calibration_days=14, calibration="recent").fit(
        _series(1, 100.0)
    )


@pytest.fixture(scope="module")
def global_model() -> Forecaster:
    series = {"a": _series(2, 50.0), "b": _series(3, 500.0)}
    return Forecaster(CONFIG, num_boost_round=20, calibration_days=14, calibration="recent").fit(
        series
    )


def _epoch_hours(index: pd.DatetimeIndex) -> np.ndarray:
    return index.asi8 // 3_600_000_000_000


def _history(seed: int, hours: int = 504) -> pd.Series:
    history = _series(seed, 80.0).iloc[-hours:].copy()
    history.iloc[[5, 6, 100, -3]] = np.nan  # gaps inside, and the last hours unobserved
    history.iloc[-1] = np.nan
    return history


def _fast(
    predictor: DirectPredictor,
    history: pd.Series,
    horizon: int,
    levels: tuple[int, ...],
    series_id: str | None,
) -> pd.DataFrame:
    first, values = recent_observed(
        _epoch_hours(pd.DatetimeIndex(history.index)),
        history.to_numpy(),
        predictor.config.lookback,
    )
    [forecast] = predictor.predict([SeriesInput(first, values, horizon, series_id)])
    out = pd.DataFrame(
        {"value": forecast.values}, index=epoch_hours_index(forecast.first_hour, horizon)
    )
    for level, (low, high) in predictor.intervals(forecast, levels).items():
        out[f"lo_{level}"], out[f"hi_{level}"] = low, high
    return out


@pytest.mark.parametrize("horizon", [1, 24, 30, 72])
def test_single_series_model_is_identical(single: Forecaster, horizon: int) -> None:
    history = _history(7)
    expected = single.predict_intervals(history, horizon, (80, 95))
    got = _fast(DirectPredictor(single), history, horizon, (80, 95), None)
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_freq=False)


@pytest.mark.parametrize("series_id", ["a", "b", "unknown"])
def test_global_model_is_identical_for_fitted_and_new_series(
    global_model: Forecaster, series_id: str
) -> None:
    history = _history(11, hours=200)
    expected = global_model.predict_intervals(history, 30, (95,), series_id=series_id)
    got = _fast(DirectPredictor(global_model), history, 30, (95,), series_id)
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_freq=False)


def test_many_series_in_one_call_match_the_forecaster(global_model: Forecaster) -> None:
    # Same history lengths ending at different hours (transformed together as one 2-D
    # array), another length, other horizons and series codes.
    predictor = DirectPredictor(global_model)
    cases = [
        (1, 300, 0, 24, "a"),
        (2, 300, 5, 6, "b"),
        (3, 300, 40, 48, "new"),
        (4, 150, 0, 30, "a"),
    ]
    inputs, histories = [], []
    for seed, hours, end, horizon, series_id in cases:
        history = _history(seed, hours=hours + end).iloc[:hours]  # ends `end` hours earlier
        first, values = recent_observed(
            _epoch_hours(pd.DatetimeIndex(history.index)), history.to_numpy(), 10_000
        )
        inputs.append(SeriesInput(first, values, horizon, series_id))
        histories.append(history)
    assert len({len(item.values) for item in inputs[1:3]}) == 1
    assert inputs[1].first_hour != inputs[2].first_hour
    for item, history, forecast in zip(inputs, histories, predictor.predict(inputs), strict=True):
        expected = global_model.predict(history, item.horizon, series_id=item.series_id)
        np.testing.assert_array_equal(forecast.values, expected.to_numpy())
        assert forecast.first_hour == _epoch_hours(pd.DatetimeIndex(expected.index))[0]


def test_recent_observed_keeps_the_lookback_of_the_observed_span() -> None:
    hours = np.array([10, 3, 4, 8, 12])
    values = np.array([1.0, 2.0, np.nan, 4.0, np.nan])
    first, out = recent_observed(hours, values, lookback=100)
    assert first == 3
    np.testing.assert_array_equal(out, [2.0, np.nan, np.nan, np.nan, np.nan, 4.0, np.nan, 1.0])
    first, out = recent_observed(hours, values, lookback=3)
    assert first == 8
    np.testing.assert_array_equal(out, [4.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="no observed value"):
        recent_observed(hours, np.full(5, np.nan), lookback=3)


def test_recursive_and_covariate_models_have_no_fast_path() -> None:
    recursive = Forecaster(CONFIG, strategy="recursive")
    assert not DirectPredictor.supports(recursive)
    with pytest.raises(ValueError, match="fast path"):
        DirectPredictor(recursive)


def test_an_unmerged_call_does_not_wait_for_a_merged_call_running_in_another_thread(
    global_model: Forecaster,
) -> None:
    """The event loop's path (merge=False) is answered while a batch holds the coalescer."""
    predictor = DirectPredictor(global_model)
    history = _history(5, hours=300)
    first, values = recent_observed(
        _epoch_hours(pd.DatetimeIndex(history.index)), history.to_numpy(), 10_000
    )
    inputs = [SeriesInput(first, values, 24, "a")]
    release, entered = threading.Event(), threading.Event()
    compute = predictor._predict

    def held(items: Sequence[SeriesInput]) -> list[PointForecast]:
        entered.set()
        release.wait(30)
        return compute(items)

    predictor._coalesced = Coalescer(held)
    batch = threading.Thread(target=predictor.predict, args=(inputs,))
    batch.start()
    try:
        assert entered.wait(10)
        [alone] = predictor.predict(inputs, merge=False)
        assert batch.is_alive()  # the merged call still holds the coalescer
        [reference] = compute(inputs)
        np.testing.assert_array_equal(alone.values, reference.values)
    finally:
        release.set()
        batch.join(30)
