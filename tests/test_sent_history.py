"""Histories sent with a request: stamps and values into arrays, and the first bad point named."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hourcast.sent_history import HistoryError, _utc_epoch_seconds, history_arrays


def test_history_arrays_epoch_hours_and_values() -> None:
    stamps = ["2024-01-01T02:00:00+00:00", "2024-01-01T00:00", "2024-01-01T02:00:00+01:00"]
    hours, values = history_arrays(stamps, [3.0, None, 2.0])
    first = int(pd.Timestamp("2024-01-01", tz="UTC").timestamp()) // 3600
    assert hours.tolist() == [first + 2, first, first + 1]  # naive is UTC; offsets converted
    np.testing.assert_array_equal(values, [3.0, np.nan, 2.0])


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-03-10T01:00:00Z", "2024-03-10T02:00:00Z", "2024-03-10T03:00:00Z"],
        ["2024-03-10T01:00:00+00:00", "2024-03-10 02:00:00+00:00", "2024-03-10T03:00:00"],
        ["2024-03-10T01:00:00+00:00", "2024-03-10T02:00:00-05:00"],  # an offset: the loop
        ["2024-02-29T23:00:00Z", "2024-02-30T00:00:00Z"],  # numpy refuses: the loop names it
        ["0000-01-01T00:00:00Z"],
        # The suffix where a head should be: the stamps split into more pieces than stamps.
        ["2024+00:00T01:00:00+00:00", "2024-03-10T02:00:00+00:00"],
        ["2024Z+2024-03-10T01Z", "2024-03-10T02:00:00Z"],  # numpy would parse both pieces
        ["Z2024-03-10T01:00:00", "2024-03-10T02:00:00Z"],  # as many pieces, one misplaced
        ["Z024-03-10T01:00:00Z", "2024-03-10T02:00:00Z"],
        ["2024-03-10T01:00:00ZZ", "2024-03-10T02:00:00Z"],
        ["2024-03-10T01:00:00+00:000", "2024-03-10T02:00:00+00:00"],
        ["2024-03-10T01:00:00+00:01", "2024-03-10T02:00:00+00:00"],
        ["2024-03-10T01:00:00", "2024-03-10T02:00:00Z"],
    ],
)
def test_utc_stamps_parse_as_the_general_parser_parses_them(stamps: list[str]) -> None:
    """numpy's fast path for UTC stamps gives the loop's seconds, or the same refusal."""
    assert _hours_or_refusal(stamps) == _hours_or_refusal(stamps, general=True)


def _hours_or_refusal(stamps: list[str], *, general: bool = False) -> object:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    fast = None if general else _utc_epoch_seconds(stamps)
    with mock.patch("hourcast.sent_history._utc_epoch_seconds", return_value=fast):
        try:
            return history_arrays(stamps, [1.0] * len(stamps), now=now)[0].tolist()
        except HistoryError as exc:
            return (exc.index, exc.field)  # the reason may differ: numpy refuses other ways


_HOURS = st.integers(min_value=0, max_value=24 * 365 * 70)


@st.composite
def _stamp_lists(draw: st.DrawFn) -> list[str]:
    """UTC stamps of one shape, now and then one character changed, added or taken away."""
    suffix = draw(st.sampled_from(["Z", "+00:00", ""]))
    hours = draw(st.lists(_HOURS, min_size=1, max_size=6))
    stamps = [
        dt.datetime.fromtimestamp(hour * 3600, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + suffix
        for hour in hours
    ]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(stamps) - 1))
        place = draw(st.integers(0, len(stamps[at])))
        char = draw(st.sampled_from(list("Z+0:-T 9")))
        cut = draw(st.integers(0, 1))
        stamps[at] = stamps[at][:place] + char * (1 - cut) + stamps[at][place + cut :]
    return stamps


@settings(max_examples=400, deadline=None)
@given(stamps=_stamp_lists())
def test_any_utc_stamps_parse_as_the_general_parser_parses_them(stamps: list[str]) -> None:
    assert _hours_or_refusal(stamps) == _hours_or_refusal(stamps, general=True)


@pytest.mark.parametrize("suffix", ["Z", "+00:00", ""])
def test_utc_stamps_of_one_shape_take_numpy_path(suffix: str) -> None:
    stamps = [f"2024-01-01T0{hour}:00:00{suffix}" for hour in range(3)]
    seconds = _utc_epoch_seconds(stamps)
    assert seconds is not None
    first = pd.Timestamp("2024-01-01", tz="UTC").timestamp()
    assert seconds.tolist() == [first, first + 3600, first + 7200]


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-01T00:00:00+01:00"],
        ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+00:00"],
        ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00X"],
        ["2024-01-01T00:00Z"],
        [],
        ["2024Z+2024-03-10T01Z", "2024-03-10T02:00:00Z"],  # numpy would parse both pieces
        ["Z2024-03-10T01:00:00", "2024-03-10T02:00:00Z"],  # as many pieces, one misplaced
        ["2024-03-10T01:00:00+00:01", "2024-03-10T02:00:00+00:00"],
        # Suffixes where they belong once joined, but not in every stamp:
        ["2024-03-10T01:00+00:00202", "4-03-10T02:00:00   +00:00"],
        ["2024-03-10T01:00:00Z", "2024-03-10T02:00:00", "Z2024-03-10T03:00:00Z"],
    ],
)
def test_other_stamps_go_to_the_general_parser(stamps: list[str]) -> None:
    assert _utc_epoch_seconds(stamps) is None


@pytest.mark.parametrize(
    ("stamps", "values", "expected"),
    [
        (["2024-01-01T00:00Z", "yesterday"], [1.0, 1.0], "history[1].ts: not an ISO-8601"),
        (["2024-01-01T00:30Z"], [1.0], "history[0].ts: not an hour start"),
        (["2024-01-01T00:00+05:30"], [1.0], "history[0].ts: not an hour start"),
        (["1969-12-31T23:00Z"], [1.0], "history[0].ts: before 1970-01-01"),
        (["2024-01-02T02:00Z"], [1.0], "history[0].ts: more than 1:00:00 after the current"),
        (["2024-01-01T00:00Z", "2023-12-31T19:00-05:00"], [1.0, 2.0], "history[1].ts: the same"),
        (["2024-01-01T00:00Z", "2024-01-01T01:00Z"], [5.0, 11.0], "history[1].value: 11 is"),
    ],
)
def test_history_arrays_name_the_first_bad_point(
    stamps: list[str], values: list[float], expected: str
) -> None:
    now = dt.datetime(2024, 1, 2, 0, 30, tzinfo=dt.UTC)
    with pytest.raises(HistoryError, match=re.escape(expected)):
        history_arrays(stamps, values, now=now, value_range=(0.0, 10.0))
