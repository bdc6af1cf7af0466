"""The trace: every API request and every watch event delivered, in order, for the widgets to read.

kube-apiserver has audit logs (``k8s.io/apiserver/pkg/audit``) and request metrics; this is the
teaching equivalent: a bounded in-memory ring of plain records with monotonic timestamps. Writers
append from the API server's event loop; readers (widgets, notebooks) take snapshots from any thread.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRecord:
    """One API request, as the audit log's ResponseComplete stage would show it."""

    seq: int
    t: float  # time.monotonic() when the request arrived
    user: str
    verb: str  # Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection
    resource: str  # plural, "pods/status" style for subresources; the path for non-resource URLs
    namespace: str
    name: str
    code: int
    latency_ms: float
    revision: int = 0  # store revision this request wrote (0 = wrote nothing)
    user_agent: str = ""
    server: str = ""  # the control-plane member whose API server answered (HA clusters)
    kind: str = "request"


@dataclasses.dataclass(frozen=True, slots=True)
class WatchEventRecord:
    """One watch event delivered to one watcher."""

    seq: int
    t: float
    user: str  # who was watching
    resource: str
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
    namespace: str
    name: str
    revision: int
    kind: str = "watch"


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What a component decided about one object, appended by the component itself (a controller's
    reconcile, a kubelet's runtime call), so a notebook can show *why* the next request was sent."""

    seq: int
    t: float
    component: str  # Component.name: "kubelet-node-1", "replicaset-controller"
    resource: str  # plural of the object decided about
    namespace: str
    name: str
    summary: str  # one line for people: "RunPodSandbox", "scale up web-7d9f8 to 3"
    data: dict[str, Any] = dataclasses.field(default_factory=dict)  # JSON-able details
    kind: str = "decision"


Record = RequestRecord | WatchEventRecord | DecisionRecord


class Trace:
    """A bounded, thread-safe ring of records with subscribers."""

    def __init__(self, maxlen: int = 20_000) -> None:
        # requests and watch events are kept apart, so a fan-out to many watchers cannot push the
        # requests that caused it out of the ring
        self._requests: collections.deque[Record] = collections.deque(maxlen=maxlen)
        self._watch_events: collections.deque[Record] = collections.deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[Record], None]] = []

    def request(self, **fields: Any) -> RequestRecord:
        return self._add(RequestRecord, fields)

    def watch_event(self, **fields: Any) -> WatchEventRecord:
        return self._add(WatchEventRecord, fields)

    def decision(self, **fields: Any) -> DecisionRecord:
        return self._add(DecisionRecord, fields)

    def _add(self, cls: type, fields: dict[str, Any]) -> Any:
        with self._lock:
            record = cls(seq=next(self._seq), t=fields.pop("t", None) or time.monotonic(), **fields)
            (self._watch_events if record.kind == "watch" else self._requests).append(record)
            subscribers = list(self._subscribers)
        for fn in subscribers:
            fn(record)
        return record

    def subscribe(self, fn: Callable[[Record], None]) -> Callable[[], None]:
        """Call ``fn`` with every new record (from the writer's thread); returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def records(self, *, since: int = 0) -> list[Record]:
        """A snapshot of the records with ``seq > since``."""
        with self._lock:
            merged = heapq.merge(self._requests, self._watch_events, key=lambda r: r.seq)
            return [r for r in merged if r.seq > since]

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records())

    def __len__(self) -> int:
        return len(self._requests) + len(self._watch_events)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._watch_events.clear()
