"""Forecaster: fit, predict (direct and recursive), intervals, gaps, global model, fitted state."""

from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from hourcast.forecasting.baselines import persistence
from hourcast.forecasting.conformal import ConformalIntervals
from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster, NotFittedError

CONFIG = FeatureConfig(
    lags=(1, 2, 24, 168),
    rolling_means=((1, 24),),
    rolling_stds=(),
    seasonal_rolling_means=((24, 24, 3),),
    timezone="America/Chicago",
    holiday_calendar="US-MN",
)
PARAMS = {"objective": "reg:absoluteerror", "eta": 0.2, "max_depth": 4, "nthread": 2, "seed": 1}


def _series(days: int = 70, level: float = 1000.0, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    hours = 24 * days
    index = pd.date_range("2018-03-01", periods=hours, freq="h", tz="UTC")
    t = np.arange(hours)
    weekly = np.where((t // 24) % 7 >= 5, 0.6, 1.0)
    values = level * (1 + 0.5 * np.sin(2 * np.pi * t / 24)) * weekly
    values = values + rng.normal(0, 0.03 * level, hours)
    return pd.Series(values, index=index)


def _forecaster(**overrides) -> Forecaster:
    kwargs = {"params": dict(PARAMS), "num_boost_round": 40, "calibration_days": 14}
    return Forecaster(CONFIG, **{**kwargs, **overrides})


@pytest.fixture(scope="module")
def fitted() -> tuple[Forecaster, pd.Series]:
    series = _series()
    return _forecaster().fit(series.iloc[:-48]), series


@pytest.mark.parametrize("horizon", [1, 24, 30])
def test_predict_starts_after_the_last_observed_hour(fitted, horizon: int) -> None:
    forecaster, series = fitted
    history = series.iloc[-48 - CONFIG.lookback : -48]
    forecast = forecaster.predict(history, horizon)
    assert len(forecast) == horizon
    assert forecast.index[0] == history.index[-1] + pd.Timedelta(hours=1)
    assert forecast.index.freq == "h"
    assert str(forecast.index.tz) == "UTC"
    assert np.isfinite(forecast).all()


def test_direct_forecast_beats_persistence_on_a_seasonal_series(fitted) -> None:
    forecaster, series = fitted
    history, future = series.iloc[:-48], series.iloc[-48:-24]
    ours = forecaster.predict(history, 24)
    naive = persistence(history, 24)
    mae = np.mean(np.abs(ours.to_numpy() - future.to_numpy()))
    assert mae < 0.5 * np.mean(np.abs(naive.to_numpy() - future.to_numpy()))
    assert mae < 0.1 * series.mean()


def test_gaps_in_history_are_tolerated(fitted) -> None:
    forecaster, series = fitted
    history = series.iloc[-48 - CONFIG.lookback : -48].copy()
    history.iloc[-30:-20] = np.nan  # a gap inside
    history = history.drop(history.index[-60:-50])  # missing hours
    history.iloc[-3:] = np.nan  # the last three hours unknown
    forecast = forecaster.predict(history, 24)
    assert forecast.index[0] == history.dropna().index[-1] + pd.Timedelta(hours=1)
    assert np.isfinite(forecast).all()


def test_history_shorter_than_lookback_still_forecasts(fitted) -> None:
    forecaster, series = fitted
    forecast = forecaster.predict(series.iloc[-100:-48], 24)
    assert np.isfinite(forecast).all()


def test_predict_uses_only_the_last_lookback_hours(fitted) -> None:
    forecaster, series = fitted
    full = series.iloc[:-48]
    tail = full.iloc[-CONFIG.lookback :]
    assert_allclose(forecaster.predict(full, 24), forecaster.predict(tail, 24))


def test_intervals_are_nested_and_cover_about_their_level() -> None:
    series = _series(70)
    forecaster = _forecaster().fit(series.iloc[: -24 * 7])
    assert np.asarray(forecaster.intervals.quantiles["80"]).shape == (24, 24, 2)
    inside = {80: [], 95: []}
    for day in range(7, 0, -1):
        origin = len(series) - 24 * day
        frame = forecaster.predict_intervals(series.iloc[:origin], 24)
        assert list(frame.columns) == ["value", "lo_80", "hi_80", "lo_95", "hi_95"]
        assert (frame["lo_95"] <= frame["lo_80"]).all()
        assert (frame["lo_80"] <= frame["hi_80"]).all()
        assert (frame["hi_80"] <= frame["hi_95"]).all()
        actual = series.iloc[origin : origin + 24].to_numpy()
        for level, hits in inside.items():
            low, high = frame[f"lo_{level}"].to_numpy(), frame[f"hi_{level}"].to_numpy()
            hits.extend((actual >= low) & (actual <= high))
    assert 0.6 <= np.mean(inside[80]) <= 0.95
    assert 0.8 <= np.mean(inside[95]) <= 1.0
    assert np.mean(inside[95]) > np.mean(inside[80])
    with pytest.raises(ValueError, match="levels"):
        forecaster.predict_intervals(series, 24, levels=(50,))


def _noisy_weeks(days: int, noisy: tuple[pd.Timestamp, pd.Timestamp]) -> pd.Series:
    """The seasonal series with ten times the noise inside ``noisy`` [start, end)."""
    series = _series(days)
    inside = (series.index >= noisy[0]) & (series.index < noisy[1])
    noisy_values = series.to_numpy().copy()
    noisy_values[inside] += np.random.default_rng(5).normal(0, 300, int(inside.sum()))
    return pd.Series(noisy_values, index=series.index)


def test_season_calibration_uses_the_same_weeks_a_year_before_the_training_end() -> None:
    days = 400
    end = _series(days).index[-1] + pd.Timedelta(hours=1)
    year_back = (end - pd.Timedelta(days=364), end - pd.Timedelta(days=350))
    calm = _forecaster(calibration_days=14, num_boost_round=20).fit(_series(days))
    stormy = _forecaster(calibration_days=14, num_boost_round=20).fit(_noisy_weeks(days, year_back))
    assert stormy.calibrated_on == year_back
    width = {
        name: np.abs(np.asarray(model.intervals.quantiles["80"])).mean()
        for name, model in (("calm", calm), ("stormy", stormy))
    }
    assert width["stormy"] > 3 * width["calm"]  # the noisy weeks set the intervals
    recent = _forecaster(calibration_days=14, num_boost_round=20, calibration="recent").fit(
        _noisy_weeks(days, year_back)
    )
    assert recent.calibrated_on == (end - pd.Timedelta(days=14), end)
    assert np.abs(np.asarray(recent.intervals.quantiles["80"])).mean() < width["stormy"] / 3


def test_season_calibration_falls_back_to_recent_weeks_without_a_year_of_data() -> None:
    series = _series(70)
    forecaster = _forecaster().fit(series)
    end = series.index[-1] + pd.Timedelta(hours=1)
    assert forecaster.calibrated_on == (end - pd.Timedelta(days=14), end)
    with pytest.raises(ValueError, match="calibration"):
        _forecaster(calibration="yesterday")


def test_no_intervals_without_calibration() -> None:
    forecaster = _forecaster(calibration_days=0).fit(_series(40))
    assert forecaster.interval_levels == ()
    with pytest.raises(ValueError, match="calibrated"):
        forecaster.predict_intervals(_series(40), 24)


def test_recursive_strategy_fits_and_predicts() -> None:
    series = _series(50)
    forecaster = _forecaster(strategy="recursive", calibration_days=0).fit(series.iloc[:-24])
    forecast = forecaster.predict(series.iloc[:-24], 24)
    assert len(forecast) == 24
    mae = np.mean(np.abs(forecast.to_numpy() - series.iloc[-24:].to_numpy()))
    assert mae < 0.15 * series.mean()


@pytest.mark.parametrize("transform", ["none", "log1p", "scale"])
def test_target_transforms_give_finite_nonnegative_forecasts(transform: str) -> None:
    series = _series(40)
    forecaster = _forecaster(target_transform=transform, calibration_days=0).fit(series)
    forecast = forecaster.predict(series, 24)
    assert np.isfinite(forecast).all()
    assert (forecast >= 0).all()


def test_global_model_tells_series_apart() -> None:
    small, large = _series(50, level=100.0, seed=1), _series(50, level=5000.0, seed=2)
    forecaster = _forecaster(target_transform="none", calibration_days=0).fit(
        {"small": small, "large": large}
    )
    assert forecaster.series_codes == {"large": 0, "small": 1}
    low = forecaster.predict(small, 24, series_id="small")
    high = forecaster.predict(large, 24, series_id="large")
    assert high.mean() > 10 * low.mean()
    with pytest.raises(ValueError, match="series_id"):
        forecaster.predict(small, 24)


def test_errors_before_fit_and_on_bad_arguments(fitted) -> None:
    with pytest.raises(NotFittedError):
        _forecaster().predict(_series(10), 24)
    with pytest.raises(ValueError, match="strategy"):
        _forecaster(strategy="sideways")
    forecaster, series = fitted
    with pytest.raises(ValueError, match="horizon"):
        forecaster.predict(series, 0)
    with pytest.raises(ValueError, match="observed hours"):
        _forecaster().fit(_series(10))


def test_fitted_state_is_set_only_by_fitting_or_loading(fitted) -> None:
    forecaster, _ = fitted
    with pytest.raises(AttributeError):
        forecaster.intervals = ConformalIntervals()  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        forecaster.num_boost_round = 1  # type: ignore[misc]
    copy = forecaster.clone(num_boost_round=5)
    assert not copy.is_fitted
    assert copy.num_boost_round == 5
    assert forecaster.is_fitted
    with pytest.raises(NotFittedError):
        copy.booster  # noqa: B018


def test_fit_reuses_intervals_calibrated_before(fitted) -> None:
    forecaster, series = fitted
    refit = forecaster.clone().fit(series.iloc[:-24], intervals=forecaster.intervals)
    assert refit.intervals == forecaster.intervals
    assert refit.trained_until == series.index[-25]
    frame = refit.predict_intervals(series.iloc[:-24], 24)
    assert (frame["lo_80"] <= frame["hi_80"]).all()
