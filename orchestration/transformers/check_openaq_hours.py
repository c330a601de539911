"""Read back what the OpenAQ run stored and check it (future hours, duplicates, ranges, nulls)."""

import pandas as pd

from hourcast.ingestion.pipeline import ingested_observations
from hourcast.ingestion.quality import duplicate_hours, future_timestamps, out_of_range
from hourcast.pipeline_variables import OpenAQIngestVariables
from hourcast.settings import get_settings
from hourcast.storage.db import create_db_engine

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def check_openaq_hours(summary: pd.DataFrame, *args, **kwargs) -> pd.DataFrame:
    engine = create_db_engine(get_settings().resolved_database_url)
    return ingested_observations(engine, summary=summary)


@test
def test_no_future_hours(frame: pd.DataFrame, *args) -> None:
    assert future_timestamps(frame) == 0, "hours after now are stored"


@test
def test_no_duplicate_hours(frame: pd.DataFrame, *args) -> None:
    assert duplicate_hours(frame, by="series_id") == 0, "an hour is stored twice"


@test
def test_values_plausible(frame: pd.DataFrame, *args) -> None:
    for (series_id, parameter, units), group in frame.groupby(["series_id", "parameter", "units"]):
        bad = out_of_range(group, parameter=parameter, units=units)
        assert bad == 0, f"{series_id}: {bad} {parameter} value(s) outside the plausible range"


@test
def test_null_ratio(frame: pd.DataFrame, *args, **kwargs) -> None:
    limit = OpenAQIngestVariables.parse(kwargs).max_null_ratio
    for series_id, group in frame.groupby("series_id"):
        ratio = group["value"].isna().mean()
        assert ratio <= limit, f"{series_id}: {ratio:.0%} of hours have no value"
