"""The backtest of the run just trained (its MLflow artifact) with the seasonal-naive baselines.

The chart blocks of the pipeline draw from this output (see `orchestration/charts/`).
"""

import pandas as pd

from hourcast.settings import get_settings
from hourcast.training.backtest_report import BACKTEST_COLUMNS, load_backtest, with_baselines

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def backtest_results(trained: dict, frame: pd.DataFrame, *args, **kwargs) -> pd.DataFrame:
    backtest = load_backtest(trained["run_id"], tracking_uri=get_settings().mlflow_tracking_uri)
    return with_baselines(backtest, frame)


@test
def test_one_row_per_series_origin_and_step(backtest: pd.DataFrame, *args) -> None:
    assert set(BACKTEST_COLUMNS) <= set(backtest.columns), "backtest columns missing"
    assert {"seasonal_naive_24", "seasonal_naive_168", "ts_local"} <= set(backtest.columns)
    assert not backtest.duplicated(["series_id", "origin", "step"]).any(), "repeated rows"
    assert backtest["forecast"].notna().all(), "a forecast is missing"
