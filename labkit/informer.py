"""Informers: a local cache of one resource kept current by list + watch, with event handlers.

Mirrors ``k8s.io/client-go/tools/cache`` (``Reflector``, ``Indexer``, ``SharedIndexInformer``,
``ResourceEventHandler``): list to get a consistent snapshot and its resourceVersion, watch from that
resourceVersion, apply every event to the cache and tell the handlers; on ``410 Gone`` list again; on
a dropped connection watch again from the last resourceVersion seen. Components read the cache, never
the API server, on their hot paths; an indexer (``by_index``) finds objects by a computed key, as
controllers find their pods by owner. Left out: resync periods, transformers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from labkit.apimachinery.meta import Obj
from labkit.client import APIStatusError, Client, resource_path

IndexFunc = Callable[[Obj], Iterable[str]]
log = logging.getLogger(__name__)


def key_of(obj: Obj) -> str:
    """``namespace/name`` or ``name``: the key work queues and caches use (``MetaNamespaceKeyFunc``)."""
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


class EventHandlers:
    """The ``ResourceEventHandler`` lists of a cache, and telling them about a change."""

    def __init__(self) -> None:
        self._on_add: list[Callable[[Obj], None]] = []
        self._on_update: list[Callable[[Obj, Obj], None]] = []
        self._on_delete: list[Callable[[Obj], None]] = []

    def add_handlers(self, *, on_add: Callable[[Obj], None] | None = None,
                     on_update: Callable[[Obj, Obj], None] | None = None,
                     on_delete: Callable[[Obj], None] | None = None) -> None:
        if on_add:
            self._on_add.append(on_add)
        if on_update:
            self._on_update.append(on_update)
        if on_delete:
            self._on_delete.append(on_delete)

    def _emit_add(self, obj: Obj) -> None:
        for fn in self._on_add:
            fn(obj)

    def _emit_update(self, old: Obj, new: Obj) -> None:
        for fn in self._on_update:
            fn(old, new)

    def _emit_delete(self, obj: Obj) -> None:
        for fn in self._on_delete:
            fn(obj)


class Informer(EventHandlers):
    """One resource's cache. ``await run()`` in a task; ``await synced.wait()`` before trusting it."""

    def __init__(self, client: Client, api_version: str, plural: str, *, namespace: str = "",
                 label_selector: str = "", field_selector: str = "") -> None:
        super().__init__()
        self.client = client
        self.path = resource_path(api_version, plural, namespace=namespace)
        self.plural = plural
        self._params = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        self.cache: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self.resource_version = ""
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, dict[str, Obj]]] = {}

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def add_indexer(self, name: str, index: IndexFunc) -> None:
        """``AddIndexers``: keep the cached objects findable by the values ``index`` gives each one.
        Adding the same name again keeps the first (controllers sharing an informer each ask)."""
        if name in self._indexers:
            return
        self._indexers[name] = index
        self._indices[name] = {}
        for key, obj in self.cache.items():
            self._index(name, key, obj)

    def by_index(self, name: str, value: str) -> list[Obj]:
        """``ByIndex``: the cached objects whose ``name`` index gives ``value``."""
        return list(self._indices[name].get(value, {}).values())

    def _index(self, name: str, key: str, obj: Obj) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            index.setdefault(value, {})[key] = obj

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, index in self._indices.items():
            for value in self._indexers[name](obj):
                bucket = index.get(value)
                if bucket is not None:
                    bucket.pop(key, None)
                    if not bucket:
                        del index[value]

    def _put(self, key: str, obj: Obj) -> Obj | None:
        """Cache ``obj`` under ``key`` and index it; the object it replaces."""
        old = self.cache.get(key)
        if old is not None:
            self._unindex(key, old)
        self.cache[key] = obj
        for name in self._indices:
            self._index(name, key, obj)
        return old

    def _pop(self, key: str) -> None:
        old = self.cache.pop(key, None)
        if old is not None:
            self._unindex(key, old)

    def list(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self.cache.values())
        return [o for o in self.cache.values() if o["metadata"].get("namespace") == namespace]

    async def run(self) -> None:
        """List and watch forever (until cancelled)."""
        while True:
            try:
                if not self.resource_version:
                    await self._list()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except APIStatusError as e:
                if e.code == 410:  # compacted: the reflector lists again
                    self.resource_version = ""
                    continue
                log.warning("informer %s: %s", self.plural, e)
                await asyncio.sleep(1)
            except Exception as e:  # noqa: BLE001 - a dropped connection: watch again
                log.debug("informer %s watch ended: %s", self.plural, e)
                await asyncio.sleep(0.2)

    async def _list(self) -> None:
        listed = await self.client.get(self.path, **self._params)
        fresh = {key_of(o): o for o in listed["items"]}
        old = self.cache
        self.cache = fresh
        for name in self._indices:
            self._indices[name] = {}
            for key, obj in fresh.items():
                self._index(name, key, obj)
        self.resource_version = listed["metadata"]["resourceVersion"]
        for key, obj in fresh.items():
            if key not in old:
                self._emit_add(obj)
            elif old[key]["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit_update(old[key], obj)
        for key, obj in old.items():
            if key not in fresh:
                self._emit_delete(obj)
        self.synced.set()

    async def _watch(self) -> None:
        async for kind, obj in self.client.watch(self.path, resource_version=self.resource_version, **self._params):
            self.resource_version = obj["metadata"]["resourceVersion"]
            if kind == "BOOKMARK":
                continue
            key = key_of(obj)
            if kind == "DELETED":
                self._pop(key)
                self._emit_delete(obj)
            else:
                old = self._put(key, obj)
                if old is None:
                    self._emit_add(obj)
                else:
                    self._emit_update(old, obj)
