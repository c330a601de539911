"""Metrics: known values, missing actuals never scored, per-step table."""

import numpy as np
import pandas as pd
import pytest

from hourcast.forecasting.scoring import mae, mase, mase_scale, rmse, score, score_by_step, smape


def test_known_values() -> None:
    actual = [1.0, 2.0, 3.0, 4.0]
    forecast = [2.0, 2.0, 1.0, 4.0]
    assert mae(actual, forecast) == pytest.approx(0.75)
    assert rmse(actual, forecast) == pytest.approx(np.sqrt(5 / 4))
    expected_smape = 100 * np.mean([2 * 1 / 3, 0, 2 * 2 / 4, 0])
    assert smape(actual, forecast) == pytest.approx(expected_smape)


def test_missing_actuals_are_not_scored() -> None:
    actual = [1.0, np.nan, 3.0]
    forecast = [2.0, 1000.0, 3.0]
    assert mae(actual, forecast) == pytest.approx(0.5)
    assert rmse(actual, forecast) == pytest.approx(np.sqrt(0.5))
    assert score(actual, forecast)["hours"] == 2


def test_missing_forecast_for_an_observed_hour_is_an_error() -> None:
    with pytest.raises(ValueError, match="missing"):
        mae([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="no observed"):
        mae([np.nan], [1.0])
    with pytest.raises(ValueError, match="shape"):
        mae([1.0], [1.0, 2.0])


def test_smape_of_two_zeros_is_zero() -> None:
    assert smape([0.0, 1.0], [0.0, 1.0]) == 0.0


def test_mase_scale_is_the_in_sample_seasonal_naive_mae() -> None:
    insample = np.array([1.0, 2.0, 4.0, np.nan, 3.0])
    # pairs at season 2: (1,4) -> 3, (2,nan) skipped, (4,3) -> 1
    assert mase_scale(insample, season=2) == pytest.approx(2.0)
    assert mase([1.0, 2.0], [2.0, 4.0], scale=2.0) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="longer"):
        mase_scale(insample, season=10)
    with pytest.raises(ValueError, match="positive"):
        mase([1.0], [1.0], scale=0.0)


def test_score_by_step_has_one_row_per_step_and_overall() -> None:
    frame = pd.DataFrame(
        {
            "step": [1, 2, 1, 2, 3],
            "actual": [1.0, 2.0, 3.0, np.nan, np.nan],
            "forecast": [1.0, 4.0, 5.0, 0.0, 0.0],
        }
    )
    table = score_by_step(frame, scale=1.0)
    assert list(table.index) == [1, 2, "overall"]  # step 3 has nothing observed
    assert table.loc[1, "mae"] == pytest.approx(1.0)
    assert table.loc[2, "mae"] == pytest.approx(2.0)
    assert table.loc["overall", "mae"] == pytest.approx(4 / 3)
    assert table.loc["overall", "hours"] == 3
    assert table.loc["overall", "mase"] == pytest.approx(4 / 3)
