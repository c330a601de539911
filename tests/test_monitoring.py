"""The monitor's parts on known numbers (PSI, rolling MAE, coverage, the retrain policy and its
cooldown), its tables on PostgreSQL, and whole runs against a registry in a SQLite file.

The acceptance test with the real API and a real Mage server is tests/test_monitor_retrain.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from mlflow.tracking import MlflowClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from hourcast.monitoring.charts import CHART_COLUMNS, chart_history, latest_table
from hourcast.monitoring.monitor import run_monitor
from hourcast.monitoring.policy import RetrainPolicy, assess, cooldown_until
from hourcast.monitoring.scoring import (
    coverage_by_level,
    forecast_hours,
    psi,
    rolling_scores,
    with_actuals,
)
from hourcast.monitoring.versions import version_facts
from hourcast.pipeline_variables import MonitorVariables
from hourcast.series import TRAFFIC_I94
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.monitoring import (
    insert_rows,
    last_started_retrain,
    latest_drift,
    latest_metrics,
    metrics_history,
    served_forecasts,
)
from hourcast.storage.observations import register_series, upsert_observations
from hourcast.storage.prediction_log import PredictionRecord, insert_predictions
from hourcast.storage.schema import retrain_decisions
from hourcast.targets import TRAFFIC_TARGET, Target
from hourcast.training.tracking import ServedModel
from inference_api.main import create_app
from inference_api.monitoring_metrics import MonitorGauges
from tests.conftest import ROOT, ApiServer

SERIES = TRAFFIC_I94.series_id
MODEL = TRAFFIC_TARGET.model_name
T0 = pd.Timestamp("2024-03-04 00:00", tz="UTC")


# -- PSI ----------------------------------------------------------------------------------------


def test_psi_of_a_sample_against_itself_is_zero() -> None:
    values = np.random.default_rng(1).normal(size=5000)
    assert psi(values, values) == pytest.approx(0.0, abs=1e-12)


def test_psi_by_hand_on_two_bins() -> None:
    # Reference: half below the median, half above. Recent: 90 % below, 10 % above.
    reference = [1.0, 2.0, 3.0, 4.0]
    recent = [1.0] * 9 + [4.0]
    expected = (0.9 - 0.5) * np.log(0.9 / 0.5) + (0.1 - 0.5) * np.log(0.1 / 0.5)
    assert psi(reference, recent, bins=2) == pytest.approx(expected)


def test_psi_grows_with_the_shift_and_ignores_nans() -> None:
    rng = np.random.default_rng(7)
    reference = rng.normal(size=20_000)
    same = rng.normal(size=2_000)
    small = [psi(reference, same + shift) for shift in (0.0, 0.25, 1.0, 3.0)]
    assert small[0] < 0.02
    assert small == sorted(small)
    assert small[-1] > 2
    assert psi(reference, [*same, np.nan]) == pytest.approx(psi(reference, same))
    assert np.isnan(psi(reference, []))
    with pytest.raises(ValueError, match="2 bins"):
        psi(reference, same, bins=1)


def test_psi_with_repeated_values_merges_bins() -> None:
    # Many zeros (nights without traffic, days without rain): the deciles repeat.
    reference = [0.0] * 80 + list(range(1, 21))
    assert psi(reference, reference) == pytest.approx(0.0)
    assert psi(reference, [0.0] * 100) > 0.1


# -- forecasts against actuals -----------------------------------------------------------------


def _forecasts(rows: list[tuple[str, pd.Timestamp, list[float | None]]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model_version": [version for version, _, _ in rows],
            "series_id": SERIES,
            "served_at": [origin for _, origin, _ in rows],
            "origin": [origin for _, origin, _ in rows],
            "forecast": [values for _, _, values in rows],
            "intervals": [
                {
                    "80": {
                        "lower": [None if v is None else v - 1 for v in values],
                        "upper": [None if v is None else v + 1 for v in values],
                    }
                }
                for _, _, values in rows
            ],
        }
    )


def test_forecast_hours_one_row_per_step_at_origin_plus_step() -> None:
    hours = forecast_hours(_forecasts([("3", T0, [10.0, None, 30.0])]))
    assert hours["step"].tolist() == [1, 2, 3]
    assert hours["ts"].tolist() == [T0 + pd.Timedelta(hours=h) for h in (1, 2, 3)]
    assert hours["forecast"].isna().tolist() == [False, True, False]
    assert hours["lo_80"].tolist()[0] == 9.0
    assert np.isnan(hours["hi_80"].tolist()[1])


def test_rolling_mae_and_coverage_per_version_series_and_step() -> None:
    forecasts = _forecasts(
        [("3", T0, [10.0, 20.0]), ("3", T0 + pd.Timedelta(hours=1), [30.0, 40.0])]
    )
    # Actual hours 1, 2, 3 (hour 3 only for the second forecast's step 2).
    actuals = pd.Series([10.5, 23.0, 38.0], index=[T0 + pd.Timedelta(hours=h) for h in (1, 2, 3)])
    scored = with_actuals(forecast_hours(forecasts), {SERIES: actuals})
    assert scored["actual"].tolist() == [10.5, 23.0, 23.0, 38.0]
    scores = rolling_scores(scored).set_index(["series_id", "step"], drop=False)
    # step 1: |10 - 10.5|, |30 - 23| ; step 2: |20 - 23|, |40 - 38|
    by_step = scores[scores["series_id"].notna() & scores["step"].notna()]
    assert by_step["mae"].tolist() == [pytest.approx(3.75), pytest.approx(2.5)]
    assert by_step["coverage"].tolist() == [{"80": 0.5}, {"80": 0.0}]
    overall = scores[scores["series_id"].isna() & scores["step"].isna()].iloc[0]
    assert overall["mae"] == pytest.approx((0.5 + 7 + 3 + 2) / 4)
    assert overall["scored_hours"] == 4
    assert overall["coverage"] == {"80": 0.25}
    # Four roll-ups: (series, step) x 2, (series), (step) x 2, overall.
    assert len(scores) == 6
    assert set(scores["model_version"]) == {"3"}


def test_hours_without_an_actual_or_forecast_are_not_scored() -> None:
    scored = with_actuals(forecast_hours(_forecasts([("1", T0, [1.0, None, 3.0])])), {})
    assert scored["actual"].isna().all()
    assert rolling_scores(scored).empty
    actuals = pd.Series([2.0, 2.0], index=[T0 + pd.Timedelta(hours=h) for h in (2, 3)])
    scores = rolling_scores(
        with_actuals(forecast_hours(_forecasts([("1", T0, [1.0, None, 3.0])])), {SERIES: actuals})
    )
    assert scores[scores["step"].isna() & scores["series_id"].isna()]["scored_hours"].tolist() == [
        1
    ]


def test_coverage_counts_the_bounds_inclusive() -> None:
    frame = pd.DataFrame(
        {"actual": [1.0, 2.0, 3.0, 4.0], "lo_95": [1.0, 0.0, 3.5, np.nan], "hi_95": [2.0] * 4}
    )
    assert coverage_by_level(frame) == {"95": pytest.approx(2 / 3)}


# -- the retrain policy ------------------------------------------------------------------------

POLICY = RetrainPolicy(mae_ratio=1.5, psi_threshold=0.25, cooldown=timedelta(hours=6), min_hours=24)


def test_degraded_mae_is_due_with_its_reason() -> None:
    decision = assess(
        POLICY, rolling_mae=160.0, scored_hours=100, backtest_mae=100.0, psi_by_series={}
    )
    assert decision.due
    assert decision.reasons == (
        "rolling MAE 160 over 100 forecast hours is 1.60x the backtest MAE 100 (limit 1.5x)",
    )
    assert decision.figures["mae_ratio"] == pytest.approx(1.6)


def test_within_the_limits_or_too_few_hours_is_not_due() -> None:
    assert not assess(
        POLICY, rolling_mae=149.0, scored_hours=100, backtest_mae=100.0, psi_by_series={}
    ).due
    assert not assess(
        POLICY, rolling_mae=500.0, scored_hours=23, backtest_mae=100.0, psi_by_series={}
    ).due
    # An unknown backtest MAE cannot be compared with; the reason says what was not judged.
    unknown = assess(
        POLICY, rolling_mae=500.0, scored_hours=100, backtest_mae=None, psi_by_series={}
    )
    assert not unknown.due
    assert unknown.reason == (
        "within the limits; accuracy not judged: the version's backtest MAE is unknown"
    )
    few = assess(POLICY, rolling_mae=500.0, scored_hours=23, backtest_mae=100.0, psi_by_series={})
    assert few.reason == "within the limits; accuracy not judged: 23 scored hours (needs 24)"


def test_drift_past_the_threshold_is_due_per_series() -> None:
    decision = assess(
        POLICY,
        rolling_mae=None,
        scored_hours=0,
        backtest_mae=100.0,
        psi_by_series={"a": (0.4, 48), "b": (0.1, 48), "c": (3.0, 10), "d": (float("nan"), 99)},
    )
    assert decision.due
    assert len(decision.reasons) == 1
    assert decision.reasons[0].startswith("input drift: PSI 0.400 of a")
    assert decision.figures["psi"] == {"a": 0.4, "b": 0.1}  # c: too few hours; d: unknown
    assert decision.unjudged == (
        "accuracy not judged: no forecast hour has an actual yet",
        "drift not judged for c",
        "drift not judged for d",
    )


def test_cooldown_after_the_last_start() -> None:
    now = datetime(2024, 3, 4, 12, tzinfo=UTC)
    assert cooldown_until(POLICY, None, now) is None
    assert cooldown_until(POLICY, now - timedelta(hours=1), now) == now + timedelta(hours=5)
    assert cooldown_until(POLICY, now - timedelta(hours=6), now) is None
    assert cooldown_until(RetrainPolicy(cooldown=timedelta(0)), now, now) is None
    with pytest.raises(ValueError, match="positive"):
        RetrainPolicy(mae_ratio=0)


def test_policy_from_settings() -> None:
    settings = Settings(monitor_mae_ratio=2, monitor_cooldown_hours=0.5, monitor_min_hours=3)
    policy = RetrainPolicy.from_settings(settings)
    assert policy == RetrainPolicy(2.0, 0.25, timedelta(minutes=30), 3)


# -- the tables, and whole runs on PostgreSQL --------------------------------------------------


def _record(served_at: datetime, origin: pd.Timestamp, values: list[float], version: str = "1"):  # type: ignore[no-untyped-def]
    return PredictionRecord(
        request_id="r",
        served_at=served_at,
        caller="user:tester",
        series_id=SERIES,
        model_name=MODEL,
        model_version=version,
        origin=origin.to_pydatetime(),
        horizon=len(values),
        forecast=values,
        intervals={"80": {"lower": [v - 50 for v in values], "upper": [v + 50 for v in values]}},
    )


def test_served_forecasts_keep_the_newest_of_each_origin(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    insert_predictions(
        engine,
        [
            _record(now - timedelta(hours=2), T0, [1.0]),
            _record(now - timedelta(hours=1), T0, [2.0]),  # the same origin, served later
            _record(now - timedelta(hours=1), T0, [5.0], version="2"),
            _record(now - timedelta(days=9), T0 - pd.Timedelta(hours=1), [3.0]),  # too old
        ],
    )
    found = served_forecasts(engine, model_name=MODEL, since=now - timedelta(days=7), until=now)
    assert sorted(zip(found["model_version"], found["forecast"].map(tuple), strict=True)) == [
        ("1", (2.0,)),
        ("2", (5.0,)),
    ]
    assert served_forecasts(
        engine, model_name="other", since=now - timedelta(days=7), until=now
    ).empty


def test_last_started_retrain_ignores_cooldowns_and_failures(engine: sa.Engine) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    base = {
        "monitor_run_id": "m",
        "target": "traffic",
        "model_name": MODEL,
        "model_version": "1",
        "reason": "r",
        "metrics": {},
        "mage_run_id": None,
        "error": None,
    }
    with engine.begin() as connection:
        assert last_started_retrain(connection, "traffic") is None
        insert_rows(
            connection,
            retrain_decisions,
            [
                {
                    **base,
                    "decided_at": now - timedelta(hours=3),
                    "outcome": "started",
                    "mage_run_id": 7,
                },
                {**base, "decided_at": now - timedelta(hours=2), "outcome": "cooldown"},
                {**base, "decided_at": now - timedelta(hours=1), "outcome": "failed", "error": "x"},
            ],
        )
        assert last_started_retrain(connection, "traffic") == (now - timedelta(hours=3), 7)
        assert last_started_retrain(connection, "pm25") is None
        # Outcomes are checked.
        with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():
            insert_rows(
                connection, retrain_decisions, [{**base, "decided_at": now, "outcome": "maybe"}]
            )
    with engine.begin() as connection, pytest.raises(ValueError, match="monitoring table"):
        insert_rows(connection, sa.Table("observations", sa.MetaData()), [{}])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry in a SQLite file: version 1 of the traffic model, backtest MAE 100."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("monitor")
    with mlflow.start_run() as run:
        mlflow.log_metric("holdout_mae", 100.0)
        mlflow.log_params({"data_start": str(T0 - pd.Timedelta(days=60)), "data_end": str(T0)})
    client = MlflowClient(uri)
    client.create_registered_model(MODEL)
    client.create_model_version(
        MODEL, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    return uri


def test_version_facts_from_the_run(registry: str) -> None:
    facts = version_facts(MlflowClient(registry), MODEL, "1")
    assert (facts.backtest_mae, facts.data_end, facts.error) == (100.0, T0, None)
    missing = version_facts(MlflowClient(registry), MODEL, "9")
    assert missing.backtest_mae is None
    assert missing.error


class FakeMage:
    """Answers Mage's API trigger like Mage does, counting the runs it started."""

    def __init__(self, fail: bool = False) -> None:
        self.runs: list[dict[str, Any]] = []
        self.fail = fail

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.fail:
            return httpx.Response(200, json={"error": {"exception": "Mage is down"}})
        self.runs.append(json.loads(request.content))
        return httpx.Response(
            200, json={"pipeline_run": {"id": 40 + len(self.runs), "status": "running"}}
        )


