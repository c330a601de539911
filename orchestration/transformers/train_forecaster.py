"""Backtest, refit and log the forecaster of the pipeline's `target` (optionally tuned first).

Large training sets train on Dask (`hourcast.training.dask_training.training_backend`): on the
cluster at HOURCAST_DASK_SCHEDULER (Terraform's optional Dask service), else on a LocalCluster
inside this task; below HOURCAST_DASK_MIN_ROWS training rows everything stays in this process.
"""

import pandas as pd

from hourcast.pipeline_variables import TrainVariables
from hourcast.settings import get_settings
from hourcast.training.dask_training import training_backend
from hourcast.training.fit import fit_and_log
from hourcast.training.tuning import tuned_settings

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def train_forecaster(frame: pd.DataFrame, *args, **kwargs) -> dict:
    settings = get_settings()
    variables = TrainVariables.parse(kwargs)
    num_boost_round, params = variables.num_boost_round, None
    if variables.tune:
        num_boost_round, params = tuned_settings(
            frame,
            target=variables.target,
            settings=settings,
            trials=variables.tune_trials,
            budget_s=variables.tune_budget_seconds,
            holdout_days=variables.holdout_days,
        )
    with training_backend(frame, settings=settings, target=variables.target) as path:
        trained = fit_and_log(
            frame,
            target=variables.target,
            settings=settings,
            train_end=variables.train_end,
            num_boost_round=num_boost_round,
            params=params,
            holdout_days=variables.holdout_days,
        )
    print(f"trained {variables.target} on the {path} path: run {trained.run_id}")
    return trained.to_dict()


@test
def test_logged_with_a_holdout_score(trained: dict, *args) -> None:
    assert trained["run_id"], "no MLflow run"
    assert trained["metrics"]["holdout_mae"] >= 0, "holdout MAE missing"
