"""The Mage pipelines' variable models, and the variables the pipelines and triggers declare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import yaml

from hourcast.pipeline_variables import (
    OpenAQIngestVariables,
    PipelineVariableError,
    TrafficIngestVariables,
    TrainVariables,
)
from hourcast.targets import TARGETS
from hourcast.training.fit import HOLDOUT_DAYS
from tests.conftest import ROOT

PIPELINES = ROOT / "orchestration" / "pipelines"
# What Mage puts in a block's kwargs beside the variables.
MAGE_KEYS = {"execution_date": datetime(2026, 1, 1, tzinfo=UTC), "env": "prod", "event": {}}


def _declared(pipeline: str) -> dict:
    return yaml.safe_load((PIPELINES / pipeline / "metadata.yaml").read_text())["variables"]


def _triggers(pipeline: str) -> list[dict]:
    return yaml.safe_load((PIPELINES / pipeline / "triggers.yaml").read_text())["triggers"]


# -- train ---------------------------------------------------------------------------------------


def test_train_defaults_and_empty_values() -> None:
    parsed = TrainVariables.parse({**_declared("train"), **MAGE_KEYS})
    assert parsed == TrainVariables(target="traffic")
    assert (parsed.train_end, parsed.num_boost_round, parsed.alias) == (None, None, None)
    assert parsed.holdout_days == HOLDOUT_DAYS
    assert not parsed.tune


def test_train_values_from_json_or_text() -> None:
    parsed = TrainVariables.parse(
        {
            "target": "pm25",
            "train_end": "2018-06-30T23:00:00-05:00",
            "holdout_days": "3",
            "tune": "true",
            "tune_trials": 5,
            "tune_budget_seconds": "60",
            "num_boost_round": 40,
            "alias": "champion",
        }
    )
    assert parsed.target == "pm25"
    assert parsed.train_end == pd.Timestamp("2018-07-01T04:00:00Z")
    assert (parsed.holdout_days, parsed.tune, parsed.tune_trials) == (3, True, 5)
    assert (parsed.tune_budget_seconds, parsed.num_boost_round) == (60.0, 40)
    assert parsed.alias == "champion"
    assert TrainVariables.parse({"target": "traffic", "num_boost_round": 0}).num_boost_round is None


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"target": "nox"}, "target: unknown target 'nox'; known: traffic, pm25"),
        ({}, "target: required"),
        ({"train_end": ""}, "target: required"),
        ({"target": "traffic", "train_end": "last tuesday"}, "train_end: 'last tuesday' is not"),
        ({"target": "traffic", "holdout_days": 0}, "holdout_days: Input should be greater than 0"),
        ({"target": "traffic", "tune": "maybe"}, "tune: Input should be a valid boolean"),
        ({"target": "traffic", "num_boost_round": "many"}, "num_boost_round: Input should be"),
        ({"target": "traffic", "alias": "challenger"}, "alias: Input should be 'champion'"),
    ],
)
def test_a_bad_train_variable_is_named(variables: dict, message: str) -> None:
    with pytest.raises(PipelineVariableError, match=r"^bad variable of pipeline train: ") as caught:
        TrainVariables.parse(variables)
    assert message in str(caught.value)
    assert caught.value.__cause__ is None  # no pydantic dump in Mage's log


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(PipelineVariableError) as caught:
        TrainVariables.parse({"target": "traffic", "holdout_days": -1, "tune_trials": "x"})
    assert "holdout_days: " in str(caught.value)
    assert "tune_trials: Input should be a valid integer" in str(caught.value)
    assert "(got 'x')" in str(caught.value)


def test_train_triggers_one_schedule_and_one_api_trigger_per_target() -> None:
    triggers = _triggers("train")
    by_type: dict[str, dict[str, str]] = {"time": {}, "api": {}}
    for trigger in triggers:
        target = TrainVariables.parse({**_declared("train"), **trigger["variables"]}).target
        assert target not in by_type[trigger["schedule_type"]], f"{target} twice"
        by_type[trigger["schedule_type"]][target] = trigger["name"]
        assert trigger["status"] == "active"
        assert "token" not in trigger  # Mage generates the tokens; none is committed
    assert set(by_type["time"]) == set(by_type["api"]) == set(TARGETS)
    assert by_type["api"] == {name: f"retrain_{name}" for name in TARGETS}
    for trigger in triggers:
        if trigger["schedule_type"] == "time":
            assert trigger["schedule_interval"] == "@daily"
            assert trigger["settings"]["skip_if_previous_running"] is True


# -- ingestion -----------------------------------------------------------------------------------


def test_declared_ingest_variables_parse() -> None:
    traffic = TrafficIngestVariables.parse({**_declared("ingest_traffic"), **MAGE_KEYS})
    assert traffic == TrafficIngestVariables()
    assert (traffic.source, traffic.max_null_ratio) == (None, 0.1)
    openaq = OpenAQIngestVariables.parse({**_declared("ingest_openaq"), **MAGE_KEYS})
    assert openaq.locations == (900000,)
    assert openaq.backfill_start == datetime(2014, 9, 1, tzinfo=UTC)
    assert (openaq.until, openaq.overlap, openaq.max_null_ratio) == (None, timedelta(hours=3), 0.5)
    for trigger in _triggers("ingest_openaq"):
        declared = {**_declared("ingest_openaq"), **trigger["variables"]}
        selected = OpenAQIngestVariables.parse(declared)
        assert selected.backfill_start is None  # the trigger blanks it: 30 days before `until`


def test_openaq_selection_from_lists_or_text() -> None:
    as_lists = OpenAQIngestVariables.parse(
        {"locations": [900000, "847"], "parameters": ["PM25", "o3"], "sensors": []}
    )
    as_text = OpenAQIngestVariables.parse({"locations": "900000, 847", "parameters": "pm25,o3"})
    assert as_lists.selection() == as_text.selection()
    assert as_lists.selection().locations == (900000, 847)
    assert as_lists.selection().parameters == ("pm25", "o3")
    world = OpenAQIngestVariables.parse({"parameters": "pm25", "mode": "latest"})
    assert (world.selection().search_parameters(), world.mode) == (("pm25",), "latest")
    area = OpenAQIngestVariables.parse({"coordinates": "39.95,116.47", "radius_m": "5000"})
    assert (area.selection().coordinates, area.selection().radius_m) == ((39.95, 116.47), 5000)
    window = OpenAQIngestVariables.parse(
        {"locations": 1, "until": "2014-10-01", "overlap_hours": 2}
    )
    assert window.until == datetime(2014, 10, 1, tzinfo=UTC)
    assert type(window.until) is datetime  # the ingestion functions take plain datetimes
    assert window.overlap == timedelta(hours=2)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"locations": "beijing"}, "locations[0]: Input should be a valid integer"),
        ({"locations": [-3]}, "locations[0]: Input should be greater than 0"),
        ({"locations": "", "parameters": ""}, "locations: give location ids"),
        ({"locations": 1, "mode": "fast"}, "mode: Input should be 'hours' or 'latest'"),
        ({"locations": 1, "gap_budget": 5000}, "gap_budget: Input should be less than"),
        ({"coordinates": "39.95,116.47"}, "coordinates: coordinates and radius go together"),
        ({"coordinates": "39.95", "radius_m": 10}, "coordinates[1]: required"),
        ({"locations": 1, "until": "soon"}, "until: 'soon' is not an ISO-8601 date-time"),
        ({"locations": 1, "max_null_ratio": 2}, "max_null_ratio: Input should be less than"),
        ({"locations": 1, "overlap_hours": -1}, "overlap_hours: Input should be greater than"),
        ({"locations": 1, "fail_on_partial": "sometimes"}, "fail_on_partial: Input should be"),
    ],
)
def test_a_bad_openaq_variable_is_named(variables: dict, message: str) -> None:
    prefix = r"^bad variable of pipeline ingest_openaq: "
    with pytest.raises(PipelineVariableError, match=prefix) as caught:
        OpenAQIngestVariables.parse(variables)
    assert message in str(caught.value)


def test_a_bad_traffic_variable_is_named() -> None:
    with pytest.raises(PipelineVariableError, match=r"max_null_ratio: .* \(got 'lots'\)"):
        TrafficIngestVariables.parse({"source": "s3://raw/metro", "max_null_ratio": "lots"})
    assert TrafficIngestVariables.parse({"source": " "}).source is None
