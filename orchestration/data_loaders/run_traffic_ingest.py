"""Read new or changed traffic objects (ETag / content-hash memory) into the observation store."""

import pandas as pd

from hourcast.ingestion.pipeline import run_traffic, summary_frame
from hourcast.pipeline_variables import TrafficIngestVariables
from hourcast.settings import get_settings

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def run_traffic_ingest(store: dict, *args, **kwargs) -> pd.DataFrame:
    variables = TrafficIngestVariables.parse(kwargs)
    outcome = run_traffic(settings=get_settings(), source=variables.source)
    for item in outcome.objects:
        print(f"{item.key}: {item.status} {item.rows} rows {item.error or ''}")
    summary = summary_frame(outcome)
    print(summary.to_string(index=False))
    return summary


@test
def test_run_did_not_fail(summary: pd.DataFrame, *args) -> None:
    errors = summary["error"].dropna().unique().tolist()
    assert summary["status"].iloc[0] != "failed", f"traffic ingestion failed: {errors}"
