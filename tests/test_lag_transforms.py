"""Lag transforms: shifts, NaN-aware rolling statistics, seasonal means, validation."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from hourcast.forecasting.lag_transforms import (
    Lag,
    RollingMean,
    RollingStd,
    SeasonalRollingMean,
)


def _values(seed: int = 1, n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(100, 20, n)
    values[rng.random(n) < 0.2] = np.nan
    return values


def test_lag_shifts() -> None:
    values = _values()
    out = Lag(3).transform(values)
    assert np.isnan(out[:3]).all()
    assert_array_equal(out[3:], values[:-3])


@pytest.mark.parametrize("window", [2, 24, 168])
def test_rolling_mean_and_std_match_pandas_on_gappy_data(window: int) -> None:
    values = _values()
    shifted = pd.Series(values).shift(1).rolling(window, min_periods=max(2, window // 2))
    assert_allclose(RollingMean(1, window).transform(values), shifted.mean(), rtol=1e-9)
    assert_allclose(RollingStd(1, window).transform(values), shifted.std(), rtol=1e-6, atol=1e-6)


def test_seasonal_rolling_mean_averages_values_one_season_apart() -> None:
    values = _values()
    transform = SeasonalRollingMean(24, season_length=24, window_size=3)
    out = transform.transform(values)
    t = 300
    expected = np.nanmean([values[t - 24], values[t - 48], values[t - 72]])
    assert out[t] == pytest.approx(expected)
    assert transform.span == 24 + 24 * 2
    assert transform.name == "seasonal_rolling_mean_24x3_lag_24"


def test_transforms_refuse_lag_zero_and_short_windows() -> None:
    with pytest.raises(ValueError, match="lag must be >= 1"):
        Lag(0)
    with pytest.raises(ValueError, match="window"):
        RollingMean(1, 1)
    with pytest.raises(ValueError, match="window_size"):
        SeasonalRollingMean(24, season_length=24, window_size=1)


def test_transforms_compare_by_kind_and_parameters() -> None:
    assert RollingMean(1, 24) == RollingMean(1, 24)
    assert RollingMean(1, 24) != RollingStd(1, 24)
    assert len({Lag(1), Lag(1), Lag(2)}) == 2
    assert RollingStd(24, 168).span == 24 + 168 - 1


@pytest.mark.parametrize(
    "transform",
    [
        Lag(1),
        Lag(168),
        RollingMean(1, 24),
        RollingStd(1, 24),
        RollingMean(24, 168),
        SeasonalRollingMean(24, 24, 7),
        SeasonalRollingMean(168, 168, 4),
    ],
    ids=repr,
)
@pytest.mark.parametrize("start", [0, 1, 100, 480, 499, 500])
def test_a_tail_from_start_is_the_whole_arrays_tail_to_the_bit(
    transform: Lag | RollingMean | RollingStd | SeasonalRollingMean, start: int
) -> None:
    one = _values(3)
    many = np.vstack([_values(seed) for seed in range(4)])
    assert_array_equal(transform.transform(one, start), transform.transform(one)[start:])
    assert_array_equal(transform.transform(many, start), transform.transform(many)[:, start:])
