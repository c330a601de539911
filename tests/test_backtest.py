"""Rolling-origin backtests: local-midnight origins, no look-ahead, refit policy."""

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.baselines import persistence
from hourcast.training.backtest import daily_origins, forecast_from, rolling_origin

CHICAGO = "America/Chicago"


def _series(days: int = 30, start: str = "2018-02-20") -> pd.Series:
    rng = np.random.default_rng(3)
    index = pd.date_range(start, periods=24 * days, freq="h", tz="UTC")
    return pd.Series(rng.normal(100, 10, len(index)), index=index)


def test_origins_are_local_midnights_across_dst() -> None:
    series = _series()  # spans 2018-03-11, when Chicago moves from UTC-6 to UTC-5
    origins = daily_origins(series.index, timezone=CHICAGO, n_origins=20)
    assert len(origins) == 20
    local = origins.tz_convert(CHICAGO)
    assert (local.hour == 0).all()
    assert (local.minute == 0).all()
    assert set(origins.hour) == {5, 6}  # 06:00 UTC in CST, 05:00 UTC in CDT
    assert np.all(np.diff(local.normalize().asi8) > 0)
    # the last window lies inside the data
    assert origins[-1] + pd.Timedelta(hours=23) <= series.index[-1]


def test_last_origins_end_at_the_data() -> None:
    series = _series()
    origins = daily_origins(series.index, timezone="UTC", n_origins=3)
    assert origins[-1] + pd.Timedelta(hours=23) == series.index[-1]
    assert list(np.diff(origins.asi8) // 3_600_000_000_000) == [24, 24]


def test_train_end_selects_the_first_origins_after_it() -> None:
    series = _series()
    cutoff = pd.Timestamp("2018-03-01 12:00", tz="UTC")
    origins = daily_origins(series.index, timezone=CHICAGO, n_origins=5, train_end=cutoff)
    assert len(origins) == 5
    assert origins[0] > cutoff
    assert origins[0] - cutoff < pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="aware"):
        daily_origins(series.index, timezone=CHICAGO, n_origins=5, train_end=pd.Timestamp(0))


def test_forecasts_see_only_the_past_and_fit_once_by_default() -> None:
    series = _series()
    origins = daily_origins(series.index, timezone=CHICAGO, n_origins=6)
    fits: list[pd.Timestamp] = []

    def fit(train: pd.Series):
        fits.append(train.index[-1])

        def forecast(history: pd.Series, horizon: int) -> pd.Series:
            seen.append(history.index[-1])
            return persistence(history, horizon)

        return forecast

    seen: list[pd.Timestamp] = []
    result = rolling_origin(series, fit, origins)
    assert fits == [origins[0] - pd.Timedelta(hours=1)]
    assert all(last < origin for last, origin in zip(seen, origins, strict=True))
    assert len(result) == 6 * 24
    assert list(result.columns) == ["origin", "ts", "step", "actual", "forecast"]
    assert result["step"].tolist()[:3] == [1, 2, 3]
    first = result[result["origin"] == origins[0]]
    assert first["ts"].iloc[0] == origins[0]
    # persistence repeats the last value before the origin
    assert (first["forecast"] == series[series.index < origins[0]].iloc[-1]).all()


def test_refit_every_k_origins() -> None:
    series = _series()
    origins = daily_origins(series.index, timezone="UTC", n_origins=5)
    fits: list[pd.Timestamp] = []

    def fit(train: pd.Series):
        fits.append(train.index[-1])
        return persistence

    rolling_origin(series, fit, origins, refit_every=2)
    expected = [origins[i] - pd.Timedelta(hours=1) for i in (0, 2, 4)]
    assert fits == expected


def test_missing_actuals_stay_missing_and_gaps_before_the_origin_are_bridged() -> None:
    series = _series()
    origins = daily_origins(series.index, timezone="UTC", n_origins=2)
    series[origins[1] - pd.Timedelta(hours=3) : origins[1] + pd.Timedelta(hours=1)] = np.nan
    result = rolling_origin(series, lambda _train: persistence, origins)
    second = result[result["origin"] == origins[1]]
    assert second["actual"].isna().sum() == 2
    assert np.isfinite(second["forecast"]).all()
    assert second["ts"].iloc[0] == origins[1]
    # the forecaster was asked for the 3 missing hours too; they are dropped
    history = series[series.index < origins[1]]
    values = forecast_from(persistence, history, origins[1], 24)
    assert len(values) == 24
    assert (values == history.dropna().iloc[-1]).all()


def test_unsorted_origins_are_refused() -> None:
    series = _series()
    origins = daily_origins(series.index, timezone="UTC", n_origins=3)
    with pytest.raises(ValueError, match="sorted"):
        rolling_origin(series, lambda _train: persistence, origins[::-1])