def _stored_day(engine: sa.Engine, shift: float) -> None:
    """Series values 1000 +- 500 (a daily cycle) for 60 days before T0, then 2 days + shift."""
    hours = pd.date_range(T0 - pd.Timedelta(days=60), T0 + pd.Timedelta(hours=48), freq="h")
    values = 1000 + 500 * np.sin(2 * np.pi * hours.hour / 24)
    values = np.where(hours > T0, values + shift, values)
    with engine.begin() as connection:
        register_series(connection, spec=TRAFFIC_I94)
        upsert_observations(
            connection, series_id=SERIES, frame=pd.DataFrame({"ts": hours, "value": values})
        )
    # Forecasts of the cycle itself, from every hour of the 2 days, served just now.
    now = datetime.now(UTC)
    records = []
    for origin in hours[hours >= T0][:-1]:
        steps = pd.date_range(origin + pd.Timedelta(hours=1), periods=24, freq="h")
        records.append(_record(now, origin, list(1000 + 500 * np.sin(2 * np.pi * steps.hour / 24))))
    insert_predictions(engine, records)


def _settings(pg_url: str, registry: str, tmp_path: Path, **more: Any) -> Settings:
    return Settings(
        database_url=pg_url,
        mlflow_tracking_uri=registry,
        mage_trigger_token=SecretStr("t"),
        mage_retrain_triggers={"traffic": 3},
        home=tmp_path,
        **more,
    )


