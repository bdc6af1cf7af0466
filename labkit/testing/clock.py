"""A clock that moves only when a test says so.

Mirrors ``k8s.io/utils/clock/testing`` (``FakeClock``: ``Step``, ``SetTime``, ``HasWaiters``): the wall
time and the monotonic reading start at fixed values and advance together by :meth:`FakeClock.step`,
which first runs, in order of when they are due, the callbacks of every timer that comes due on the
way (a work queue's delayed keys, a sleeping loop). Nothing fires by itself, so a test that wants to
see a requeue after 30 s steps 30 s, and one that wants to prove nothing happens simply does not.

Left out: tickers, and ``Sleep`` blocking the caller (:meth:`FakeClock.sleep` awaits a step instead).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import heapq
import itertools
from collections.abc import Callable

from labkit.clock import Clock

#: where a fake clock starts unless told otherwise
EPOCH = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@dataclasses.dataclass(order=True)
class _Timer:
    due: float
    seq: int
    callback: Callable[[], None] = dataclasses.field(compare=False)
    cancelled: bool = dataclasses.field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True

    def __hash__(self) -> int:  # a work queue keeps its timers in a dict
        return self.seq


class FakeClock(Clock):
    """Wall time from ``start`` (aware, UTC); monotonic time from 0."""

    def __init__(self, start: dt.datetime = EPOCH) -> None:
        self._wall = start
        self._mono = 0.0
        self._timers: list[_Timer] = []
        self._seq = itertools.count()

    def now(self) -> dt.datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self._mono + max(delay, 0.0), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has been stepped ``seconds`` on."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)
        self.call_later(seconds, wake)
        await done

    def step(self, seconds: float) -> None:
        """Move time on by ``seconds``, calling each timer due on the way at the time it is due."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        target = self._mono + seconds
        while self._timers and self._timers[0].due <= target:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._advance(timer.due)
            timer.callback()
        self._advance(target)

    def set_time(self, t: dt.datetime) -> None:
        """Step to the wall time ``t``."""
        self.step((t - self._wall).total_seconds())

    def waiters(self) -> list[float]:
        """Seconds until each pending timer is due, soonest first (``HasWaiters`` when not empty)."""
        return sorted(t.due - self._mono for t in self._timers if not t.cancelled)

    def _advance(self, mono: float) -> None:
        if mono > self._mono:
            self._wall += dt.timedelta(seconds=mono - self._mono)
            self._mono = mono
