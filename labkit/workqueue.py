"""Work queues, and the gate that lets a learner pause and step any control loop.

Mirrors ``k8s.io/client-go/util/workqueue``: a key is queued at most once (``dirty`` set), a key
being processed is not handed out twice (``processing`` set; re-added keys wait until ``done``),
``add_rate_limited`` retries with per-key exponential back-off (5 ms doubling to 1000 s, as
``DefaultControllerRateLimiter``) and ``forget`` resets it; a key added with a delay while it already
waits keeps the sooner time (the delaying queue holds one entry per key). Delays run on a
:class:`~labkit.clock.Clock`, as the delaying queue's ``Clock`` option: on a fake clock a test sees
the keys waiting (:meth:`WorkQueue.waiting`) and lets them in by stepping time, never by sleeping.

:class:`Gate` is labkit's own: every control loop takes its next work item through a gate, so
``pause()`` holds the loop between items and ``step()`` lets exactly one item through.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from labkit.clock import REAL, Cancellable, Clock

K = TypeVar("K", bound=Hashable)

BASE_DELAY = 0.005
MAX_DELAY = 1000.0


class Gate:
    """Open (items flow), or paused (an item passes only when a step is granted)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.paused = False
        self._steps = 0
        self._changed = asyncio.Event()
        self.waiting = False  # True while an item is held at the gate
        self.passed = 0  # items let through since start

    def pause(self) -> None:
        self.paused = True
        self._steps = 0

    def resume(self) -> None:
        self.paused = False
        self._changed.set()

    def step(self, n: int = 1) -> None:
        self._steps += n
        self._changed.set()

    async def wait_turn(self) -> None:
        """Return when this loop may handle one more item."""
        while self.paused and self._steps == 0:
            self.waiting = True
            self._changed.clear()
            await self._changed.wait()
        self.waiting = False
        if self.paused:
            self._steps -= 1
        self.passed += 1


class WorkQueue(Generic[K]):
    """A deduplicating, rate-limited queue of keys for one controller."""

    def __init__(self, name: str, *, gate: Gate | None = None, clock: Clock = REAL) -> None:
        self.name = name
        self.gate = gate or Gate(name)
        self.clock = clock
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._ready = asyncio.Event()
        self._timers: dict[K, tuple[Cancellable, float]] = {}  # a key waiting -> (its timer, when it is due)
        self.shutting_down = False

    def add(self, key: K) -> None:
        if self.shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed. A key already waiting waits once, for the
        sooner of the two times (the delaying queue's ``insert``)."""
        if self.shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self.clock.monotonic() + delay
        waiting = self._timers.get(key)
        if waiting is not None:
            if waiting[1] <= due:
                return
            waiting[0].cancel()
        handle: Cancellable

        def fire() -> None:
            if self._timers.get(key, (None,))[0] is handle:
                del self._timers[key]
            self.add(key)

        handle = self.clock.call_later(delay, fire)
        self._timers[key] = (handle, due)

    def add_rate_limited(self, key: K) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(BASE_DELAY * 2**n, MAX_DELAY))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def retries(self, key: K) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> K:
        """The next key, once the gate lets it through. Call :meth:`done` when finished with it."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        await self.gate.wait_turn()
        while not self._queue:  # drained while we waited at the gate
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._ready.set()

    def shut_down(self) -> None:
        self.shutting_down = True
        for handle, _ in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def waiting(self) -> list[tuple[K, float]]:
        """Keys added with a delay that have not come in yet, with the seconds each still waits, soonest first."""
        now = self.clock.monotonic()
        return sorted(((key, max(due - now, 0.0)) for key, (_, due) in self._timers.items()), key=lambda kw: kw[1])

    def __len__(self) -> int:
        return len(self._queue)

    def pending(self) -> list[K]:
        return list(self._queue)