def test_a_shift_starts_one_retraining_per_cooldown(
    engine: sa.Engine, pg_url: str, registry: str, tmp_path: Path
) -> None:
    _stored_day(engine, shift=800.0)
    mage = FakeMage()
    settings = _settings(pg_url, registry, tmp_path)
    first = run_monitor(settings, transport=httpx.MockTransport(mage.handle))
    second = run_monitor(settings, transport=httpx.MockTransport(mage.handle))
    traffic = first.targets[0]
    assert [t.target for t in first.targets] == ["traffic", "pm25"]
    assert first.targets[1].reason == "no forecasts served"
    assert traffic.model_version == "1"
    # 48 origins x 24 steps, the actuals end at T0 + 48 h: every error is the shift.
    assert traffic.scored_hours == 48 * 24 - sum(range(1, 24))
    assert traffic.rolling_mae == pytest.approx(800.0)
    assert traffic.coverage == {"80": 0.0}
    assert traffic.psi > 0.25
    assert traffic.outcome == "started"
    assert traffic.mage_run_id == 41
    assert second.targets[0].outcome == "cooldown"
    assert "cooldown ends at" in second.targets[0].reason
    assert mage.runs == [{"pipeline_run": {"variables": {"target": "traffic"}}}]

    # What the tables hold: the latest run, its drift, the history of both runs.
    latest = latest_metrics(engine)
    assert set(latest["monitor_run_id"]) == {second.monitor_run_id}
    assert len(latest) == 24 + 1 + 24 + 1  # (series, step), series, step, overall
    assert latest["backtest_mae"].eq(100.0).all()
    drift = latest_drift(engine)
    assert drift[["series_id", "recent_hours", "reference_hours"]].values.tolist() == [
        [SERIES, 49, 28 * 24 + 1]
    ]
    history = metrics_history(engine, since=datetime.now(UTC) - timedelta(days=1))
    assert len(history) == 2
    chart = chart_history(history, target="traffic", settings=settings)
    assert list(chart.columns) == list(CHART_COLUMNS)
    assert chart["rolling_mae"].tolist() == [pytest.approx(800.0)] * 2
    assert chart["retrain_above"].tolist() == [150.0, 150.0]
    assert chart["coverage_80"].tolist() == [0.0, 0.0]
    assert chart["run_time"].is_monotonic_increasing
    table = latest_table(second.frame())
    assert table["outcome"].tolist() == ["cooldown", ""]
    assert latest_table(first.frame())["mage_run_id"].tolist() == [41, ""]

    # After the cooldown a new one starts (here: a cooldown of zero).
    third = run_monitor(
        _settings(pg_url, registry, tmp_path, monitor_cooldown_hours=0),
        targets=["traffic"],
        transport=httpx.MockTransport(mage.handle),
    )
    assert third.targets[0].outcome == "started"
    assert len(mage.runs) == 2


