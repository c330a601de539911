"""Score the served forecasts against the actuals, measure drift, retrain what degraded.

One call into hourcast.monitoring (see its docstring); the results are in the tables
monitoring_metrics, monitoring_drift and retrain_decisions of the observation store.
"""

import pandas as pd

from hourcast.monitoring.monitor import run_monitor
from hourcast.pipeline_variables import MonitorVariables
from hourcast.settings import get_settings

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def run_monitor_block(store: dict, *args, **kwargs) -> pd.DataFrame:
    variables = MonitorVariables.parse(kwargs)
    report = run_monitor(get_settings(), targets=variables.targets)
    for target in report.targets:
        action = f" -> {target.outcome}" if target.outcome else ""
        print(f"{target.target} v{target.model_version}: {target.reason}{action}")
    return report.frame()


@test
def test_a_row_per_target(report: pd.DataFrame, *args) -> None:
    assert len(report) > 0, "no target monitored"
    assert not report.duplicated("target").any(), "a target twice"


@test
def test_due_retraining_was_started(report: pd.DataFrame, *args) -> None:
    # A retraining that was due but could not be started (Mage away, trigger not configured)
    # turns the run red; its reason and error are in retrain_decisions.
    failed = report[report["outcome"] == "failed"]
    assert failed.empty, "not started: " + "; ".join(failed["target"] + ": " + failed["error"])
