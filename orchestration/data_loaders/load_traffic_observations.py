"""Load the stored hourly traffic observations up to the `train_end` pipeline variable."""

import pandas as pd

from hourcast.settings import get_settings
from hourcast.timeutil import parse_instant
from hourcast.training import load_training_frame

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_traffic_observations(*args, **kwargs) -> pd.DataFrame:
    settings = get_settings()
    train_end = kwargs.get("train_end") or None
    cutoff = parse_instant(train_end, field="train_end") if train_end else None
    return load_training_frame(
        settings=settings, series_id=settings.traffic_series_id, train_end=cutoff
    )


@test
def test_no_duplicate_or_future_hours(frame: pd.DataFrame, *args) -> None:
    assert not frame["ts"].duplicated().any(), "duplicate hours"
    assert frame["ts"].max() <= pd.Timestamp.now(tz="UTC"), "timestamps in the future"
    assert len(frame) > 0, "no observations"
