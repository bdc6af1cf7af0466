"""The scheduling queue: activeQ, backoffQ and unschedulablePods.

Mirrors ``pkg/scheduler/backend/queue/scheduling_queue.go`` (``PriorityQueue``):

- activeQ: pods ready to be tried, highest ``spec.priority`` first, then first come (``PrioritySort``);
- backoffQ: pods that failed and wait out their back-off (1 s doubling per attempt up to 10 s);
- unschedulablePods: pods no node fits; a cluster event that could change that (a node added or
  updated, an assigned pod deleted) moves them to backoffQ, or to activeQ if their back-off is over;
  after 5 minutes they are retried anyway.

If such an event arrives while a pod is being scheduled (``moveRequestCycle``), a failure of that
pod goes to backoffQ instead, so the event is not lost. :meth:`pop` waits at the scheduler's
:class:`~labkit.workqueue.Gate`. Left out: per-plugin queueing hints (every event moves every
unschedulable pod), PreEnqueue and scheduling gates, the nominator.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.scheduler.types import PodInfo
from labkit.workqueue import Gate

log = logging.getLogger(__name__)
INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_IN_UNSCHEDULABLE_PODS = 300.0  # podMaxInUnschedulablePodsDuration


class QueuedPodInfo:
    """A pod in the queue, with its attempt count and timestamps."""

    __slots__ = ("pod_info", "timestamp", "initial_attempt_timestamp", "attempts", "unschedulable_plugins")

    def __init__(self, pod_info: PodInfo, now: float) -> None:
        self.pod_info = pod_info
        self.timestamp = now  # when it last entered the queue (or failed)
        self.initial_attempt_timestamp = now
        self.attempts = 0
        self.unschedulable_plugins: set[str] = set()

    @property
    def key(self) -> str:
        return self.pod_info.key

    def __repr__(self) -> str:
        return f"<QueuedPodInfo {self.key} attempts={self.attempts}>"


class SchedulingQueue:
    def __init__(self, *, gate: Gate, initial_backoff: float = INITIAL_BACKOFF, max_backoff: float = MAX_BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.gate = gate
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.clock = clock
        self._seq = itertools.count()
        self.active: dict[str, QueuedPodInfo] = {}
        self._active_heap: list[tuple[int, float, int, str]] = []
        self.backoff: dict[str, QueuedPodInfo] = {}
        self._backoff_heap: list[tuple[float, int, str]] = []
        self.unschedulable: dict[str, QueuedPodInfo] = {}
        self.in_flight: dict[str, QueuedPodInfo] = {}
        self.scheduling_cycle = 0
        self.move_request_cycle = -1
        self._ready = asyncio.Event()

    # --- adding ------------------------------------------------------------------------------------

    def add(self, pod: Obj) -> None:
        """A new pending pod (informer add)."""
        qpi = QueuedPodInfo(PodInfo(pod), self.clock())
        self._remove_everywhere(qpi.key)
        self._push_active(qpi)

    def update(self, pod: Obj, *, requeue: bool = True) -> None:
        """A pending pod changed: refresh it wherever it waits; with ``requeue`` (a change beyond its
        status) an unschedulable one may fit now, so it is tried again."""
        key = f"{pod['metadata'].get('namespace', '')}/{pod['metadata']['name']}"
        for where in (self.active, self.backoff, self.in_flight, self.unschedulable):
            if key in where:
                where[key].pod_info = PodInfo(pod)
                if requeue and where is self.unschedulable:
                    self._requeue(self.unschedulable.pop(key))
                return
        if requeue:
            self.add(pod)

    def delete(self, key: str) -> None:
        self._remove_everywhere(key)
        self.in_flight.pop(key, None)

    def _remove_everywhere(self, key: str) -> None:
        self.active.pop(key, None)  # heap entries of removed pods are skipped when popped
        self.backoff.pop(key, None)
        self.unschedulable.pop(key, None)

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        self.active[qpi.key] = qpi
        heapq.heappush(self._active_heap, (-qpi.pod_info.priority, qpi.timestamp, next(self._seq), qpi.key))
        self._ready.set()

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        self.backoff[qpi.key] = qpi
        heapq.heappush(self._backoff_heap, (self.backoff_expiry(qpi), next(self._seq), qpi.key))

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        return min(self.initial_backoff * 2 ** max(qpi.attempts - 1, 0), self.max_backoff)

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def _requeue(self, qpi: QueuedPodInfo) -> None:
        if self.backoff_expiry(qpi) > self.clock():
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    # --- popping -----------------------------------------------------------------------------------

    async def pop(self) -> QueuedPodInfo:
        """The next pod to schedule, once the gate lets the scheduler take one."""
        while True:
            await self._wait_for_active()
            await self.gate.wait_turn()
            qpi = self._pop_active()
            if qpi is not None:
                return qpi

    async def _wait_for_active(self) -> None:
        while not self.active:
            self._ready.clear()
            await self._ready.wait()

    def _pop_active(self) -> QueuedPodInfo | None:
        while self._active_heap:
            *_, key = heapq.heappop(self._active_heap)
            qpi = self.active.pop(key, None)
            if qpi is not None:
                qpi.attempts += 1
                self.scheduling_cycle += 1
                self.in_flight[key] = qpi
                return qpi
        return None

    def done(self, key: str) -> None:
        """The pod's cycle ended (bound, or handed back with :meth:`add_unschedulable`)."""
        self.in_flight.pop(key, None)

    def add_unschedulable(self, qpi: QueuedPodInfo, pod_scheduling_cycle: int, *, error: bool = False) -> None:
        """``AddUnschedulableIfNotPresent``: a failed pod goes back, to wait for an event or its back-off."""
        if self.in_flight.pop(qpi.key, None) is None:
            return  # deleted while it was being scheduled
        qpi.timestamp = self.clock()
        if error or self.move_request_cycle >= pod_scheduling_cycle:
            self._push_backoff(qpi)
        else:
            self.unschedulable[qpi.key] = qpi

    # --- events and timers -------------------------------------------------------------------------

    def move_all_to_active_or_backoff(self, event: str, *, plugins: frozenset[str] | None = None) -> None:
        """A cluster event (``event`` names it) that may make unschedulable pods schedulable: all of
        them, or (``plugins``) those some of these plugins rejected."""
        moved = [q for q in self.unschedulable.values() if plugins is None or q.unschedulable_plugins & plugins]
        for qpi in moved:
            del self.unschedulable[qpi.key]
            self._requeue(qpi)
        if moved:
            log.debug("%s moved %d unschedulable pods", event, len(moved))
        self.move_request_cycle = self.scheduling_cycle

    def flush_backoff_completed(self) -> None:
        now = self.clock()
        while self._backoff_heap and self._backoff_heap[0][0] <= now:
            *_, key = heapq.heappop(self._backoff_heap)
            qpi = self.backoff.pop(key, None)
            if qpi is not None:
                self._push_active(qpi)

    def flush_unschedulable_left_over(self) -> None:
        now = self.clock()
        for key, qpi in list(self.unschedulable.items()):
            if now - qpi.timestamp > MAX_IN_UNSCHEDULABLE_PODS:
                del self.unschedulable[key]
                self._requeue(qpi)

    def pending(self) -> dict[str, list[str]]:
        """Pod keys in each sub-queue (for learners and tests)."""
        active = sorted(self.active.values(), key=lambda q: (-q.pod_info.priority, q.timestamp))
        return {"active": [q.key for q in active], "backoff": sorted(self.backoff),
                "unschedulable": sorted(self.unschedulable)}

    def __len__(self) -> int:
        return len(self.active) + len(self.backoff) + len(self.unschedulable)
