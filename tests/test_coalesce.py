"""CoalescingBooster: concurrent callers share booster calls and each gets its own rows back."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hourcast.forecasting.arrays import FloatArray
from hourcast.forecasting.coalesce import CoalescingBooster, Predictions


class SlowBooster:
    """Predicts the sum of each row, taking ``seconds`` per call; records each call's rows."""

    def __init__(self, seconds: float = 0.05, fail_on: float | None = None) -> None:
        self.seconds = seconds
        self.fail_on = fail_on
        self.batches: list[int] = []
        self._inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()

    def inplace_predict(self, data: FloatArray) -> Predictions:
        with self._lock:
            self._inside += 1
            self.most_inside = max(self.most_inside, self._inside)
        try:
            time.sleep(self.seconds)  # releases the GIL, as XGBoost's C call does
            self.batches.append(len(data))
            if self.fail_on is not None and (data == self.fail_on).any():
                raise ValueError("the booster refused a row")
            return data.sum(axis=1).astype(np.float32)
        finally:
            with self._lock:
                self._inside -= 1


def _rows(caller: int, count: int) -> FloatArray:
    return np.full((count, 3), float(caller))


def test_a_lone_caller_gets_one_call_of_its_own_rows() -> None:
    booster = SlowBooster(seconds=0.0)
    coalescing = CoalescingBooster(booster)
    for caller in range(3):
        result = coalescing.inplace_predict(_rows(caller, 24))
        np.testing.assert_array_equal(result, np.full(24, 3.0 * caller))
    assert booster.batches == [24, 24, 24]
    assert coalescing.calls == 3


def test_concurrent_callers_share_calls_and_get_their_own_rows() -> None:
    booster = SlowBooster(seconds=0.05)
    coalescing = CoalescingBooster(booster)
    callers = 16
    start = threading.Barrier(callers)

    def call(caller: int) -> Predictions:
        start.wait()
        return coalescing.inplace_predict(_rows(caller, caller + 1))

    with ThreadPoolExecutor(callers) as pool:
        results = list(pool.map(call, range(callers)))

    for caller, result in enumerate(results):
        np.testing.assert_array_equal(result, np.full(caller + 1, 3.0 * caller))
    assert sum(booster.batches) == sum(range(1, callers + 1))  # every row exactly once
    assert coalescing.calls == len(booster.batches) < callers
    assert booster.most_inside == 1  # one booster call at a time


def test_a_booster_error_reaches_every_caller_of_that_call_and_the_next_calls_work() -> None:
    booster = SlowBooster(seconds=0.05, fail_on=-1.0)
    coalescing = CoalescingBooster(booster)
    with pytest.raises(ValueError, match="refused"):
        coalescing.inplace_predict(np.full((2, 3), -1.0))
    np.testing.assert_array_equal(coalescing.inplace_predict(_rows(2, 1)), [6.0])

    callers = 6
    start = threading.Barrier(callers)

    def call(caller: int) -> str:
        start.wait()
        rows = np.full((1, 3), -1.0) if caller == 0 else _rows(caller, 1)
        try:
            coalescing.inplace_predict(rows)
        except ValueError:
            return "error"
        return "ok"

    with ThreadPoolExecutor(callers) as pool:
        outcomes = list(pool.map(call, range(callers)))
    assert outcomes[0] == "error"  # the bad rows' caller always hears of it
    assert coalescing.inplace_predict(_rows(4, 2)).tolist() == [12.0, 12.0]  # not stuck
