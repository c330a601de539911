"""Regularise every series to a gap-free hourly index; missing hours stay missing (NaN)."""

import pandas as pd

from hourcast.training.data import prepare_training_frame

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def prepare_series(frame: pd.DataFrame, *args, **kwargs) -> pd.DataFrame:
    return prepare_training_frame(frame)


@test
def test_hourly_and_mostly_observed(frame: pd.DataFrame, *args) -> None:
    for _, group in frame.groupby("series_id"):
        steps = pd.DatetimeIndex(group["ts"]).to_series().diff().dropna().unique()
        assert list(steps) == [pd.Timedelta(hours=1)], "index is not hourly"
    assert frame["value"].notna().mean() > 0.5, "more than half the hours are missing"
