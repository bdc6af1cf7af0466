"""Watch: turn the store's event stream into Kubernetes watch events for one client.

Mirrors ``k8s.io/apiserver/pkg/storage/etcd3/watcher.go`` (a store watch from ``resourceVersion+1``,
events filtered by the client's selectors, an object that stops matching sent as ``DELETED`` and one
that starts matching as ``ADDED``) and the ``sendInitialEvents`` / bookmark protocol of
``k8s.io/apiserver/pkg/storage/cacher``. A watch from an unset or ``"0"`` resourceVersion first sends
``ADDED`` for every existing object. Too old a resourceVersion ends the stream with an ``ERROR``
event carrying a ``410 Expired`` Status, which is how clients learn to relist.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from labkit import store as kv
from labkit.apiserver import errors
from labkit.apiserver.storage import Registry, decode

Obj = dict[str, Any]
WatchEvent = tuple[str, Obj]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _translate(events: Sequence[kv.Event], registry: Registry, matches: Callable[[Obj], bool]) -> list[WatchEvent]:
    out: list[WatchEvent] = []
    for ev in events:
        rev = ev.kv.mod_revision
        old = decode(ev.prev_kv) if ev.prev_kv else None
        old_ok = old is not None and matches(old)
        if ev.type == "DELETE":
            if old_ok:
                assert old is not None
                old["metadata"]["resourceVersion"] = str(rev)
                out.append(("DELETED", registry.typed(old)))
            continue
        new = registry.typed(decode(ev.kv))
        if matches(new):
            out.append(("MODIFIED" if old_ok else "ADDED", new))
        elif old_ok:
            out.append(("DELETED", new))
    return out


def bookmark(registry: Registry, revision: int, *, initial_events_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(revision)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": registry.resource.kind, "apiVersion": registry.resource.group_version, "metadata": meta}


async def watch(registry: Registry, namespace: str, *, matches: Callable[[Obj], bool], resource_version: str,
                send_initial_events: bool | None, allow_bookmarks: bool,
                bookmark_interval: float = 30.0) -> AsyncIterator[WatchEvent]:
    """Yield ``(type, object)`` until the consumer stops. Raises :class:`ApiError` (410) when the
    requested resourceVersion is compacted; the caller renders that as an ERROR event."""
    store = registry.store
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Sequence[kv.Event]] = asyncio.Queue()
    prefix = registry.resource.key_prefix(namespace or None)
    initial: list[Obj] = []
    from_rv = resource_version not in ("", "0")
    if send_initial_events or (send_initial_events is None and not from_rv):
        page = store.range(prefix, prefix=True)
        initial = [registry.typed(decode(item)) for item in page.kvs]
        start = page.revision + 1
    else:
        start = int(resource_version) + 1
    if start - 1 > store.revision:
        raise errors.timeout(f"Too large resource version: {start - 1}, current: {store.revision}")
    try:
        handle = store.watch(prefix, lambda evs: loop.call_soon_threadsafe(queue.put_nowait, evs), prefix=True,
                             start_revision=start)
    except kv.Compacted as e:
        raise errors.gone(f"too old resource version: {start - 1} ({e.compacted})") from None
    try:
        for obj in initial:
            if matches(obj):
                yield "ADDED", obj
        last = start - 1
        if send_initial_events:
            yield "BOOKMARK", bookmark(registry, last, initial_events_end=True)
        while True:
            try:
                events = await asyncio.wait_for(queue.get(), timeout=bookmark_interval)
            except asyncio.TimeoutError:
                if allow_bookmarks:
                    yield "BOOKMARK", bookmark(registry, last)
                continue
            last = events[-1].kv.mod_revision
            for event in _translate(events, registry, matches):
                yield event
    finally:
        handle.cancel()