def test_the_unshifted_series_starts_nothing(
    engine: sa.Engine, pg_url: str, registry: str, tmp_path: Path
) -> None:
    _stored_day(engine, shift=0.0)
    mage = FakeMage()
    report = run_monitor(
        _settings(pg_url, registry, tmp_path),
        targets=["traffic"],
        transport=httpx.MockTransport(mage.handle),
    )
    traffic = report.targets[0]
    assert traffic.rolling_mae == pytest.approx(0.0, abs=1e-9)
    assert traffic.coverage == {"80": 1.0}
    assert traffic.psi < 0.1
    assert not traffic.due
    assert mage.runs == []
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM retrain_decisions")).scalar() == 0


def test_a_retraining_that_cannot_start_is_recorded_and_tried_again(
    engine: sa.Engine, pg_url: str, registry: str, tmp_path: Path
) -> None:
    _stored_day(engine, shift=800.0)
    down = FakeMage(fail=True)
    report = run_monitor(
        _settings(pg_url, registry, tmp_path),
        targets=["traffic"],
        transport=httpx.MockTransport(down.handle),
    )
    assert report.targets[0].outcome == "failed"
    assert "Mage is down" in report.targets[0].error
    # Not configured: the same, naming the settings; a failure does not start a cooldown.
    unconfigured = Settings(database_url=pg_url, mlflow_tracking_uri=registry, home=tmp_path)
    again = run_monitor(unconfigured, targets=["traffic"])
    assert again.targets[0].outcome == "failed"
    assert "HOURCAST_MAGE_RETRAIN_TRIGGERS" in again.targets[0].error
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT outcome, error, metrics FROM retrain_decisions ORDER BY id")
        ).all()
    assert [row[0] for row in rows] == ["failed", "failed"]
    assert rows[0][2]["rolling_mae"] == pytest.approx(800.0)
    assert rows[0][2]["mae_ratio_limit"] == 1.5


