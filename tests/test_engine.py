"""Engine: the booster's columns, training rows and design rows that never look ahead."""

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.engine import Engine
from hourcast.forecasting.features import FeatureConfig, direct_feature_names

CONFIG = FeatureConfig(
    lags=(1, 2, 24, 168),
    rolling_means=((1, 24),),
    rolling_stds=(),
    seasonal_rolling_means=((24, 24, 3),),
    timezone="America/Chicago",
    holiday_calendar="US-MN",
)


def _series(days: int = 40, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    hours = 24 * days
    index = pd.date_range("2018-03-01", periods=hours, freq="h", tz="UTC")
    values = 1000 * (1 + 0.5 * np.sin(2 * np.pi * np.arange(hours) / 24))
    return pd.Series(values + rng.normal(0, 30, hours), index=index)


def _engine(strategy: str = "direct", transform: str = "scale") -> Engine:
    return Engine(CONFIG, strategy, transform, steps_per_hour=4)  # type: ignore[arg-type]


def test_feature_names_follow_the_strategy() -> None:
    assert _engine().feature_names == direct_feature_names(CONFIG)
    recursive = _engine("recursive").feature_names
    assert recursive[0] == "lag_1"
    assert "step" not in recursive


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_training_rows_skip_hours_without_a_value(strategy: str) -> None:
    series = _series()
    series.iloc[100:150] = np.nan
    engine = _engine(strategy)
    matrix, label = engine.training_rows(series, None, 0.0, seed=1)
    observed = int(series.notna().sum())
    assert matrix.shape[1] == len(engine.feature_names)
    assert len(label) == len(matrix)
    assert np.isfinite(label).all()
    rows_per_hour = 4 if strategy == "direct" else 1
    assert len(label) <= observed * rows_per_hour
    assert len(label) > 0.9 * observed * rows_per_hour


@pytest.mark.parametrize("transform", ["none", "scale"])
def test_training_and_calibration_rows_use_only_values_before_the_origin(transform: str) -> None:
    engine = _engine(transform=transform)
    values = _series()
    values.iloc[300:500] = np.nan  # a long gap: the level falls back to older values
    origin = 520
    steps = np.arange(1, 25)
    origins = np.full(24, origin)
    before, levels = engine._direct_design(values, origins, steps, None, 0.0)
    changed = values.copy()
    changed.iloc[origin:] = changed.iloc[origin:] * 7 + 500
    after, levels_after = engine._direct_design(changed, origins, steps, None, 0.0)
    np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(levels, levels_after)


def test_local_hours_and_future_index() -> None:
    index = pd.date_range("2018-07-01 05:00", periods=3, freq="h", tz="UTC")
    assert _engine().local_hours(index).tolist() == [0, 1, 2]  # Chicago is UTC-5 in July
    future = _engine().future_index(pd.Series(1.0, index=index), 2)
    assert future[0] == index[-1] + pd.Timedelta(hours=1)
    assert len(future) == 2
