"""Concurrent calls of a list-in, list-out function, merged into one call.

A served forecast goes through the fast path in fixed costs more than in rows: XGBoost 3.2's
``inplace_predict`` costs about 0.8 ms per call before it looks at a row (it rebuilds its view
of the model's trees on every call, dmlc/xgboost#12311; 0.78 ms for 1 row, 1.04 ms for the 24
rows of a forecast, 600 trees, one thread, measured 2026-12-07; a slower machine measured 2.1
and 2.7 ms), and the lag features cost about the same for one series as for
a block of them (one numpy call per transform). :class:`Coalescer` merges the calls that
arrive while one is running into the next call (group commit: no timer, so a lone caller
waits for nothing).

:class:`LoopCoalescer` does the same for coroutines of one asyncio event loop: the items
submitted while the loop's passes keep bringing new ones are run together, on the loop itself,
with no thread hand-off.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer", "LoopCoalescer"]

In = TypeVar("In")
Out = TypeVar("Out")


class _Call(Generic[In, Out]):
    """One caller's items; ``ready`` is set when they are answered or the caller must lead."""

    __slots__ = ("error", "items", "lead", "ready", "results")

    def __init__(self, items: Sequence[In]) -> None:
        self.items = items
        self.results: list[Out] | None = None
        self.error: BaseException | None = None
        self.lead = False
        self.ready = threading.Event()

    def outcome(self) -> list[Out]:
        if self.error is not None:
            raise self.error
        assert self.results is not None
        return self.results


class _CountedRun(Generic[In, Out]):
    """``run`` with its calls counted and its result checked: one result per item."""

    def __init__(self, run: Callable[[Sequence[In]], list[Out]]) -> None:
        self._run_items = run
        self.calls = 0  # calls of ``run`` (the tests read it)

    def _call(self, items: Sequence[In]) -> list[Out]:
        results = self._run_items(items)
        self.calls += 1
        if len(results) != len(items):
            raise RuntimeError(f"{len(items)} items gave {len(results)} results")
        return results


class Coalescer(_CountedRun[In, Out]):
    """``run`` for many threads at once, one call at a time, merging the callers' items.

    The first caller runs its items at once (it leads). Callers that arrive meanwhile wait;
    when the call ends, the leader hands the lead to the first waiting caller, which runs
    every waiting caller's items as one list and gives each caller its own results. If a
    merged call fails, each of its callers is run alone, so that only the caller whose items
    fail gets the error.

    Args:
        run: Results for a list of items, one per item and in order.
    """

    def __init__(self, run: Callable[[Sequence[In]], list[Out]]) -> None:
        super().__init__(run)
        self._lock = threading.Lock()
        self._waiting: list[_Call[In, Out]] = []
        self._running = False

    def __call__(self, items: Sequence[In]) -> list[Out]:
        """``run(items)``, possibly computed in one call with other threads' items."""
        call: _Call[In, Out] = _Call(items)
        with self._lock:
            self._waiting.append(call)
            leads = not self._running
            self._running = True
        if not leads:
            call.ready.wait()
            if not call.lead:
                return call.outcome()
        with self._lock:
            batch, self._waiting = self._waiting, []
        self._answer(batch)  # holds this caller's items: it is answered now
        with self._lock:
            if self._waiting:
                successor = self._waiting[0]
                successor.lead = True
                successor.ready.set()
            else:
                self._running = False
        return call.outcome()

    def _answer(self, batch: list[_Call[In, Out]]) -> None:
        if len(batch) > 1:
            merged = [item for waiting in batch for item in waiting.items]
            try:
                results = self._call(merged)
            except BaseException:  # one caller's items may be at fault: run each alone
                for waiting in batch:
                    self._answer([waiting])
                return
            start = 0
            for waiting in batch:
                stop = start + len(waiting.items)
                waiting.results = results[start:stop]
                start = stop
                waiting.ready.set()
            return
        (waiting,) = batch
        try:
            waiting.results = self._call(waiting.items)
        except BaseException as exc:  # the caller gets the error on its own thread
            waiting.error = exc
        waiting.ready.set()


class LoopCoalescer(_CountedRun[In, Out]):
    """``await coalescer(item)``: items awaited over consecutive event-loop passes, run as one call.

    The first item schedules a check for the next pass (``loop.call_soon``). While each pass
    brings new items (requests whose bodies the loop has just read reach the coalescer one pass
    after their bytes), the check waits one pass more; it runs the call once a pass brings
    none, or once ``max_batch`` items wait. A lone item therefore waits two passes (tens of
    microseconds), and under load one call takes nearly every request in flight: at 32
    clients a worker's calls held 2 to 6 requests when only one pass was waited for, and 12
    to 20 with this rule, which cut the XGBoost call's fixed cost per request (1,026 against
    1,122 requests/s, ``scripts/benchmark_api.py --skip-mlflow``, 2026-12-07).

    The call runs on the loop, so the loop serves no other request meanwhile: for CPU-bound
    work in a process per core that is what a thread pool would do too, without the
    hand-offs. If the merged call fails, each item is run alone, so that only the awaiter of a
    failing item gets the error.

    Args:
        run: Results for a list of items, one per item and in order.
        max_batch: Waiting stops once this many items wait (the call takes all of them).
    """

    def __init__(self, run: Callable[[Sequence[In]], list[Out]], *, max_batch: int = 64) -> None:
        super().__init__(run)
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.max_batch = max_batch
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._checked = 0  # items waiting at the last check

    async def __call__(self, item: In) -> Out:
        """``run([item])[0]``, possibly computed in one call with other coroutines' items."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush_when_settled, loop)
        return await future

    def _flush_when_settled(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = len(self._pending)
        if waiting != self._checked and waiting < self.max_batch:
            self._checked = waiting
            loop.call_soon(self._flush_when_settled, loop)
            return
        self._checked = 0
        self._flush()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        live = [(item, future) for item, future in batch if not future.cancelled()]
        if len(live) > 1:
            try:
                results = self._call([item for item, _ in live])
            except Exception:  # one item may be at fault: each runs alone below
                pass
            else:
                for (_, future), result in zip(live, results, strict=True):
                    future.set_result(result)
                return
        for item, future in live:
            try:
                future.set_result(self._call([item])[0])
            except Exception as exc:  # the awaiter gets the error
                future.set_exception(exc)