def _no_models(target: Target) -> ServedModel:
    raise LookupError(f"{target.model_name} is not registered")


def _gauge(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


@pytest.mark.integration
def test_the_api_shows_the_newest_run_as_gauges(
    engine: sa.Engine, pg_url: str, registry: str, tmp_path: Path
) -> None:
    settings = _settings(pg_url, registry, tmp_path, api_monitor_refresh_seconds=0.2)
    with ApiServer(create_app(settings, _no_models)) as url:
        # Before any run the tables are empty: no gauge of this store yet, /metrics still works.
        assert httpx.get(f"{url}/metrics").status_code == 200
        _stored_day(engine, shift=800.0)
        report = run_monitor(
            settings, targets=["traffic"], transport=httpx.MockTransport(FakeMage().handle)
        )
        version = {"target": "traffic", "model": MODEL, "version": "1"}
        deadline = time.monotonic() + 10
        while True:
            text = httpx.get(f"{url}/metrics").text
            ran_at = _gauge(text, "hourcast_monitor_last_run_timestamp_seconds")
            if ran_at == report.computed_at.timestamp() or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert ran_at == pytest.approx(report.computed_at.timestamp())
    assert _gauge(text, "hourcast_monitor_rolling_mae", **version) == pytest.approx(800.0)
    assert _gauge(text, "hourcast_monitor_backtest_mae", **version) == 100.0
    assert _gauge(text, "hourcast_monitor_scored_hours", **version) == 48 * 24 - sum(range(1, 24))
    coverage = _gauge(text, "hourcast_monitor_interval_coverage", level="80", **version)
    assert coverage == 0.0
    psi_value = _gauge(text, "hourcast_monitor_psi", series_id=SERIES, **version)
    assert psi_value == pytest.approx(report.targets[0].psi)


def test_the_gauges_wait_for_a_store_without_the_tables(tmp_path: Path) -> None:
    old = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(old, "0004")
    gauges = MonitorGauges(old, refresh_seconds=60)
    assert gauges.refresh() is False  # logged once, no exception
    upgrade(old)
    assert gauges.refresh() is True
    old.dispose()


# -- the Mage pipeline's files -------------------------------------------------------------------

MONITOR = ROOT / "orchestration" / "pipelines" / "monitor"
MONITOR_CHARTS = {
    "monitor_rolling_mae": ("line chart", ["monitoring_history"]),
    "monitor_coverage": ("line chart", ["monitoring_history"]),
    "monitor_drift": ("line chart", ["monitoring_history"]),
    "monitor_latest": ("table", ["run_monitor"]),
}


def test_the_monitor_pipeline_runs_hourly_with_its_charts() -> None:
    (trigger,) = yaml.safe_load((MONITOR / "triggers.yaml").read_text())["triggers"]
    assert (trigger["schedule_interval"], trigger["status"]) == ("@hourly", "active")
    assert trigger["settings"]["skip_if_previous_running"] is True
    metadata = yaml.safe_load((MONITOR / "metadata.yaml").read_text())
    blocks = {block["uuid"]: block for block in metadata["blocks"]}
    assert [uuid for uuid, b in blocks.items() if not b["upstream_blocks"]] == ["migrate_store"]
    assert blocks["run_monitor"]["upstream_blocks"] == ["migrate_store"]
    assert blocks["monitoring_history"]["upstream_blocks"] == ["run_monitor"]
    for uuid in ("run_monitor", "monitoring_history"):
        assert "@test" in (ROOT / "orchestration" / "transformers" / f"{uuid}.py").read_text()
    # Every variable of the pipeline is one MonitorVariables reads, and the defaults parse.
    assert set(metadata["variables"]) == set(MonitorVariables.model_fields)
    assert MonitorVariables.parse(metadata["variables"]) == MonitorVariables()
    widgets = {widget["uuid"]: widget for widget in metadata["widgets"]}
    assert {
        uuid: (w["configuration"]["chart_type"], w["upstream_blocks"])
        for uuid, w in widgets.items()
    } == MONITOR_CHARTS
    for uuid, widget in widgets.items():
        for upstream in widget["upstream_blocks"]:
            assert uuid in blocks[upstream]["downstream_blocks"]
        source = (ROOT / "orchestration" / "charts" / f"{uuid}.py").read_text()
        for variable in ("x", "y"):
            assert f"\n{widget['configuration'][variable]} = " in f"\n{source}"
    assert metadata["variables_dir"] is None


def test_the_monitor_runs_on_the_sqlite_store_of_a_laptop(registry: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hourcast.db'}"
    store = create_db_engine(url)
    upgrade(store)
    _stored_day(store, shift=800.0)
    mage = FakeMage()
    settings = _settings(url, registry, tmp_path)
    outcomes = [
        run_monitor(settings, targets=["traffic"], transport=httpx.MockTransport(mage.handle))
        .targets[0]
        .outcome
        for _ in range(2)
    ]
    history = metrics_history(store, since=datetime.now(UTC) - timedelta(days=1))
    store.dispose()
    assert outcomes == ["started", "cooldown"]
    assert len(mage.runs) == 1
    assert history["mae"].tolist() == [pytest.approx(800.0)] * 2
