"""Pull new OpenAQ hourly records into the observation store (backfill on a sensor's first run)."""

import pandas as pd

from hourcast.ingestion.pipeline import run_openaq_from_variables, summary_frame
from hourcast.settings import get_settings

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def ingest_openaq_hours(*args, **kwargs) -> pd.DataFrame:
    outcome = run_openaq_from_variables(kwargs, settings=get_settings())
    summary = summary_frame(outcome)
    print(summary.to_string(index=False))
    return summary


@test
def test_run_did_not_fail(summary: pd.DataFrame, *args, **kwargs) -> None:
    status = summary["status"].iloc[0]
    errors = summary["error"].dropna().unique().tolist()
    assert status != "failed", f"OpenAQ ingestion failed: {errors}"
    if str(kwargs.get("fail_on_partial", "")).lower() in ("1", "true", "yes"):
        assert status == "succeeded", f"some sensors failed: {errors}"
