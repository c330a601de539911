"""Fit the forecaster, evaluate it on a holdout and log both to MLflow."""

import pandas as pd

from hourcast.series import get_series
from hourcast.settings import get_settings
from hourcast.timeutil import parse_instant
from hourcast.training import fit_and_log

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def train_traffic_forecaster(frame: pd.DataFrame, *args, **kwargs) -> dict:
    settings = get_settings()
    train_end = kwargs.get("train_end") or None
    series = pd.Series(frame["value"].to_numpy(float), index=pd.DatetimeIndex(frame["ts"]))
    trained = fit_and_log(
        series,
        spec=get_series(settings.traffic_series_id),
        settings=settings,
        train_end=parse_instant(train_end, field="train_end") if train_end else None,
        num_boost_round=int(kwargs.get("num_boost_round") or 400),
    )
    return trained.to_dict()


@test
def test_logged_with_finite_holdout_error(trained: dict, *args) -> None:
    assert trained["run_id"], "no MLflow run"
    assert trained["metrics"]["holdout_mae"] >= 0, "holdout MAE missing"
