"""Backtest, refit and log the forecaster of the pipeline's `target` (optionally tuned first)."""

import pandas as pd

from hourcast.settings import get_settings
from hourcast.timeutil import parse_instant
from hourcast.training.fit import fit_and_log
from hourcast.training.tuning import tuned_settings

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def train_forecaster(frame: pd.DataFrame, *args, **kwargs) -> dict:
    settings = get_settings()
    target = kwargs.get("target") or "traffic"
    train_end = kwargs.get("train_end") or None
    num_boost_round = int(kwargs.get("num_boost_round") or 0) or None
    params = None
    if kwargs.get("tune"):
        num_boost_round, params = tuned_settings(
            frame,
            target=target,
            settings=settings,
            trials=int(kwargs.get("tune_trials") or 20),
            budget_s=float(kwargs.get("tune_budget_seconds") or 600),
        )
    trained = fit_and_log(
        frame,
        target=target,
        settings=settings,
        train_end=parse_instant(train_end, field="train_end") if train_end else None,
        num_boost_round=num_boost_round,
        params=params,
        holdout_days=int(kwargs.get("holdout_days") or 14),
    )
    return trained.to_dict()


@test
def test_logged_with_a_holdout_score(trained: dict, *args) -> None:
    assert trained["run_id"], "no MLflow run"
    assert trained["metrics"]["holdout_mae"] >= 0, "holdout MAE missing"
