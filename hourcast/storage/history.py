"""Recent history of many series in one query (the API's batch forecasts read it).

Reading the last 21 days of 1,000 series must stay one round trip to the store, however the
table is partitioned: :func:`latest_observations_many`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from hourcast.storage.db import connected
from hourcast.storage.schema import observations

__all__ = ["latest_history_arrays_many", "latest_observations_many"]


# One statement for every series: the newest hour of each (an index probe per series, from the
# newest partition back), then its rows from that hour back, in the order asked. Hours come
# back as whole hours since 1970 (integers), which numpy takes without parsing datetimes.
_LATEST_MANY_PG = """
SELECT wanted.series_id, rows.hour, rows.value
FROM unnest(CAST(%(series_ids)s AS TEXT[])) WITH ORDINALITY AS wanted (series_id, position)
CROSS JOIN LATERAL (
    SELECT max(ts) AS newest FROM observations WHERE series_id = wanted.series_id
) AS last
CROSS JOIN LATERAL (
    SELECT CAST(floor(extract(epoch FROM o.ts) / 3600) AS BIGINT) AS hour, o.ts, o.value
    FROM observations AS o
    WHERE o.series_id = wanted.series_id
      AND o.ts > last.newest - make_interval(hours => %(hours)s)
      AND o.ts <= last.newest
    OFFSET 0
) AS rows
ORDER BY wanted.position, rows.ts
"""
# Both reads are LATERAL, the second fenced by OFFSET 0 so that the planner cannot turn it
# into a join, so each runs per series on the primary key's index of the partitions its hours
# lie in. As a join, the planner hashed the whole table: 36 s for 1,000 series of a year.

_Hours = npt.NDArray[np.int64]
_Values = npt.NDArray[np.float64]


def _latest_rows(
    engine: Engine | Connection, wanted: list[str], hours: int
) -> dict[str, tuple[_Hours, _Values]]:
    """(epoch hours, values) of the last ``hours`` hours of each series that has any."""
    if hours < 1:
        raise ValueError("hours must be >= 1")
    with connected(engine) as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            # The driver's own rows (plain tuples): SQLAlchemy's row objects took longer to
            # build than the query took to run. Through exec_driver_sql, so still one
            # statement in SQLAlchemy's events and logs.
            result = connection.exec_driver_sql(
                _LATEST_MANY_PG, {"series_ids": wanted, "hours": hours}
            )
            rows = list(result.cursor.fetchall()) if result.cursor is not None else []
        else:  # SQLite: a correlated subquery; its timestamps are ISO text
            newest = observations.alias("newest")
            last = (
                select(func.max(newest.c.ts))
                .where(newest.c.series_id == observations.c.series_id)
                .scalar_subquery()
            )
            query = (
                select(observations.c.series_id, observations.c.ts, observations.c.value)
                .where(
                    observations.c.series_id.in_(wanted),
                    observations.c.ts >= func.datetime(last, f"-{hours - 1} hours"),
                )
                .order_by(observations.c.series_id, observations.c.ts)
            )
            rows = [tuple(row) for row in connection.execute(query)]
    if not rows:
        return {}
    ids, stamps, numbers = zip(*rows, strict=True)
    if postgres:
        epoch_hours = np.array(stamps, dtype=np.int64)
    else:
        utc = pd.DatetimeIndex(pd.to_datetime(list(stamps), utc=True))
        epoch_hours = utc.to_numpy("datetime64[h]").astype(np.int64)
    values = np.array(numbers, dtype=np.float64)  # None (no value) becomes NaN
    order = np.asarray(ids, dtype=object)
    cuts = np.flatnonzero(order[1:] != order[:-1]) + 1
    return {
        str(order[start]): (epoch_hours[start:stop], values[start:stop])
        for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(order)], strict=True)
    }


def latest_observations_many(
    engine: Engine | Connection, *, series_ids: Sequence[str], hours: int
) -> dict[str, pd.DataFrame]:
    """The last ``hours`` hours of each series (up to its own newest hour), in ONE query.

    What :func:`hourcast.storage.observations.latest_observations` gives for one series, for
    a whole batch: reading the history of 1,000 series is one round trip, not 2,000.

    Returns:
        dict: ``ts`` (UTC-aware) and ``value`` frames by series id, oldest first; an empty
        frame for a series with no stored hour.
    """
    wanted = list(dict.fromkeys(series_ids))
    found = _latest_rows(engine, wanted, hours)
    empty: tuple[_Hours, _Values] = (np.empty(0, np.int64), np.empty(0, np.float64))
    out = {}
    for sid in wanted:
        epoch_hours, values = found.get(sid, empty)
        ts = pd.to_datetime(epoch_hours * 3600, unit="s", utc=True)
        out[sid] = pd.DataFrame({"ts": ts, "value": values})
    return out


def latest_history_arrays_many(
    engine: Engine | Connection, *, series_ids: Sequence[str], hours: int
) -> dict[str, tuple[_Hours, _Values] | None]:
    """The same in one query, as (epoch hours, values) per series, as the API forecasts from.

    Returns:
        dict: By series id; None for a series with no stored value in its last ``hours``.
    """
    wanted = list(dict.fromkeys(series_ids))
    found = _latest_rows(engine, wanted, hours)
    return {
        sid: None if sid not in found or np.isnan(found[sid][1]).all() else found[sid]
        for sid in wanted
    }
