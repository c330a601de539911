"""The observation store at scale, on real PostgreSQL: partitions, COPY upserts, one-query reads.

Migration 0006 partitions observations by year (rows kept); upserts COPY into a staging table
and upsert from it (idempotent, nothing lost when a load fails); the history of 1,000 series
is read in one statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command

from hourcast.series import openaq_sensor_spec
from hourcast.storage.db import alembic_config, create_db_engine, current_revision, upgrade
from hourcast.storage.history import latest_history_arrays_many, latest_observations_many
from hourcast.storage.observations import (
    UpsertResult,
    latest_observations,
    load_observations,
    register_series,
    upsert_observations,
)
from hourcast.storage.schema import series

pytestmark = pytest.mark.integration


def _spec(number: int) -> object:
    return openaq_sensor_spec(
        sensor_id=number, location=f"s{number}", parameter="pm25", units="µg/m³", timezone="UTC"
    )


def _frame(start: str, hours: int, seed: int = 0) -> pd.DataFrame:
    ts = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    values = np.random.default_rng(seed).gamma(2.0, 10.0, hours)
    values[::7] = np.nan  # hours reported without a value
    covariates = [{"temp": float(i % 5)} if i % 3 == 0 else None for i in range(hours)]
    return pd.DataFrame({"ts": ts, "value": values, "covariates": covariates})


def _register(engine: sa.Engine, numbers: range) -> None:
    with engine.begin() as connection:
        for number in numbers:
            register_series(connection, spec=_spec(number))  # type: ignore[arg-type]


def _rows(engine: sa.Engine, query: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(query)).all()]


def _snapshot(engine: sa.Engine) -> list[tuple[object, ...]]:
    return _rows(
        engine,
        "SELECT series_id, ts, value, covariates::text, ingested_at, updated_at "
        "FROM observations ORDER BY series_id, ts",
    )


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = create_db_engine(pg_url)
    yield engine
    engine.dispose()


def test_migration_0006_partitions_a_store_holding_rows(pg_engine: sa.Engine) -> None:
    upgrade(pg_engine, "0005")
    _register(pg_engine, range(1, 3))
    with pg_engine.begin() as connection:
        for number in (1, 2):
            # Across a year boundary, so rows land in two partitions.
            frame = _frame("2019-12-30", 24 * 5, seed=number)
            upsert_observations(connection, series_id=f"openaq:{number}", frame=frame)
    before = _snapshot(pg_engine)

    assert upgrade(pg_engine) == "0006"

    assert _snapshot(pg_engine) == before
    command.downgrade(alembic_config(pg_engine), "0005")  # and back: the same rows, plain
    assert current_revision(pg_engine) == "0005"
    assert _snapshot(pg_engine) == before
    assert upgrade(pg_engine) == "0006"
    strategy = _rows(
        pg_engine,
        "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'observations'::regclass",
    )
    partitions = {
        name
        for (name,) in _rows(
            pg_engine,
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'observations'::regclass",
        )
    }
    counts = "SELECT tableoid::regclass::text, count(*) FROM observations GROUP BY 1"
    where = dict(_rows(pg_engine, counts))  # type: ignore[arg-type]
    key = _rows(
        pg_engine,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'observations'::regclass AND contype = 'p'",
    )
    assert strategy == [("r",)]  # RANGE
    assert {"observations_y2000", "observations_y2026", "observations_y2060"} <= partitions
    assert "observations_default" in partitions
    assert len(partitions) == 62
    assert where == {"observations_y2019": 2 * 48, "observations_y2020": 2 * 72}
    assert key == [("PRIMARY KEY (series_id, ts)",)]


def test_migration_0006_keeps_a_plain_table_on_sqlite(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    assert upgrade(engine) == "0006"
    _register(engine, range(1, 2))
    with engine.begin() as connection:
        result = upsert_observations(
            connection, series_id="openaq:1", frame=_frame("2024-01-01", 5)
        )
    assert result == UpsertResult(inserted=5)
    assert sa.inspect(engine).get_table_names().count("observations") == 1
    engine.dispose()


def test_copy_upsert_is_idempotent_and_reaches_every_year(pg_engine: sa.Engine) -> None:
    upgrade(pg_engine)
    _register(pg_engine, range(1, 2))
    frame = _frame("2024-12-31 20:00", 30)
    with pg_engine.begin() as connection:
        first = upsert_observations(connection, series_id="openaq:1", frame=frame)
    stored = _snapshot(pg_engine)
    with pg_engine.begin() as connection:
        again = upsert_observations(connection, series_id="openaq:1", frame=frame)
    assert first == UpsertResult(inserted=30)
    assert again == UpsertResult(unchanged=30)
    assert _snapshot(pg_engine) == stored  # a re-run rewrites nothing, not even updated_at

    changed = frame.copy()
    changed.loc[3, "value"] = 123.0
    covariates = changed["covariates"].tolist()
    covariates[4] = {"temp": 99.0}
    changed["covariates"] = covariates
    far = pd.DataFrame(
        {"ts": pd.to_datetime(["2060-06-01", "2071-01-01"], utc=True), "value": [1.0, 2.0]}
    )
    with pg_engine.begin() as connection:
        assert upsert_observations(connection, series_id="openaq:1", frame=changed) == UpsertResult(
            updated=2, unchanged=28
        )
        # Two upserts in one transaction share the staging table: the second sees only its rows.
        assert upsert_observations(connection, series_id="openaq:1", frame=far) == UpsertResult(
            inserted=2
        )
    loaded = load_observations(pg_engine, series_id="openaq:1", with_covariates=True)
    assert len(loaded) == 32
    assert loaded["value"].iloc[3] == 123.0
    assert loaded["covariates"].iloc[4] == {"temp": 99.0}
    assert loaded["value"].isna().sum() == frame["value"].isna().sum()
    homes = _rows(
        pg_engine,
        "SELECT ts, tableoid::regclass::text FROM observations "
        "WHERE ts >= '2060-01-01' ORDER BY ts",
    )
    assert [home for _, home in homes] == ["observations_y2060", "observations_default"]


def test_a_load_failing_midway_loses_nothing_stored(pg_engine: sa.Engine) -> None:
    upgrade(pg_engine)
    _register(pg_engine, range(1, 3))
    with pg_engine.begin() as connection:
        upsert_observations(connection, series_id="openaq:1", frame=_frame("2024-01-01", 48))
    stored = _snapshot(pg_engine)

    def load_two() -> None:
        with pg_engine.begin() as connection:
            # The first series' load changes rows, then the second fails: an unregistered one.
            changed = _frame("2024-01-01", 72, seed=9)
            upsert_observations(connection, series_id="openaq:1", frame=changed)
            upsert_observations(connection, series_id="openaq:404", frame=_frame("2024-01-01", 5))

    with pytest.raises(sa.exc.IntegrityError):
        load_two()

    assert _snapshot(pg_engine) == stored
    with pg_engine.begin() as connection:  # the connection is usable again afterwards
        again = upsert_observations(connection, series_id="openaq:2", frame=_frame("2024-01-01", 3))
    assert again == UpsertResult(inserted=3)


@pytest.mark.slow
def test_the_history_of_1000_series_is_one_query(pg_engine: sa.Engine) -> None:
    upgrade(pg_engine)
    numbers = range(1, 1001)
    with pg_engine.begin() as connection:
        # Stored in two statements (fast): each sensor's newest hour differs; sensor 1 holds
        # 30 days, more than the 21 read, the others 40 hours.
        connection.execute(
            series.insert(),
            [
                {
                    "series_id": f"openaq:{n}",
                    "source": "openaq",
                    "parameter": "pm25",
                    "timezone": "UTC",
                }
                for n in numbers
            ],
        )
        connection.execute(
            sa.text(
                """
                INSERT INTO observations (series_id, ts, value)
                SELECT 'openaq:' || n, hour, CASE WHEN extract(hour FROM hour) = 3 THEN NULL
                                                  ELSE n + extract(epoch FROM hour) / 3600 END
                FROM generate_series(1, 1000) AS n,
                LATERAL generate_series(
                    timestamptz '2024-06-01 00:00+00' - make_interval(hours => n % 50)
                        - make_interval(hours => CASE WHEN n = 1 THEN 24 * 30 - 1 ELSE 39 END),
                    timestamptz '2024-06-01 00:00+00' - make_interval(hours => n % 50),
                    interval '1 hour'
                ) AS hour
                """
            )
        )
    wanted = [f"openaq:{number}" for number in numbers] + ["openaq:5000"]  # one never stored
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(pg_engine, "before_cursor_execute", count)
    try:
        histories = latest_observations_many(pg_engine, series_ids=wanted, hours=24 * 21)
        arrays = latest_history_arrays_many(pg_engine, series_ids=wanted[:3], hours=24 * 21)
    finally:
        sa.event.remove(pg_engine, "before_cursor_execute", count)

    assert len(statements) == 2  # one for 1,001 series, one for the arrays of three
    assert len(histories) == 1001
    assert len(histories["openaq:1"]) == 24 * 21
    assert len(histories["openaq:2"]) == 40
    assert histories["openaq:5000"].empty
    for sid in ("openaq:1", "openaq:2", "openaq:777"):
        one = latest_observations(pg_engine, series_id=sid, hours=24 * 21)
        pd.testing.assert_frame_equal(histories[sid], one)
    hours, values = arrays["openaq:2"]  # type: ignore[misc]
    expected = histories["openaq:2"]
    assert list(hours) == list(expected["ts"].astype("int64") // 3_600_000_000_000)
    np.testing.assert_array_equal(values, expected["value"].to_numpy())


def test_the_sqlite_history_of_many_series_matches_one_by_one(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    _register(engine, range(1, 4))
    with engine.begin() as connection:
        for number in range(1, 4):
            frame = _frame(f"2024-01-0{number}", 30 + number, seed=number)
            upsert_observations(connection, series_id=f"openaq:{number}", frame=frame)
    histories = latest_observations_many(engine, series_ids=["openaq:1", "openaq:3"], hours=24)
    for sid in ("openaq:1", "openaq:3"):
        pd.testing.assert_frame_equal(
            histories[sid], latest_observations(engine, series_id=sid, hours=24)
        )
    engine.dispose()
