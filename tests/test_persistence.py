"""Forecaster storage: round trip, refused formats, and a model saved before the regroup."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster
from hourcast.forecasting.persistence import FORMAT_VERSION, read_forecaster

PRE_REGROUP = Path(__file__).parent / "fixtures" / "models" / "pre_regroup"
CONFIG = FeatureConfig(
    lags=(1, 2, 24, 168),
    rolling_means=((1, 24),),
    rolling_stds=(),
    timezone="America/Chicago",
    holiday_calendar="US-MN",
)


@pytest.fixture(scope="module")
def fitted() -> tuple[Forecaster, pd.Series]:
    rng = np.random.default_rng(0)
    index = pd.date_range("2018-03-01", periods=24 * 50, freq="h", tz="UTC")
    values = 1000 * (1 + 0.5 * np.sin(2 * np.pi * np.arange(len(index)) / 24))
    series = pd.Series(values + rng.normal(0, 30, len(index)), index=index)
    params = {"eta": 0.2, "max_depth": 4, "nthread": 2, "seed": 1}
    forecaster = Forecaster(CONFIG, params=params, num_boost_round=20, calibration_days=14)
    return forecaster.fit(series.iloc[:-48]), series


def test_save_and_load_round_trip(fitted, tmp_path: Path) -> None:
    forecaster, series = fitted
    folder = forecaster.save(tmp_path / "model")
    assert (folder / "booster.ubj").exists()
    spec = json.loads((folder / "forecaster.json").read_text())
    assert spec["format_version"] == FORMAT_VERSION
    assert spec["strategy"] == "direct"
    assert spec["interval_quantiles"]["95"]
    loaded = Forecaster.load(folder)
    assert loaded.calibrated_on == forecaster.calibrated_on is not None
    history = series.iloc[:-48]
    pd.testing.assert_frame_equal(
        loaded.predict_intervals(history, 30), forecaster.predict_intervals(history, 30)
    )
    assert loaded.config == forecaster.config
    assert loaded.params == forecaster.params
    assert loaded.trained_until == forecaster.trained_until
    assert loaded.series_codes == forecaster.series_codes


def test_the_stored_spec_names_no_python_module(fitted, tmp_path: Path) -> None:
    forecaster, _ = fitted
    text = (forecaster.save(tmp_path / "model") / "forecaster.json").read_text()
    assert "hourcast." not in text
    assert "__" not in text


def test_load_refuses_an_older_format(fitted, tmp_path: Path) -> None:
    forecaster, _ = fitted
    folder = forecaster.save(tmp_path / "model")
    spec = json.loads((folder / "forecaster.json").read_text())
    spec["format_version"] = 1
    (folder / "forecaster.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"format 1 .*retrain the model"):
        Forecaster.load(folder)


def test_load_refuses_columns_this_version_does_not_build(fitted, tmp_path: Path) -> None:
    forecaster, _ = fitted
    folder = forecaster.save(tmp_path / "model")
    spec = json.loads((folder / "forecaster.json").read_text())
    spec["feature_names"] = [*spec["feature_names"], "weather"]
    (folder / "forecaster.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="retrain the model"):
        Forecaster.load(folder)


def test_a_forecaster_saved_before_the_regroup_loads_and_forecasts_the_same() -> None:
    folder = PRE_REGROUP / "model" / "artifacts" / "forecaster"
    settings, state = read_forecaster(folder)
    assert settings["calibration"] == "recent"
    assert state.intervals.levels == (80, 95)
    forecaster = Forecaster.load(folder)
    history = pd.read_csv(PRE_REGROUP / "history.csv", index_col=0, parse_dates=True).iloc[:, 0]
    expected = pd.read_csv(PRE_REGROUP / "expected.csv", index_col=0, parse_dates=True)
    got = forecaster.predict_intervals(
        history, 24, forecaster.interval_levels, series_id="traffic:i94-westbound"
    )
    assert list(got.columns) == list(expected.columns)
    assert (got.index == expected.index).all()
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9)
