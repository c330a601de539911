"""The monitor's stored figures of the last `chart_days` for the line charts of `chart_target`.

The chart blocks of the pipeline draw from this output (see `orchestration/charts/`).
"""

from datetime import UTC, datetime, timedelta

import pandas as pd

from hourcast.monitoring.charts import CHART_COLUMNS, chart_history
from hourcast.pipeline_variables import MonitorVariables
from hourcast.settings import get_settings
from hourcast.storage.db import create_db_engine
from hourcast.storage.monitoring import metrics_history

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def monitoring_history(report: pd.DataFrame, *args, **kwargs) -> pd.DataFrame:
    variables = MonitorVariables.parse(kwargs)
    settings = get_settings()
    engine = create_db_engine(settings.resolved_database_url)
    try:
        since = datetime.now(UTC) - timedelta(days=variables.chart_days)
        history = metrics_history(engine, since=since)
    finally:
        engine.dispose()
    return chart_history(history, target=variables.chart_target, settings=settings)


@test
def test_one_row_per_run(history: pd.DataFrame, *args) -> None:
    assert list(history.columns) == list(CHART_COLUMNS)
    assert history["run_time"].is_monotonic_increasing, "runs out of order"
