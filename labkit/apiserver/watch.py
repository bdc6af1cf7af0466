"""Watch: turn the store's event stream into Kubernetes watch events for every client.

Mirrors ``k8s.io/apiserver/pkg/storage/cacher``: one store watch per resource (the *watch cache*)
decodes each change once and fans it out to every client watching that resource; each client filters
by its selectors (an object that stops matching is sent as ``DELETED``, one that starts matching as
``ADDED``, as ``etcd3/watcher.go`` does) and the serialized event line is shared by all clients that
receive the same event. A watch from an unset or ``"0"`` resourceVersion first sends ``ADDED`` for every
existing object.

The cache keeps a window of recent events sized as ``watch_cache.go`` sizes it: its capacity starts at
100 events and stays between 100 and 100 × 1024; when an event arrives at a full window it doubles if
the oldest event kept is younger than the freshness duration (75 s, kube-apiserver's default: a
bookmark interval plus 15 s) and halves if even the newest quarter's oldest event is older than that.
A watch from a resourceVersion the window reaches back to streams from the window; once the window
has dropped an event, one from before it gets an ``ERROR`` event with ``410 Expired`` ("too old
resource version: RV (first kept − 1)"), as from kube's watch cache — how clients learn to relist.
Left out: kube starts every cache when the server starts, by a list; labkit starts a resource's cache
at its first watch, so until the window first drops an event a watch from before that start is
replayed from the store's history (``410 Expired`` if the store has compacted it), standing for what
kube's cache would have kept since its list. Also left out: ``--watch-cache-sizes``, a longer
history window for a raised ``--request-timeout``, and the watch cache's copy of the objects
(lists read the store).

Live events are pushed: one fan-out task per resource writes each change to every watcher in turn
(the cacher's ``dispatchEvent``), so a hundred watchers cost a hundred writes, not a hundred task
wake-ups. A watcher first catches up on its own (initial objects, then the backlog) while the
fan-out buffers what arrives meanwhile. Watchers whose field selector pins the resource's trigger
field (``spec.nodeName`` for pods, ``metadata.name`` otherwise) are indexed by its value, as the
cacher's ``indexedTrigger`` does: a change reaches only the watchers of its old and new value (and the
unindexed ones), so a thousand kubelets do not each look at every pod.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from labkit import codec
from labkit import store as kv
from labkit.apimachinery.meta import Obj
from labkit.apiserver import errors
from labkit.apiserver.storage import Registry, decode

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
EVENT_FRESH_DURATION = 75.0  # seconds of events the window sizes itself to keep (kube's eventFreshDuration)
LOWER_BOUND_CAPACITY = 100  # the window's least (and first) capacity, in events
UPPER_BOUND_CAPACITY = 100 * 1024  # and its greatest
BACKLOG_LIMIT = 256 * 1024  # unsent bytes after which a watcher counts as not keeping up
FRESHNESS_WAIT = 3.0  # seconds a watch from a revision the store has not seen yet waits for it (kube's 3 s)
OffLoop = Callable[..., Awaitable[Any]]


class Change:
    """One store event, decoded once: the new object (``None`` for a delete) and the previous one."""

    __slots__ = ("revision", "new", "old", "triggers", "recorded", "_lines")

    def __init__(self, revision: int, new: Obj | None, old: Obj | None, triggers: frozenset[str] = frozenset()) -> None:
        self.revision = revision
        self.new = new
        self.old = old
        self.triggers = triggers  # the trigger field's values in the old and the new object
        self.recorded = 0.0  # when the watch cache took it in (its clock's seconds)
        self._lines: dict[str, bytes] = {}

    def line(self, kind: str, obj: Obj) -> bytes:
        """The JSON watch event line, serialized once per event type and shared by every watcher."""
        cached = self._lines.get(kind)
        if cached is None:
            cached = self._lines[kind] = codec.dumps({"type": kind, "object": obj}) + b"\n"
        return cached

    def for_watcher(self, matches: Callable[[Obj], bool]) -> tuple[str, Obj] | None:
        """What one watcher with this filter sees of the change, if anything."""
        old_ok = self.old is not None and matches(self.old)
        if self.new is None:
            return ("DELETED", self.old) if old_ok and self.old is not None else None
        if matches(self.new):
            return ("MODIFIED" if old_ok else "ADDED", self.new)
        return ("DELETED", self.new) if old_ok else None


def _decode_events(events: Sequence[kv.Event], registry: Registry) -> list[Change]:
    out = []
    for ev in events:
        rev = ev.kv.mod_revision
        old = registry.typed(decode(ev.prev_kv)) if ev.prev_kv else None
        new = None if ev.type == "DELETE" else registry.typed(decode(ev.kv))
        if new is None and old is not None:
            old["metadata"]["resourceVersion"] = str(rev)
        out.append(Change(rev, new, old, frozenset(registry.trigger_value(o) for o in (old, new) if o is not None)))
    return out


Send = Callable[[str, Obj, "Change | None"], Coroutine[Any, Any, None]]


class Watcher:
    """One client's watch: its filter, the last revision it has, and how to send it an event."""

    def __init__(self, wanted: Callable[[Obj], bool], send: Send, *, allow_bookmarks: bool,
                 backed_up: Callable[[], bool] = lambda: False, trigger: str | None = None) -> None:
        self.wanted = wanted
        self.trigger = trigger  # the trigger field's value this watcher's selector requires, if any
        self.send = send
        self.backed_up = backed_up
        self.allow_bookmarks = allow_bookmarks
        self.last = 0
        self.live = False  # False while catching up: the fan-out buffers instead of sending
        self.buffer: list[list[Change]] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def deliver(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.revision <= self.last:
                continue
            self.last = change.revision
            seen = change.for_watcher(self.wanted)
            if seen is not None:
                await self.send(seen[0], seen[1], change)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


class WatchCache:
    """The shared store watch of one resource, the window of recent changes, and the fan-out."""

    def __init__(self, registry: Registry, *, bookmark_interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.bookmark_interval = bookmark_interval
        self.clock = clock
        self.capacity = LOWER_BOUND_CAPACITY
        self.window: collections.deque[Change] = collections.deque()
        self.start_revision = 0  # the store's revision when the cache started (kube's listResourceVersion)
        self.evicted = False  # whether the window has dropped a change since (kube's removedEventSinceRelist)
        self.watchers: set[Watcher] = set()  # the unindexed ones
        self.triggered: dict[str, set[Watcher]] = {}  # the indexed ones, by trigger value
        self.dispatched = 0  # the revision of the last change handed to the fan-out
        self._incoming: asyncio.Queue[list[Change]] = asyncio.Queue()
        self._handle: kv.WatchHandle | None = None
        self._fanout: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def start(self) -> None:
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        store = self.registry.store
        self.start_revision = store.revision
        self._handle = store.watch(self.registry.resource.key_prefix(), self._on_events, prefix=True,
                                   start_revision=self.start_revision + 1)
        self._fanout = self._loop.create_task(self._fan_out())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._fanout is not None:
            self._fanout.cancel()
            self._fanout = None

    def _on_events(self, events: Sequence[kv.Event]) -> None:
        changes = _decode_events(events, self.registry)
        if threading.get_ident() == self._loop_thread:
            self._dispatch(changes)
        else:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._dispatch, changes)

    def _dispatch(self, changes: list[Change]) -> None:
        now = self.clock()
        for change in changes:
            change.recorded = now
            self._resize(now)
            if len(self.window) == self.capacity:
                self.window.popleft()
                self.evicted = True
            self.window.append(change)
        self._incoming.put_nowait(changes)

    def _resize(self, now: float) -> None:
        """Before a change goes into a full window: double it while it holds less than the freshness
        duration of history, halve it once its newest quarter is older than that."""
        if len(self.window) < self.capacity:
            return
        if now - self.window[0].recorded < EVENT_FRESH_DURATION:
            self.capacity = min(self.capacity * 2, UPPER_BOUND_CAPACITY)
        elif now - self.window[-(self.capacity // 4)].recorded > EVENT_FRESH_DURATION:
            self.capacity = max(self.capacity // 2, LOWER_BOUND_CAPACITY)
            while len(self.window) > self.capacity:
                self.window.popleft()

    def add(self, w: Watcher) -> None:
        """From now on the fan-out hands ``w`` its changes (buffered until it is live)."""
        if w.trigger is None:
            self.watchers.add(w)
        else:
            self.triggered.setdefault(w.trigger, set()).add(w)

    def discard(self, w: Watcher) -> None:
        if w.trigger is None:
            self.watchers.discard(w)
        elif (same := self.triggered.get(w.trigger)) is not None:
            same.discard(w)
            if not same:
                del self.triggered[w.trigger]

    def _targets(self, changes: list[Change]) -> list[tuple[Watcher, list[Change]]]:
        """Each watcher with the changes it may see: all of them, or those of its trigger value."""
        targets = [(w, changes) for w in self.watchers]
        if self.triggered:
            indexed: dict[Watcher, list[Change]] = {}
            for change in changes:
                for value in change.triggers:
                    for w in self.triggered.get(value, ()):
                        mine = indexed.setdefault(w, [])
                        if not mine or mine[-1] is not change:
                            mine.append(change)
            targets.extend(indexed.items())
        return targets

    async def _fan_out(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.bookmark_interval):
                    changes = await self._incoming.get()
            except TimeoutError:
                for w in [*self.watchers, *(w for ws in self.triggered.values() for w in ws)]:
                    if w.live and w.allow_bookmarks:  # everything up to ``dispatched`` has reached it
                        w.last = max(w.last, self.dispatched)
                        await self._send(w, w.send("BOOKMARK", bookmark(self.registry, w.last), None))
                continue
            self.dispatched = changes[-1].revision
            for w, theirs in self._targets(changes):
                if w.live:
                    await self._send(w, w.deliver(theirs))
                else:
                    w.buffer.append(theirs)

    async def _send(self, w: Watcher, sending: Coroutine[Any, Any, None]) -> None:
        """One watcher's share of the fan-out. A client that stops reading would hold everyone up, so
        once its unsent bytes pile up its watch is closed (it will re-watch), as the cacher does."""
        if w.backed_up():
            sending.close()
            self.discard(w)
            w.fail(ConnectionError("the watcher does not keep up with its events"))
            return
        try:
            await sending
        except Exception as e:  # noqa: BLE001 - a gone client ends its own watch only
            self.discard(w)
            w.fail(e)

    def since(self, revision: int) -> list[Change] | None:
        """The changes after ``revision`` from the window; None for a revision from before the cache
        started while the window still holds everything since (the store's history has those). Raises
        410 Expired for one from before the window once it has dropped a change."""
        if self.evicted:
            if revision < (oldest := self.window[0].revision) - 1:
                raise errors.gone(f"too old resource version: {revision} ({oldest - 1})")
        elif revision < self.start_revision:
            return None
        return [c for c in self.window if c.revision > revision]


def bookmark(registry: Registry, revision: int, *, initial_events_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(revision)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": registry.resource.kind, "apiVersion": registry.resource.group_version, "metadata": meta}


def _store_history(registry: Registry, prefix: str, start: int) -> list[Change]:
    """Changes from ``start`` on, replayed from the store's history (from before the cache started)."""
    replayed: list[kv.Event] = []
    handle = registry.store.watch(prefix, replayed.extend, prefix=True, start_revision=start)
    handle.cancel()
    return _decode_events(replayed, registry)


async def _until_fresh(store: kv.Store, revision: int) -> None:
    """Wait until this server's store has seen ``revision`` (a list answered by another API server of
    an HA control plane may be ahead of it), ``FRESHNESS_WAIT`` seconds at most, as kube's watch cache
    waits before answering "Too large resource version"."""
    deadline = time.monotonic() + FRESHNESS_WAIT
    while revision > store.revision:
        if time.monotonic() >= deadline:
            raise errors.too_large_resource_version(revision, store.revision, 1)
        await asyncio.sleep(0.01)


async def watch(cache: WatchCache, namespace: str, send: Send, *, matches: Callable[[Obj], bool],
                resource_version: str, send_initial_events: bool | None, allow_bookmarks: bool,
                off_loop: OffLoop, backed_up: Callable[[], bool] = lambda: False, trigger: str | None = None) -> None:
    """Serve one watch through ``send`` until the client goes away (or the caller cancels). Raises
    :class:`ApiError` (410, 504) before anything is sent when the resourceVersion cannot be served.
    ``trigger``: the trigger field's value ``matches`` requires, if it requires one. ``off_loop``: how
    the server makes a call that reads the store (a range, a history replay from etcd)."""
    registry = cache.registry
    store = registry.store
    cache.start()
    prefix = registry.resource.key_prefix(namespace or None)
    in_namespace = (lambda obj: obj["metadata"].get("namespace") == namespace) if namespace else (lambda obj: True)
    w = Watcher(lambda obj: in_namespace(obj) and matches(obj), send, allow_bookmarks=allow_bookmarks,
                backed_up=backed_up, trigger=trigger)
    cache.add(w)  # from now on the fan-out buffers this watcher's changes
    try:
        initial: list[Obj] = []
        if send_initial_events or (send_initial_events is None and resource_version in ("", "0")):
            page = await off_loop(functools.partial(store.range, prefix, prefix=True))
            initial = [registry.typed(decode(item)) for item in page.kvs]
            last = page.revision
        elif resource_version in ("", "0"):  # sendInitialEvents=false: changes from now on only
            last = store.revision
        else:
            last = int(resource_version)
            await _until_fresh(store, last)
        backlog = cache.since(last)
        if backlog is None:
            try:
                backlog = await off_loop(_store_history, registry, prefix, last + 1)
            except kv.Compacted as e:
                raise errors.gone(f"too old resource version: {last} ({e.compacted})") from None
        for obj in initial:
            if w.wanted(obj):
                await send("ADDED", obj, None)
        w.last = last
        if send_initial_events:
            await send("BOOKMARK", bookmark(registry, last, initial_events_end=True), None)
        await w.deliver(backlog)
        while w.buffer:  # what the fan-out held back while this watcher caught up
            await w.deliver(w.buffer.pop(0))
        w.live = True
        await w.done
    finally:
        cache.discard(w)
