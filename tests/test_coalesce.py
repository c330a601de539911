"""Coalescer: concurrent callers share calls, each gets its own results, errors stay apart."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from hourcast.forecasting.coalesce import Coalescer, LoopCoalescer

BAD = -1


class SlowDoubler:
    """Doubles each item, taking ``seconds`` per call (releasing the GIL, as XGBoost does).

    Refuses any list holding :data:`BAD`, and records the size of every call.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: list[int] = []
        self.most_at_once = 0
        self._inside = 0
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[int]) -> list[int]:
        with self._lock:
            self._inside += 1
            self.most_at_once = max(self.most_at_once, self._inside)
        try:
            time.sleep(self.seconds)
            self.calls.append(len(items))
            if BAD in items:
                raise ValueError("refused a bad item")
            return [2 * item for item in items]
        finally:
            with self._lock:
                self._inside -= 1


def _together(
    callers: int, work: Coalescer[int, int], items_of: dict[int, list[int]]
) -> list[object]:
    """Each caller calls ``work`` with its items at the same moment; results or "error"."""
    start = threading.Barrier(callers)

    def call(caller: int) -> object:
        start.wait()
        try:
            return work(items_of[caller])
        except ValueError:
            return "error"

    with ThreadPoolExecutor(callers) as pool:
        return list(pool.map(call, range(callers)))


def test_a_lone_caller_gets_a_call_of_its_own() -> None:
    run = SlowDoubler(seconds=0.0)
    work = Coalescer(run)
    assert [work([caller, caller + 1]) for caller in range(3)] == [[0, 2], [2, 4], [4, 6]]
    assert run.calls == [2, 2, 2]
    assert work.calls == 3


def test_concurrent_callers_share_calls_and_get_their_own_results() -> None:
    run = SlowDoubler(seconds=0.05)
    work = Coalescer(run)
    callers = 16
    items_of = {
        caller: list(range(caller * 100, caller * 100 + caller + 1)) for caller in range(16)
    }

    results = _together(callers, work, items_of)

    assert results == [[2 * item for item in items_of[caller]] for caller in range(callers)]
    assert sum(run.calls) == sum(len(items) for items in items_of.values())  # each item once
    assert len(run.calls) < callers  # merged
    assert run.most_at_once == 1  # one call at a time


def test_a_bad_caller_fails_alone_and_the_next_calls_work() -> None:
    run = SlowDoubler(seconds=0.05)
    work = Coalescer(run)
    with pytest.raises(ValueError, match="refused"):
        work([1, BAD])
    assert work([3]) == [6]

    callers = 6
    items_of = {caller: [BAD] if caller == 0 else [caller] for caller in range(callers)}
    results = _together(callers, work, items_of)

    assert results == ["error", *([2 * caller] for caller in range(1, callers))]
    assert work([4, 5]) == [8, 10]  # not stuck


# ------------------------------------------------------------------------- LoopCoalescer
async def _awaited_together(work: LoopCoalescer[int, int], items: list[int]) -> list[object]:
    """Each item awaited by its own task, all started in one loop pass; results or "error"."""

    async def one(item: int) -> object:
        try:
            return await work(item)
        except ValueError:
            return "error"

    return list(await asyncio.gather(*(one(item) for item in items)))


def test_items_awaited_in_one_loop_pass_share_one_call() -> None:
    run = SlowDoubler(seconds=0.0)
    work: LoopCoalescer[int, int] = LoopCoalescer(run)

    results = asyncio.run(_awaited_together(work, list(range(20))))

    assert results == [2 * item for item in range(20)]
    assert run.calls == [20]
    assert work.calls == 1


async def _staggered(work: LoopCoalescer[int, int], count: int) -> list[int]:
    """Item ``i`` awaited by a task that first lets ``i`` loop passes go by."""

    async def after(passes: int) -> int:
        for _ in range(passes):
            await asyncio.sleep(0)
        return await work(passes)

    return list(await asyncio.gather(*(after(item) for item in range(count))))


def test_items_arriving_over_consecutive_passes_share_one_call() -> None:
    run = SlowDoubler(seconds=0.0)
    work: LoopCoalescer[int, int] = LoopCoalescer(run)

    assert asyncio.run(_staggered(work, 6)) == [0, 2, 4, 6, 8, 10]
    assert run.calls == [6]


def test_the_call_waits_for_no_more_once_max_batch_items_wait() -> None:
    run = SlowDoubler(seconds=0.0)
    work: LoopCoalescer[int, int] = LoopCoalescer(run, max_batch=3)

    assert asyncio.run(_staggered(work, 10)) == [2 * item for item in range(10)]
    assert sum(run.calls) == 10
    assert len(run.calls) > 1
    assert all(size <= 3 for size in run.calls), run.calls


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        LoopCoalescer(SlowDoubler(seconds=0.0), max_batch=0)


def test_a_lone_awaiter_is_run_at_once_and_later_ones_get_calls_of_their_own() -> None:
    run = SlowDoubler(seconds=0.0)
    work: LoopCoalescer[int, int] = LoopCoalescer(run)

    async def one_after_another() -> list[int]:
        return [await work(item) for item in range(3)]

    assert asyncio.run(one_after_another()) == [0, 2, 4]
    assert run.calls == [1, 1, 1]


def test_a_failing_item_fails_only_its_awaiter() -> None:
    run = SlowDoubler(seconds=0.0)
    work: LoopCoalescer[int, int] = LoopCoalescer(run)

    results = asyncio.run(_awaited_together(work, [1, BAD, 3]))

    assert results == [2, "error", 6]
    # The merged call failed; then each item ran alone.
    assert run.calls == [3, 1, 1, 1]


def test_a_cancelled_awaiter_is_left_out_of_the_call() -> None:
    run = SlowDoubler(seconds=0.0)
    work: LoopCoalescer[int, int] = LoopCoalescer(run)

    async def cancel_one() -> list[object]:
        tasks = [asyncio.create_task(work(item)) for item in (1, 2, 3)]
        await asyncio.sleep(0)  # each task has submitted its item; the call is not run yet
        tasks[1].cancel()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    results = asyncio.run(cancel_one())

    assert (results[0], results[2]) == (2, 6)
    assert isinstance(results[1], asyncio.CancelledError)
    assert run.calls == [2]
