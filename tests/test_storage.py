"""Observation store: migrations and idempotent upserts, on SQLite and on real PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from hourcast.series import TRAFFIC_I94, openaq_sensor_spec
from hourcast.storage.db import (
    compared_name,
    create_db_engine,
    current_revision,
    head_revision,
    upgrade,
    upgrade_database,
)
from hourcast.storage.observations import (
    latest_observations,
    list_series,
    load_observations,
    register_series,
    upsert_observations,
)

SERIES = TRAFFIC_I94.series_id


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = create_db_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        register_series(connection, spec=TRAFFIC_I94)
    yield engine
    engine.dispose()


def _frame(start: str, values: list[float | None], **covariates: object) -> pd.DataFrame:
    ts = pd.date_range(start, periods=len(values), freq="h", tz="UTC")
    return pd.DataFrame(
        {"ts": ts, "value": values, "covariates": [dict(covariates) or None] * len(values)}
    )


def _checksum(engine: sa.Engine) -> tuple[int, str]:
    frame = load_observations(engine, series_id=SERIES, with_covariates=True)
    text = frame.assign(covariates=frame.covariates.astype(str)).to_csv(index=False)
    return len(frame), hashlib.sha256(text.encode()).hexdigest()


def test_migrations_reach_head(engine: sa.Engine) -> None:
    assert current_revision(engine) == head_revision() == "0006"
    assert {"series", "observations"} <= set(sa.inspect(engine).get_table_names())


def test_upgrade_database_by_url_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert upgrade_database(url) == head_revision()
    assert upgrade_database(url) == head_revision()  # already at head: nothing to apply
    engine = create_db_engine(url)
    assert "observations" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_upsert_is_idempotent_and_counts(engine: sa.Engine) -> None:
    frame = _frame("2018-01-01 00:00", [1.0, 2.0, None], weather="clear")
    with engine.begin() as connection:
        first = upsert_observations(connection, series_id=SERIES, frame=frame)
    before = _checksum(engine)
    with engine.begin() as connection:
        again = upsert_observations(connection, series_id=SERIES, frame=frame)
    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert _checksum(engine) == before

    changed = _frame("2018-01-01 02:00", [3.0, 4.0], weather="clear")
    with engine.begin() as connection:
        late = upsert_observations(connection, series_id=SERIES, frame=changed)
    assert (late.inserted, late.updated, late.unchanged) == (1, 1, 0)
    stored = load_observations(engine, series_id=SERIES)
    assert stored.value.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_null_values_round_trip_as_nan(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        upsert_observations(connection, series_id=SERIES, frame=_frame("2018-01-01", [np.nan, 5.0]))
    stored = load_observations(engine, series_id=SERIES)
    assert np.isnan(stored.value[0])
    assert stored.value[1] == 5.0
    assert str(stored.ts.dt.tz) == "UTC"


def test_failed_transaction_keeps_what_was_stored(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        upsert_observations(connection, series_id=SERIES, frame=_frame("2018-01-01", [1.0]))

    def crash_after_upsert() -> None:
        with engine.begin() as connection:
            upsert_observations(connection, series_id=SERIES, frame=_frame("2018-01-02", [2.0]))
            raise RuntimeError("crash midway")

    with pytest.raises(RuntimeError):
        crash_after_upsert()
    assert load_observations(engine, series_id=SERIES).value.tolist() == [1.0]


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        (["2018-01-01 00:00"], "no time zone"),
        (["2018-01-01 00:30+00:00"], "hour starts"),
        (["2018-01-01 00:00+00:00", "2018-01-01 01:00+01:00"], "repeat"),
    ],
)
def test_bad_timestamps_are_rejected(engine: sa.Engine, ts: list[str], message: str) -> None:
    frame = pd.DataFrame({"ts": [pd.Timestamp(t) for t in ts], "value": [1.0] * len(ts)})
    with pytest.raises(ValueError, match=message), engine.begin() as connection:
        upsert_observations(connection, series_id=SERIES, frame=frame)


def test_load_window_and_latest(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        upsert_observations(
            connection, series_id=SERIES, frame=_frame("2018-01-01", [float(v) for v in range(48)])
        )
    window = load_observations(
        engine,
        series_id=SERIES,
        start=pd.Timestamp("2018-01-01 10:00", tz="UTC"),
        end=pd.Timestamp("2018-01-01 12:00", tz="UTC"),
    )
    assert window.value.tolist() == [10.0, 11.0, 12.0]
    latest = latest_observations(engine, series_id=SERIES, hours=5)
    assert latest.value.tolist() == [43.0, 44.0, 45.0, 46.0, 47.0]
    assert latest_observations(engine, series_id="traffic:none", hours=5).empty


@pytest.mark.integration
def test_list_series_by_source_and_optional_parameter(engine: sa.Engine) -> None:
    sensors = [(3917, "o3", "ppm"), (1502, "pm25", "µg/m³")]
    with engine.begin() as connection:
        for sensor_id, parameter, units in sensors:
            spec = openaq_sensor_spec(
                sensor_id=sensor_id, location="x", parameter=parameter, units=units, timezone="UTC"
            )
            register_series(connection, spec=spec)
    every = list_series(engine, source="openaq")
    assert [(s.series_id, s.parameter, s.units) for s in every] == [
        ("openaq:1502", "pm25", "µg/m³"),
        ("openaq:3917", "o3", "ppm"),
    ]
    assert [s.series_id for s in list_series(engine, source="openaq", parameter="o3")] == [
        "openaq:3917"
    ]
    assert [s.series_id for s in list_series(engine, source="traffic")] == [SERIES]


def test_schema_module_matches_the_migrations(pg_url: str) -> None:
    # schema.py and the migrations describe the same tables; comments aside (two comments of
    # observations exist only in schema.py).
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hourcast.storage.schema import metadata

    engine = create_db_engine(pg_url)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": compared_name}
        )
        differences = compare_metadata(context, metadata)
    engine.dispose()

    def kind(difference: object) -> str:
        first = difference[0] if isinstance(difference, list) else difference
        return str(first[0])  # type: ignore[index]

    assert [d for d in differences if kind(d) != "modify_comment"] == []
