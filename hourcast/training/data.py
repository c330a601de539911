"""The training data of a target: load its observations, prepare them as regular hourly series.

The first two steps of the training pipeline (Mage blocks ``load_observations`` and
``prepare_series``).
"""

from __future__ import annotations

import pandas as pd

from hourcast.forecasting.features import regularize
from hourcast.settings import Settings
from hourcast.storage.db import create_db_engine
from hourcast.storage.observations import list_series, load_observations
from hourcast.targets import get_target

__all__ = ["load_training_frame", "prepare_training_frame", "series_by_id", "series_timezones"]


def load_training_frame(
    *,
    settings: Settings,
    series_id: str | None = None,
    train_end: pd.Timestamp | None,
    target: str = "traffic",
) -> pd.DataFrame:
    """Observations up to ``train_end`` (inclusive) of one series, or of every target series.

    Args:
        settings (Settings): The observation store.
        series_id (str | None): Only this series of the target. Defaults to all of them.
        train_end (pd.Timestamp | None): Last hour loaded; None loads everything.
        target (str): A name in ``hourcast.targets.TARGETS``. Defaults to "traffic".

    Returns:
        pd.DataFrame: ``series_id``, ``ts`` (UTC), ``value``, ``timezone``.

    Raises:
        ValueError: Unknown target, or no observations (the message says to ingest first).
    """
    goal = get_target(target)
    engine = create_db_engine(settings.resolved_database_url)
    try:
        stored = [
            (found.series_id, found.timezone)
            for found in list_series(engine, source=goal.source, parameter=goal.parameter)
        ]
        if series_id is not None:
            stored = [(sid, tz) for sid, tz in stored if sid == series_id]
        parts = []
        for sid, timezone in stored:
            frame = load_observations(engine, series_id=sid, end=train_end)
            parts.append(frame.assign(series_id=sid, timezone=timezone))
    finally:
        engine.dispose()
    if not parts or all(part.empty for part in parts):
        raise ValueError(
            f"no observations for target {target!r} up to {train_end}; run `hourcast ingest` first"
        )
    return pd.concat(parts, ignore_index=True)[["series_id", "ts", "value", "timezone"]]


def prepare_training_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Per series: a gap-free hourly index (NaN for missing hours), validated.

    Raises:
        ValueError: An hour repeats within a series.
    """
    if frame.duplicated(["series_id", "ts"]).any():
        raise ValueError("duplicate hours in the training data")
    parts = []
    for (sid, timezone), group in frame.groupby(["series_id", "timezone"], sort=True):
        series = regularize(pd.Series(group["value"].to_numpy(float), index=group["ts"]))
        parts.append(
            pd.DataFrame(
                {
                    "series_id": str(sid),
                    "ts": series.index,
                    "value": series.to_numpy(),
                    "timezone": str(timezone),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def series_by_id(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The ``value`` column of a frame with ``series_id`` and ``ts`` columns, one series per id."""
    return {
        str(sid): pd.Series(group["value"].to_numpy(float), index=pd.DatetimeIndex(group["ts"]))
        for sid, group in frame.groupby("series_id", sort=True)
    }


def series_timezones(frame: pd.DataFrame) -> dict[str, str]:
    """Each series' own time zone (the ``timezone`` column of a training frame), by id.

    Raises:
        ValueError: A series has more than one time zone.
    """
    zones = frame.groupby("series_id", sort=True)["timezone"].unique()
    mixed = sorted(str(sid) for sid, found in zones.items() if len(found) != 1)
    if mixed:
        raise ValueError(f"series with more than one time zone: {mixed}")
    return {str(sid): str(found[0]) for sid, found in zones.items()}
