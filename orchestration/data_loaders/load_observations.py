"""Load the stored observations of the pipeline's `target` up to its `train_end` variable."""

import pandas as pd

from hourcast.pipeline_variables import TrainVariables
from hourcast.settings import get_settings
from hourcast.training.data import load_training_frame

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_observations(store: dict, *args, **kwargs) -> pd.DataFrame:
    variables = TrainVariables.parse(kwargs)
    return load_training_frame(
        settings=get_settings(), train_end=variables.train_end, target=variables.target
    )


@test
def test_no_duplicate_or_future_hours(frame: pd.DataFrame, *args) -> None:
    assert len(frame) > 0, "no observations"
    assert not frame.duplicated(["series_id", "ts"]).any(), "duplicate hours"
    assert frame["ts"].max() <= pd.Timestamp.now(tz="UTC"), "timestamps in the future"
