"""Read back what the traffic run stored and check it (future hours, duplicates, range, nulls)."""

import pandas as pd

from hourcast.ingestion.pipeline import ingested_observations
from hourcast.ingestion.quality import duplicate_hours, future_timestamps, null_ratio, out_of_range
from hourcast.pipeline_variables import TrafficIngestVariables
from hourcast.settings import get_settings
from hourcast.storage.db import create_db_engine

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def check_traffic_ingest(summary: pd.DataFrame, *args, **kwargs) -> pd.DataFrame:
    engine = create_db_engine(get_settings().resolved_database_url)
    return ingested_observations(engine, summary=summary)


@test
def test_hours_stored(frame: pd.DataFrame, *args) -> None:
    assert len(frame) > 0, "no traffic observations stored"


@test
def test_no_future_or_duplicate_hours(frame: pd.DataFrame, *args) -> None:
    assert future_timestamps(frame) == 0, "hours after now are stored"
    assert duplicate_hours(frame, by="series_id") == 0, "an hour is stored twice"


@test
def test_volumes_plausible(frame: pd.DataFrame, *args) -> None:
    bad = out_of_range(frame, parameter="traffic_volume", units="vehicles/h")
    assert bad == 0, f"{bad} volume(s) outside 0-10000 vehicles/h"


@test
def test_null_ratio(frame: pd.DataFrame, *args, **kwargs) -> None:
    limit = TrafficIngestVariables.parse(kwargs).max_null_ratio
    assert null_ratio(frame) <= limit, f"{null_ratio(frame):.0%} of hours have no value"
