"""The run log around an ingestion run: logged_run closes a run the body could not close."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hourcast.ingestion.outcome import end_run, logged_run
from hourcast.storage.db import create_db_engine, upgrade
from hourcast.storage.ingestion_state import get_run, list_runs


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _failing_run(engine: sa.Engine, *, close_first: bool) -> str:
    """Open a run, maybe close it, then fail; returns the run id."""
    with logged_run(engine, source="traffic", inputs={"source": "x.csv"}) as outcome:
        run_id = outcome.run_id
        if close_first:
            end_run(engine, outcome=outcome)
        raise KeyError(f"boom {run_id}")


def test_an_error_in_the_body_logs_the_run_as_failed_and_is_raised(engine: sa.Engine) -> None:
    with pytest.raises(KeyError, match="boom"):
        _failing_run(engine, close_first=False)
    (run,) = list_runs(engine, source="traffic")
    assert run.status == "failed"
    assert run.details["error"] == f"KeyError: 'boom {run.run_id}'"
    assert run.details["inputs"] == {"source": "x.csv"}


def test_a_run_the_body_closed_is_left_as_it_was(engine: sa.Engine) -> None:
    with logged_run(engine, source="traffic", inputs={}) as outcome:
        end_run(engine, outcome=outcome)
    assert get_run(engine, run_id=outcome.run_id).status == "succeeded"
    with pytest.raises(KeyError, match="boom"):
        _failing_run(engine, close_first=True)
    statuses = [run.status for run in list_runs(engine, source="traffic")]
    assert statuses == ["succeeded", "succeeded"]
