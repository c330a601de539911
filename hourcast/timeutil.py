"""Parsing of user-supplied instants (CLI options, pipeline variables)."""

from __future__ import annotations

import pandas as pd

__all__ = ["parse_instant"]


def parse_instant(value: str, *, field: str) -> pd.Timestamp:
    """An ISO-8601 instant as a UTC timestamp; a value without offset is taken as UTC.

    Raises:
        ValueError: The value is not an ISO-8601 date-time; the message names ``field``.
    """
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{field}: {value!r} is not an ISO-8601 date-time such as 2018-07-08T23:00:00-05:00"
        ) from exc
    if pd.isna(stamp):
        raise ValueError(f"{field}: a date-time is required")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
