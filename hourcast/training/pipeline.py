"""The whole training chain in one call, for the CLI.

Load, prepare, (tune), fit and log, register through the promotion gate. The Mage pipeline
runs the same steps as blocks.
"""

from __future__ import annotations

import pandas as pd

from hourcast.settings import Settings
from hourcast.training.data import load_training_frame, prepare_training_frame
from hourcast.training.fit import fit_and_log
from hourcast.training.register import RegisteredVersion, register_trained
from hourcast.training.tuning import tuned_settings

__all__ = ["train_target"]


def train_target(
    target: str,
    *,
    settings: Settings,
    train_end: pd.Timestamp | None = None,
    num_boost_round: int | None = None,
    tune_trials: int = 0,
    tune_budget_s: float = 600.0,
) -> RegisteredVersion:
    """The whole chain: load, prepare, (tune), backtest, fit and log, register through the gate."""
    frame = prepare_training_frame(
        load_training_frame(settings=settings, train_end=train_end, target=target)
    )
    params = None
    if tune_trials:
        num_boost_round, params = tuned_settings(
            frame, target=target, settings=settings, trials=tune_trials, budget_s=tune_budget_s
        )
    trained = fit_and_log(
        frame,
        target=target,
        settings=settings,
        train_end=train_end,
        num_boost_round=num_boost_round,
        params=params,
    )
    return register_trained(trained, settings=settings)
