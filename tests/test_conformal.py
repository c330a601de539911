"""Conformal intervals: quantile tables, the calibration period, bounds, storage round trip."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from hourcast.forecasting.conformal import (
    ConformalIntervals,
    calibration_period,
    interval_width,
    quantile_table,
)

HOUR = pd.Timedelta(hours=1)


def _scores(origins: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Normalized residuals whose spread is 1 at night and 4 from 07:00 to 18:00 local."""
    rng = np.random.default_rng(seed)
    hours = (np.arange(origins)[:, None] + np.arange(24)[None, :]) % 24
    spread = np.where((hours >= 7) & (hours <= 18), 4.0, 1.0)
    return rng.normal(0, 1, hours.shape) * spread, hours


def test_quantile_table_is_wider_where_residuals_spread_more() -> None:
    scores, hours = _scores()
    table = np.asarray(quantile_table(scores, hours, [80])["80"])
    assert table.shape == (24, 24, 2)
    assert (table[:, :, 0] < 0).all()
    assert (table[:, :, 1] > 0).all()
    width = table[:, :, 1] - table[:, :, 0]
    assert width[:, 7:19].mean() > 3 * width[:, 0:6].mean()
    # a normal's central 80 % is +-1.28 sigma
    assert width[:, 0:6].mean() == pytest.approx(2 * 1.28, rel=0.15)


def test_quantile_table_is_empty_with_too_few_residuals() -> None:
    scores, hours = _scores(origins=3)
    assert quantile_table(scores, hours, [95]) == {}


def test_calibration_period_takes_the_weeks_a_year_back_when_the_data_reaches() -> None:
    end = pd.Timestamp("2018-07-08 23:00", tz="UTC")
    long = [(end - pd.Timedelta(days=500), end)]
    start, stop = calibration_period(long, days=84, calibration="season", lookback=672)
    assert start == end + HOUR - pd.Timedelta(days=364)
    assert stop - start == pd.Timedelta(days=84)
    short = [(end - pd.Timedelta(days=200), end)]
    recent = calibration_period(short, days=84, calibration="season", lookback=672)
    assert recent == (end + HOUR - pd.Timedelta(days=84), end + HOUR)
    assert calibration_period(long, days=84, calibration="recent", lookback=672) == recent


def test_intervals_round_trip_and_apply() -> None:
    scores, hours = _scores()
    period = (pd.Timestamp("2018-01-01", tz="UTC"), pd.Timestamp("2018-03-26", tz="UTC"))
    intervals = ConformalIntervals.calibrate(scores, hours, [80, 95], period)
    assert intervals.levels == (80, 95)
    assert ConformalIntervals.from_dict(intervals.to_dict()) == intervals
    forecast, level = np.array([100.0, 200.0]), np.array([150.0, 150.0])
    low, high = intervals.bounds(80, forecast, level, np.array([0, 1]), np.array([3, 12]))
    table = np.asarray(intervals.quantiles["80"])
    width = interval_width(forecast, level)
    assert_allclose(low, forecast + np.array([table[0, 3, 0], table[1, 12, 0]]) * width)
    assert_allclose(high, forecast + np.array([table[0, 3, 1], table[1, 12, 1]]) * width)
    with pytest.raises(ValueError, match=r"levels \[50\]"):
        intervals.require([80, 50])
    assert ConformalIntervals().levels == ()
    assert ConformalIntervals.from_dict({"interval_quantiles": {}}).calibrated_on is None
