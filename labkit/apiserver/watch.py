"""Watch: turn the store's event stream into Kubernetes watch events for every client.

Mirrors ``k8s.io/apiserver/pkg/storage/cacher``: one store watch per resource (the *watch cache*)
decodes each change once and fans it out to every client watching that resource; each client filters
by its selectors (an object that stops matching is sent as ``DELETED``, one that starts matching as
``ADDED``, as ``etcd3/watcher.go`` does) and the serialized event line is shared by all clients that
receive the same event. The cache keeps a window of recent events, so a client resuming from a recent
``resourceVersion`` is served from memory; an older one is replayed from the store's history, and one
older than the store's compaction gets an ``ERROR`` event with ``410 Expired`` — how clients learn to
relist. A watch from an unset or ``"0"`` resourceVersion first sends ``ADDED`` for every existing object.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from labkit import store as kv
from labkit.apiserver import errors
from labkit.apiserver.storage import Registry, decode

Obj = dict[str, Any]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
WINDOW = 4096  # events the watch cache keeps (kube-apiserver's default watch cache size is 100+)


class Change:
    """One store event, decoded once: the new object (``None`` for a delete) and the previous one."""

    __slots__ = ("revision", "new", "old", "_lines")

    def __init__(self, revision: int, new: Obj | None, old: Obj | None) -> None:
        self.revision = revision
        self.new = new
        self.old = old
        self._lines: dict[str, bytes] = {}

    def line(self, kind: str, obj: Obj) -> bytes:
        """The JSON watch event line, serialized once per event type and shared by every watcher."""
        cached = self._lines.get(kind)
        if cached is None:
            cached = self._lines[kind] = json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"
        return cached

    def for_watcher(self, matches: Callable[[Obj], bool]) -> tuple[str, Obj] | None:
        """What one watcher with this filter sees of the change, if anything."""
        old_ok = self.old is not None and matches(self.old)
        if self.new is None:
            return ("DELETED", self.old) if old_ok else None  # type: ignore[return-value]
        if matches(self.new):
            return ("MODIFIED" if old_ok else "ADDED", self.new)
        return ("DELETED", self.new) if old_ok else None


def _decode_events(events: Sequence[kv.Event], registry: Registry) -> list[Change]:
    out = []
    for ev in events:
        rev = ev.kv.mod_revision
        old = registry.typed(decode(ev.prev_kv)) if ev.prev_kv else None
        if ev.type == "DELETE":
            if old is not None:
                old["metadata"]["resourceVersion"] = str(rev)
            out.append(Change(rev, None, old))
        else:
            out.append(Change(rev, registry.typed(decode(ev.kv)), old))
    return out


class WatchCache:
    """The shared store watch of one resource and the window of recent changes."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.window: collections.deque[Change] = collections.deque(maxlen=WINDOW)
        self.floor = 0  # every change with revision > floor is in the window
        self._queues: set[asyncio.Queue[list[Change] | None]] = set()
        self._handle: kv.WatchHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def start(self) -> None:
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        store = self.registry.store
        self.floor = store.revision
        self._handle = store.watch(self.registry.resource.key_prefix(), self._on_events, prefix=True,
                                   start_revision=self.floor + 1)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _on_events(self, events: Sequence[kv.Event]) -> None:
        changes = _decode_events(events, self.registry)
        if threading.get_ident() == self._loop_thread:
            self._dispatch(changes)
        else:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._dispatch, changes)

    def _dispatch(self, changes: list[Change]) -> None:
        overflow = len(self.window) + len(changes) > WINDOW
        self.window.extend(changes)
        if overflow:  # everything after the oldest kept revision is still here
            self.floor = max(self.floor, self.window[0].revision)
        for queue in self._queues:
            queue.put_nowait(changes)

    def subscribe(self) -> asyncio.Queue[list[Change] | None]:
        """A queue of change batches (``None`` is a watcher's own bookmark tick)."""
        queue: asyncio.Queue[list[Change] | None] = asyncio.Queue()
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[list[Change] | None]) -> None:
        self._queues.discard(queue)

    def since(self, revision: int) -> list[Change] | None:
        """The changes after ``revision`` from the window, or None if the window no longer reaches back."""
        if revision < self.floor:
            return None
        return [c for c in self.window if c.revision > revision]


def bookmark(registry: Registry, revision: int, *, initial_events_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(revision)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": registry.resource.kind, "apiVersion": registry.resource.group_version, "metadata": meta}


async def _store_history(registry: Registry, prefix: str, start: int) -> list[Change]:
    """Changes from ``start`` on, replayed from the store's history (older than the cache's window)."""
    replayed: list[kv.Event] = []
    handle = registry.store.watch(prefix, replayed.extend, prefix=True, start_revision=start)
    handle.cancel()
    return _decode_events(replayed, registry)


async def watch(cache: WatchCache, namespace: str, *, matches: Callable[[Obj], bool], resource_version: str,
                send_initial_events: bool | None, allow_bookmarks: bool,
                bookmark_interval: float = 30.0) -> AsyncIterator[tuple[str, Obj, Change | None]]:
    """Yield ``(type, object, change)`` until the consumer stops; ``change`` carries the shared
    serialized line (None for initial and bookmark events). Raises :class:`ApiError` (410) when the
    requested resourceVersion is compacted; the caller renders that as an ERROR event."""
    registry = cache.registry
    store = registry.store
    cache.start()
    queue = cache.subscribe()
    loop = asyncio.get_running_loop()
    ticker: asyncio.TimerHandle | None = None
    try:
        prefix = registry.resource.key_prefix(namespace or None)
        in_namespace = (lambda obj: obj["metadata"].get("namespace") == namespace) if namespace else (lambda obj: True)
        wanted = lambda obj: in_namespace(obj) and matches(obj)  # noqa: E731
        initial: list[Obj] = []
        if send_initial_events or (send_initial_events is None and resource_version in ("", "0")):
            page = store.range(prefix, prefix=True)
            initial = [registry.typed(decode(item)) for item in page.kvs]
            last = page.revision
        else:
            last = int(resource_version)
            if last > store.revision:
                raise errors.timeout(f"Too large resource version: {last}, current: {store.revision}")
            if last + 1 < store.compact_revision:
                raise errors.gone(f"too old resource version: {last} ({store.compact_revision})")
        backlog = cache.since(last)
        if backlog is None:
            try:
                backlog = await _store_history(registry, prefix, last + 1)
            except kv.Compacted as e:
                raise errors.gone(f"too old resource version: {last} ({e.compacted})") from None
        for obj in initial:
            if wanted(obj):
                yield "ADDED", obj, None
        if send_initial_events:
            yield "BOOKMARK", bookmark(registry, last, initial_events_end=True), None
        pending: list[Change] | None = backlog
        while True:
            if pending is None:  # the bookmark tick: nothing happened for a while
                if allow_bookmarks:
                    yield "BOOKMARK", bookmark(registry, last), None
            else:
                for change in pending:
                    if change.revision <= last:
                        continue
                    last = change.revision
                    seen = change.for_watcher(wanted)
                    if seen is not None:
                        yield seen[0], seen[1], change
            if ticker is None or ticker.cancelled():
                ticker = loop.call_later(bookmark_interval, queue.put_nowait, None)
            pending = await queue.get()
            if pending is not None:
                ticker.cancel()
                ticker = None
    finally:
        if ticker is not None:
            ticker.cancel()
        cache.unsubscribe(queue)
