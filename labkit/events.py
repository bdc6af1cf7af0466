"""Recording Events: how components tell people what they did (``kubectl describe``, ``get events``).

Mirrors ``k8s.io/client-go/tools/record``: the ``EventRecorder`` and its ``EventCorrelator``. An Event
names the object it is about (``involvedObject``), a ``reason`` in CamelCase and a human
``message``. Before an event is written the correlator, as client-go's does,

- *aggregates*: from the tenth event in ten minutes that differs from earlier ones only in its
  message (a ReplicaSet's ``Created pod: ...``), one event says ``(combined from similar events):``
  and the latest message, and counts;
- *deduplicates*: the same event again bumps ``count`` and ``lastTimestamp`` with a PATCH instead of
  creating a new object;
- *filters spam*: a component may send a burst of 25 events about one object, then one every five
  minutes; the rest are dropped.

Events are written through the API server with the component's own identity, in the background,
and a failure to record one never fails the component. Left out: the ``events.k8s.io/v1`` API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import aiohttp

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import now_utc, rfc3339
from labkit.client import APIStatusError, Client, resource_path

log = logging.getLogger(__name__)

LRU_ENTRIES = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
SPAM_BURST = 25
SPAM_QPS = 1 / 300
AGGREGATE_PREFIX = "(combined from similar events): "

K = TypeVar("K")
V = TypeVar("V")


def reference(obj: Obj) -> Obj:
    """An ObjectReference to ``obj`` (``involvedObject``)."""
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": meta["name"],
           "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def _event_name(ref: Obj) -> str:
    """``<object>.<hex nanoseconds>``, as client-go names events."""
    return f"{ref['name']}.{time.time_ns():x}"


class LRU(Generic[K, V]):
    """The bounded caches the correlator keeps (client-go's ``lru.Cache`` of 4096 entries)."""

    def __init__(self, size: int = LRU_ENTRIES) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def add(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)


@dataclass
class _Aggregate:
    messages: set[str]
    last: float


@dataclass
class _Observation:
    """What was last written under a correlation key (client-go's ``eventLog``)."""
    name: str
    count: int
    first_timestamp: str
    write: asyncio.Future[None] | None = None


@dataclass
class _TokenBucket:
    tokens: float
    last: float

    def try_accept(self, now: float) -> bool:
        self.tokens = min(SPAM_BURST, self.tokens + (now - self.last) * SPAM_QPS)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Correlated:
    """The event to write; ``patch`` when it updates an earlier one, whose write is ``after``."""
    event: Obj
    observation: _Observation
    patch: Obj | None = None
    after: asyncio.Future[None] | None = None


class EventCorrelator:
    """Aggregates, deduplicates and spam-filters a component's events before they are written."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._aggregates: LRU[tuple[str, ...], _Aggregate] = LRU()
        self._observations: LRU[tuple[str, ...], _Observation] = LRU()
        self._spam: LRU[tuple[str, ...], _TokenBucket] = LRU()

    def correlate(self, event: Obj) -> Correlated | None:
        """What to write for ``event`` (a new Event object with ``count`` 1), or None to drop it."""
        event, key = self._aggregate(event)
        result = self._observe(event, key)
        if not self._allow(result.event):
            return None
        return result

    def _aggregate(self, event: Obj) -> tuple[Obj, tuple[str, ...]]:
        now = self.clock()
        group = (*_object_key(event), event["type"], event["reason"], event.get("reportingComponent", ""),
                 event.get("reportingInstance", ""))
        record = self._aggregates.get(group)
        if record is None or now - record.last > AGGREGATE_INTERVAL:
            record = _Aggregate(set(), now)
        record.messages.add(event["message"])
        record.last = now
        self._aggregates.add(group, record)
        ref = event["involvedObject"]
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return event, (*_object_key(event), ref.get("fieldPath", ""), event["type"], event["reason"],
                           event["message"])
        record.messages.pop()
        combined = {"metadata": {"name": _event_name(ref), "namespace": event["metadata"]["namespace"]},
                    "involvedObject": ref, "reason": event["reason"], "message": AGGREGATE_PREFIX + event["message"],
                    "type": event["type"], "source": event["source"], "count": 1,
                    "firstTimestamp": event["firstTimestamp"], "lastTimestamp": event["lastTimestamp"]}
        return combined, group

    def _observe(self, event: Obj, key: tuple[str, ...]) -> Correlated:
        last = self._observations.get(key)
        patch = None
        if last is not None:
            event["metadata"]["name"] = last.name
            event["firstTimestamp"] = last.first_timestamp
            event["count"] = last.count + 1
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
        observation = _Observation(event["metadata"]["name"], event["count"], event["firstTimestamp"])
        self._observations.add(key, observation)
        return Correlated(event, observation, patch, last.write if last else None)

    def _allow(self, event: Obj) -> bool:
        now = self.clock()
        key = _object_key(event)
        bucket = self._spam.get(key) or _TokenBucket(SPAM_BURST, now)
        allowed = bucket.try_accept(now)
        self._spam.add(key, bucket)
        return allowed


def _object_key(event: Obj) -> tuple[str, ...]:
    """The source and the object an event is about (client-go's spam key)."""
    source, ref = event["source"], event["involvedObject"]
    return (source.get("component", ""), source.get("host", ""), ref.get("kind", ""), ref.get("namespace", ""),
            ref["name"], ref.get("uid", ""), ref.get("apiVersion", ""))


class EventRecorder:
    """Records Events for one component (``source.component``), optionally on one host."""

    def __init__(self, client: Client, component: str, *, host: str = "", record: bool = True) -> None:
        self.client = client
        self.record = record  # False: drop every event (a KWOK-style simulated node records none)
        self.source: Obj = {"component": component, **({"host": host} if host else {})}
        self.correlator = EventCorrelator()
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, obj: Obj, type: str, reason: str, message: str, *, field_path: str = "") -> None:
        """Record in the background (``Normal`` or ``Warning``); ``field_path``: the part of ``obj`` it is
        about (``spec.containers{web}``). Correlated at once, in the order recorded."""
        if not self.record:
            return
        ref = reference(obj)
        if field_path:
            ref["fieldPath"] = field_path
        now = rfc3339(now_utc())
        body = {"metadata": {"name": _event_name(ref), "namespace": ref.get("namespace", "default")},
                "involvedObject": ref, "reason": reason, "message": message, "type": type, "source": self.source,
                "count": 1, "firstTimestamp": now, "lastTimestamp": now,
                "reportingComponent": self.source["component"], "reportingInstance": self.source.get("host", "")}
        correlated = self.correlator.correlate(body)
        if correlated is None:
            log.debug("event %s on %s dropped by the spam filter", reason, ref["name"])
            return
        task = asyncio.get_running_loop().create_task(self._write(correlated))
        correlated.observation.write = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, correlated: Correlated) -> None:
        event = correlated.event
        meta = event["metadata"]
        try:
            if correlated.patch is not None:
                if correlated.after is not None and not correlated.after.done():
                    await asyncio.wait([correlated.after])
                try:
                    await self.client.patch(resource_path("v1", "events",
                                                          namespace=meta["namespace"], name=meta["name"]),
                                            correlated.patch, patch_type="application/strategic-merge-patch+json")
                    return
                except APIStatusError as e:
                    if e.code != 404:
                        raise
            await self.client.create(resource_path("v1", "events", namespace=meta["namespace"]), event)
        except (APIStatusError, OSError, aiohttp.ClientError) as e:
            log.debug("could not record event %s on %s: %s", event["reason"], event["involvedObject"]["name"], e)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait for the events recorded so far to be written (tests and shutdown); after ``timeout``
        seconds give up on the rest, as events are best effort (a stopping component drops them)."""
        if not self._tasks:
            return
        pending = list(self._tasks)
        _, unsent = await asyncio.wait(pending, timeout=timeout)
        for task in unsent:
            task.cancel()
        if unsent:
            await asyncio.gather(*unsent, return_exceptions=True)
            log.info("%s: %d events dropped at shutdown", self.source["component"], len(unsent))
