"""Baselines: persistence and seasonal naive, with gaps handled natively."""

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.baselines import persistence, seasonal_naive


def _history(hours: int = 24 * 10) -> pd.Series:
    index = pd.date_range("2018-05-01", periods=hours, freq="h", tz="UTC")
    return pd.Series(np.arange(hours, dtype=float), index=index)


def test_persistence_repeats_the_last_observed_value() -> None:
    history = _history()
    history.iloc[-2:] = np.nan
    forecast = persistence(history, 5)
    assert (forecast == history.iloc[-3]).all()
    assert forecast.index[0] == history.index[-3] + pd.Timedelta(hours=1)
    assert len(forecast) == 5


@pytest.mark.parametrize("season", [24, 168])
def test_seasonal_naive_takes_the_value_one_season_back(season: int) -> None:
    history = _history()
    forecast = seasonal_naive(history, 24, season)
    n = len(history)
    expected = [history.iloc[n + step - season] for step in range(24)]
    assert forecast.tolist() == expected
    assert forecast.index[0] == history.index[-1] + pd.Timedelta(hours=1)


def test_seasonal_naive_goes_back_another_season_over_a_gap() -> None:
    history = _history()
    n = len(history)
    history.iloc[n - 24] = np.nan  # yesterday's value for the first forecast hour
    forecast = seasonal_naive(history, 3, 24)
    assert forecast.iloc[0] == history.iloc[n - 48]
    assert forecast.iloc[1] == history.iloc[n - 23]
    # missing hours (absent from the index) are gaps too
    dropped = _history().drop(_history().index[n - 24])
    assert seasonal_naive(dropped, 1, 24).iloc[0] == n - 48


def test_seasonal_naive_repeats_the_last_season_beyond_one_season() -> None:
    history = _history()
    forecast = seasonal_naive(history, 48, 24)
    assert forecast.iloc[24:].tolist() == forecast.iloc[:24].tolist()


def test_seasonal_naive_falls_back_to_persistence_without_seasonal_history() -> None:
    history = _history(10)
    forecast = seasonal_naive(history, 3, 24)
    assert (forecast == history.iloc[-1]).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="observed"):
        persistence(pd.Series([np.nan], index=_history(1).index), 3)
    with pytest.raises(ValueError, match="horizon"):
        persistence(_history(), 0)
    with pytest.raises(ValueError, match="season"):
        seasonal_naive(_history(), 3, 0)
