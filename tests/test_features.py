"""Features: no look-ahead, configuration, local-time calendar, whole-day holidays."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from hourcast.forecasting.calendars import (
    DAY_FEATURES,
    US_FEDERAL_HOLIDAYS,
    minnesota_state_fair_days,
)
from hourcast.forecasting.features import (
    FeatureConfig,
    build_direct_features,
    build_features,
    calendar_feature_names,
    direct_feature_names,
    regularize,
)

CHICAGO = "America/Chicago"
CONFIG = FeatureConfig(
    lags=(1, 2, 3, 24, 48, 168),
    rolling_means=((1, 24), (24, 168)),
    rolling_stds=((1, 24),),
    seasonal_rolling_means=((24, 24, 7), (168, 168, 2)),
    timezone=CHICAGO,
    holiday_calendar="US-MN",
)


def _series(hours: int = 24 * 30, seed: int = 0, start: str = "2018-06-01") -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    values = 1000 + 300 * np.sin(np.arange(hours) * 2 * np.pi / 24) + rng.normal(0, 50, hours)
    values[rng.random(hours) < 0.05] = np.nan  # gaps
    return pd.Series(values, index=index)


def _hours_local(local_start: str, periods: int) -> pd.DatetimeIndex:
    return pd.date_range(
        pd.Timestamp(local_start, tz=CHICAGO).tz_convert("UTC"), periods=periods, freq="h"
    )


# --------------------------------------------------------------------------- no look-ahead
@pytest.mark.parametrize("position", [200, 400, 700])
def test_one_step_row_ignores_its_own_value_and_everything_after(position: int) -> None:
    series = _series()
    before = build_features(series, CONFIG)
    perturbed = series.copy()
    perturbed.iloc[position:] = perturbed.iloc[position:] * 3 + 1000
    after = build_features(perturbed, CONFIG)
    # row `position` forecasts the perturbed hour itself: it must not change either
    assert_array_equal(
        before.iloc[: position + 1].to_numpy(), after.iloc[: position + 1].to_numpy()
    )
    assert not np.allclose(
        before.iloc[position + 1 :, 0].to_numpy(), after.iloc[position + 1 :, 0].to_numpy()
    )


@pytest.mark.parametrize("origin", [200, 333, 600])
def test_direct_rows_use_only_values_before_the_origin(origin: int) -> None:
    series = _series()
    steps = np.arange(1, CONFIG.horizon + 1)
    origins = np.full(len(steps), origin)
    before = build_direct_features(series, CONFIG, origins, steps)
    perturbed = series.copy()
    perturbed.iloc[origin:] = np.nan if origin % 2 else perturbed.iloc[origin:] * -5.0
    after = build_direct_features(perturbed, CONFIG, origins, steps)
    assert_array_equal(before, after)
    # and the features do depend on the values just before the origin
    earlier = series.copy()
    earlier.iloc[origin - 1] += 10_000
    changed = build_direct_features(earlier, CONFIG, origins, steps)
    assert not np.array_equal(before, changed)


def test_direct_rows_read_origin_and_target_transforms_at_the_right_hours() -> None:
    values = np.arange(1000, dtype=float)
    index = pd.date_range("2018-06-01", periods=1000, freq="h", tz="UTC")
    config = FeatureConfig(
        lags=(1, 24, 168), rolling_means=(), rolling_stds=(), timezone="UTC", horizon=24
    )
    origin, steps = 500, np.array([1, 5, 24])
    rows = build_direct_features(pd.Series(values, index=index), config, np.full(3, origin), steps)
    names = direct_feature_names(config)
    assert_array_equal(rows[:, names.index("step")], steps)
    # lag 1 is read at the origin: the last value before it, whatever the step
    assert_array_equal(rows[:, names.index("lag_1")], [origin - 1] * 3)
    # lags >= horizon are read at the target: same hour one day / one week earlier
    targets = origin + steps - 1
    assert_array_equal(rows[:, names.index("lag_24")], targets - 24)
    assert_array_equal(rows[:, names.index("lag_168")], targets - 168)
    assert (rows[:, names.index("lag_24")] < origin).all()


def test_direct_steps_beyond_the_horizon_are_refused() -> None:
    series = _series()
    with pytest.raises(ValueError, match="steps"):
        build_direct_features(series, CONFIG, np.array([300]), np.array([25]))


# --------------------------------------------------------------------------- calendar
def test_calendar_is_local_time_across_spring_dst() -> None:
    # 2018-03-11: Chicago skips 02:00 local
    index = _hours_local("2018-03-10 22:00", 8)
    frame = build_features(pd.Series(1.0, index=index), CONFIG)
    assert frame["hour"].tolist() == [22, 23, 0, 1, 3, 4, 5, 6]
    assert frame["dayofweek"].tolist() == [5, 5, 6, 6, 6, 6, 6, 6]


def test_calendar_is_local_time_across_autumn_dst() -> None:
    # 2017-11-05: Chicago repeats 01:00 local
    index = _hours_local("2017-11-05 00:00", 4)
    frame = build_features(pd.Series(1.0, index=index), CONFIG)
    assert frame["hour"].tolist() == [0, 1, 1, 2]


def test_holidays_cover_whole_local_days() -> None:
    index = _hours_local("2018-07-03 00:00", 72)
    frame = build_features(pd.Series(1.0, index=index), CONFIG)
    local = index.tz_convert(CHICAGO)
    on_day = local.date == dt.date(2018, 7, 4)
    assert on_day.sum() == 24
    assert (frame.loc[on_day, "is_holiday"] == 1).all()
    assert (frame.loc[~on_day, "is_holiday"] == 0).all()
    code = US_FEDERAL_HOLIDAYS.index("Independence Day") + 1
    assert (frame.loc[on_day, "holiday_code"] == code).all()
    # 23:00 local on July 3 is already July 4 in UTC, and still not a holiday
    assert frame["is_holiday"].iloc[23] == 0
    assert index[23].day == 4
    assert (frame.loc[local.date == dt.date(2018, 7, 3), "days_to_holiday"] == 1).all()
    assert (frame.loc[local.date == dt.date(2018, 7, 5), "days_from_holiday"] == 1).all()


def test_state_fair_days_and_bridge_days_are_whole_days() -> None:
    fair = sorted(minnesota_state_fair_days(2017))
    index = _hours_local(f"{fair[0] - dt.timedelta(days=1)} 00:00", 24 * 14)
    frame = build_features(pd.Series(1.0, index=index), CONFIG)
    local_dates = index.tz_convert(CHICAGO).date
    in_fair = np.isin(local_dates, fair)
    assert in_fair.sum() == 12 * 24
    assert_array_equal(frame["is_event_day"].to_numpy(), in_fair.astype(float))
    # Friday after Thanksgiving is a bridge day, all day long
    thanksgiving = _hours_local("2017-11-23 00:00", 48)
    days = build_features(pd.Series(1.0, index=thanksgiving), CONFIG)
    assert days["is_bridge_day"].tolist() == [0.0] * 24 + [1.0] * 24


def test_calendar_columns_without_holiday_calendar() -> None:
    config = FeatureConfig(timezone="Asia/Shanghai")
    assert calendar_feature_names(config) == ["hour", "dayofweek", "month"]
    frame = build_features(_series(48), config)
    assert not set(DAY_FEATURES) & set(frame.columns)
    # 16:00 UTC is midnight in Beijing
    assert frame["hour"].iloc[16] == 0


# --------------------------------------------------------------------------- covariates
def test_known_future_covariates_are_taken_at_the_target_hour() -> None:
    config = FeatureConfig(lags=(1, 24), rolling_means=(), rolling_stds=(), known_future=("plan",))
    series = _series(24 * 10)
    covariates = pd.DataFrame({"plan": np.arange(len(series), dtype=float)}, index=series.index)
    rows = build_direct_features(
        series, config, np.array([100, 100]), np.array([1, 7]), covariates=covariates
    )
    column = direct_feature_names(config).index("plan")
    assert_array_equal(rows[:, column], [100, 106])
    with pytest.raises(ValueError, match="required"):
        build_features(series, config)


def test_series_code_column_identifies_the_series() -> None:
    frame = build_features(_series(48), CONFIG, series_code=3)
    assert (frame["series_code"] == 3).all()


def test_regularize_keeps_gaps_as_nan() -> None:
    index = pd.DatetimeIndex(["2018-01-01 00:00", "2018-01-01 01:00", "2018-01-01 04:00"], tz="UTC")
    out = regularize(pd.Series([1.0, 2.0, 3.0], index=index))
    assert len(out) == 5
    assert out.isna().sum() == 2
    with pytest.raises(ValueError, match="aware"):
        regularize(pd.Series([1.0], index=pd.DatetimeIndex(["2018-01-01"])))
