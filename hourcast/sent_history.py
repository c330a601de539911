"""A history sent with a forecast request: ISO-8601 stamps and values into numpy arrays.

The API takes a series' recent hours in the request body as ``{"ts": ..., "value": ...}``
points. :func:`history_arrays` turns them into epoch hours and values, and refuses the first
unusable point with a :class:`HistoryError` that names it, which the API answers as a 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from hourcast.forecasting.arrays import FloatArray, IntArray

__all__ = ["FUTURE_TOLERANCE", "HistoryError", "history_arrays"]

FUTURE_TOLERANCE = timedelta(hours=1)
"""How far after the current time a sent history hour may start (clocks differ)."""


class HistoryError(ValueError):
    """A sent history point that cannot be used; names the point and the field.

    Args:
        index: Position of the point in the sent history.
        field: ``ts`` or ``value``.
        message: What is wrong.
    """

    def __init__(self, index: int, field: str, message: str) -> None:
        self.index = index
        self.field = field
        self.message = message
        super().__init__(f"history[{index}].{field}: {message}")


# The shapes clients send most: ``2024-01-01T00:00:00`` plus nothing, ``Z`` or ``+00:00``.
_UTC_SUFFIXES = {19: "", 20: "Z", 25: "+00:00"}


def _utc_epoch_seconds(stamps: Sequence[str]) -> FloatArray | None:
    """:func:`_epoch_seconds` of UTC stamps with seconds, by numpy's parser; None otherwise.

    About 3.8 times faster than the general loop (45 against 172 us for 504 hours, measured
    2026-12-07), which counts in every request. None when the stamps do not all have one of
    these shapes or numpy refuses one: the general parser then decides, and names the bad
    point.
    """
    length = len(stamps[0]) if stamps else 0
    suffix = _UTC_SUFFIXES.get(length)
    if suffix is None or set(map(len, stamps)) != {length}:
        return None
    heads: Sequence[str] = stamps
    if suffix:
        # The heads without slicing each stamp (slicing was half of the time): joined, the
        # stamps end in the suffix at every ``length``-th place, and split there they give
        # one head each and a last "", unless the suffix also occurs inside a head.
        joined = "".join(stamps)
        count = len(stamps)
        if any(joined[19 + at :: length] != char * count for at, char in enumerate(suffix)):
            return None
        heads = joined.split(suffix)
        if len(heads) != count + 1:
            return None
        heads.pop()
    try:
        parsed = np.array(heads, dtype="datetime64[s]")
    except ValueError:
        return None
    return parsed.astype(np.int64).astype(float)


def _epoch_seconds(stamps: Sequence[str]) -> FloatArray:
    """Seconds since 1970-01-01 UTC of ISO-8601 strings; naive ones are UTC.

    ``datetime.fromisoformat`` and the standard library's fixed-offset time zones are C code:
    several times faster than parsing into another library's datetimes and converting those.
    """
    fast = _utc_epoch_seconds(stamps)
    if fast is not None:
        return fast
    out = np.empty(len(stamps))
    for position, text in enumerate(stamps):
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise HistoryError(position, "ts", f"not an ISO-8601 date-time: {text!r}") from None
        if stamp.tzinfo is None:  # naive: UTC by contract (timestamp() would take local time)
            stamp = stamp.replace(tzinfo=UTC)
        out[position] = stamp.timestamp()
    return out


def _refuse_repeats(hours: IntArray) -> None:
    """A HistoryError naming the first hour that an earlier point already has, if any."""
    unique, first_seen = np.unique(hours, return_index=True)
    if len(unique) != len(hours):
        repeated = np.ones(len(hours), dtype=bool)
        repeated[first_seen] = False
        raise HistoryError(int(np.argmax(repeated)), "ts", "the same hour is sent more than once")


def history_arrays(
    stamps: Sequence[str],
    values: Sequence[float | None],
    *,
    now: datetime | None = None,
    value_range: tuple[float, float] | None = None,
) -> tuple[IntArray, FloatArray]:
    """Sent ``(hour, value)`` pairs as (epoch hours, values); None becomes NaN.

    Args:
        stamps: Hour starts, ISO-8601; naive ones are UTC.
        values: The value of each hour, or None.
        now: The current time (default: the clock); no hour may start more than
            :data:`FUTURE_TOLERANCE` after it.
        value_range: The plausible ``(low, high)`` of the series' parameter, if known.

    Raises:
        HistoryError: The first point that is not an ISO-8601 date-time or not an hour start,
            starts before 1970 or after
            ``now`` plus the tolerance, repeats an hour, or lies outside ``value_range``.
    """
    seconds = _epoch_seconds(stamps)
    limit = (now or datetime.now(UTC)).timestamp() + FUTURE_TOLERANCE.total_seconds()
    checks = [
        (seconds % 3600 != 0, "ts", "not an hour start (minutes and seconds must be zero in UTC)"),
        (seconds < 0, "ts", "before 1970-01-01"),
        (seconds > limit, "ts", f"more than {FUTURE_TOLERANCE} after the current time"),
    ]
    for failed, field_name, message in checks:
        if failed.any():
            raise HistoryError(int(np.argmax(failed)), field_name, message)
    hours = (seconds // 3600).astype(np.int64)
    if not (np.diff(hours) > 0).all():  # rising hours repeat none: the sort is spared
        _refuse_repeats(hours)
    array = np.array(values, dtype=float)
    if value_range is not None:
        low, high = value_range
        with np.errstate(invalid="ignore"):
            outside = (array < low) | (array > high)
        if outside.any():
            at = int(np.argmax(outside))
            raise HistoryError(
                at, "value", f"{array[at]:g} is outside the plausible range {low:g} to {high:g}"
            )
    return hours, array
