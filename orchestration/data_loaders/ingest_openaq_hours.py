"""Pull new OpenAQ hourly records into the store: /hours per sensor, or /latest for all (mode)."""

import pandas as pd

from hourcast.ingestion.pipeline import run_openaq, summary_frame
from hourcast.pipeline_variables import OpenAQIngestVariables
from hourcast.settings import get_settings

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def ingest_openaq_hours(store: dict, *args, **kwargs) -> pd.DataFrame:
    variables = OpenAQIngestVariables.parse(kwargs)
    outcome = run_openaq(
        settings=get_settings(),
        selection=variables.selection(),
        backfill_start=variables.backfill_start,
        until=variables.until,
        overlap=variables.overlap,
        mode=variables.mode,
        gap_budget=variables.gap_budget,
    )
    summary = summary_frame(outcome)
    print(summary.to_string(index=False))
    return summary


@test
def test_run_did_not_fail(summary: pd.DataFrame, *args, **kwargs) -> None:
    status = summary["status"].iloc[0]
    errors = summary["error"].dropna().unique().tolist()
    assert status != "failed", f"OpenAQ ingestion failed: {errors}"
    if OpenAQIngestVariables.parse(kwargs).fail_on_partial:
        assert status == "succeeded", f"some sensors failed: {errors}"
