"""The accuracy benchmark hands the mlforecast peers every observed hour Hourcast trains on."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.presets import preset_for
from tests.script_modules import load_script

bench = load_script("benchmark_accuracy")
TRAIN_END = pd.Timestamp("2024-03-31 23:00", tz="UTC")


@pytest.fixture
def data() -> Any:
    """Fourteen weeks of hourly values with a three-week hole and short gaps on both sides of it."""
    index = pd.date_range("2024-01-01", "2024-04-10 23:00", freq="h", tz="UTC")
    hours = np.arange(len(index))
    values = 100 + 30 * np.sin(2 * np.pi * hours / 24) + hours / 100
    values[50:53] = np.nan  # short gaps: filled for the features, never labels
    values[24 * 20 : 24 * 41] = np.nan  # three weeks: the history splits here
    values[24 * 60 + 5 : 24 * 60 + 9] = np.nan
    series = pd.Series(values, index=index)
    return bench.Benchmarked(
        name="traffic",
        series=series,
        timezone="America/Chicago",
        holiday_calendar=None,
        preset_source="traffic",
        fill=bench._fill_weekly,
    )


def test_every_observed_hour_is_in_a_segment_of_its_own_id(data: Any) -> None:
    frame = bench.peer_training_frame(data, TRAIN_END)
    series = data.series
    observed = pd.DatetimeIndex(series[series.index <= TRAIN_END].dropna().index)

    assert frame["unique_id"].nunique() == 2
    assert frame["y"].notna().all()
    hours = pd.DatetimeIndex(frame["ds"]).tz_localize("UTC")
    assert observed.isin(hours).all()
    assert not hours.has_duplicates
    hole = pd.date_range(series.index[24 * 20], series.index[24 * 41 - 1], freq="h")
    assert not hours.isin(hole).any()


def test_history_before_an_origin_uses_only_the_past(data: Any) -> None:
    origin = pd.Timestamp("2024-03-01 06:00", tz="UTC")  # just after the second short gap
    history = bench.peer_history(data, origin)
    series = data.series
    changed = series.copy()
    changed[changed.index >= origin] = -1.0  # the future must not matter

    later = bench.peer_history(dataclasses.replace(data, series=changed), origin)
    assert history["ds"].iloc[-1] == (origin - bench.HOUR).tz_localize(None)
    assert history["y"].notna().all()
    pd.testing.assert_frame_equal(history, later)


@pytest.mark.slow
def test_hourcast_label_hours_are_the_observed_hours_it_fits_on(data: Any) -> None:
    series = data.series
    train = series[series.index <= TRAIN_END]
    forecaster = preset_for("traffic").forecaster(timezone="America/Chicago")

    labels = bench.hourcast_label_hours(forecaster, train)

    observed = pd.DatetimeIndex(train.dropna().index)
    assert labels.isin(observed).all()  # never a missing hour
    missed = observed[~observed.isin(labels)]
    # A direct model pairs each hour with random steps and cannot use a step longer than the
    # history: only hours of the first day can miss out.
    assert len(missed) < 24
    assert (missed < observed[0] + pd.Timedelta(hours=24)).all()
    assert labels.equals(bench.hourcast_label_hours(forecaster, train))  # the fit's own seed
