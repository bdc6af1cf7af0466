"""Informers filled from a fake client's objects, synced at once, with no watch.

Mirrors how kube's controller tests use client-go's ``informers.NewSharedInformerFactory`` on a fake
clientset: every informer a controller asks for is a real :class:`labkit.informer.Informer` (its
cache, indexers and handlers are the ones the controller runs with), but :meth:`FakeInformers.start`
fills it by listing the :class:`~labkit.testing.fake.ObjectTracker` directly, tells the handlers
about each object as the first list does, and marks it synced; nothing runs in the background.
After that a cache changes only when a test says so: :meth:`FakeInformers.deliver` hands the
informers every write the tracker saw since (what the watch would have sent, in order), and
:meth:`FakeInformers.add` / :meth:`update` / :meth:`delete` change one cache without the server
(``GetIndexer().Add`` when the handlers are not told, a watch event when they are), for a cache
that is ahead of or behind the API server.

Left out: informers with a namespace, label or field selector (the factory's ``WithNamespace`` and
``WithTweakListOptions``), resync, and a watch that ends (``410 Gone``, relists).
"""

from __future__ import annotations

from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apiserver import resources
from labkit.controllers.base import SharedInformers
from labkit.informer import Informer, key_of
from labkit.testing.fake import FakeClient


def resource_of(obj: Obj) -> tuple[str, str]:
    """``(apiVersion, plural)`` of an object, from its apiVersion and kind."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    res = resources.by_kind(api_version.rpartition("/")[0], kind)
    return api_version, res.plural if res is not None else kind.lower() + "s"


class FakeInformers(SharedInformers):
    """A shared informer factory over a :class:`~labkit.testing.fake.FakeClient`."""

    def __init__(self, client: FakeClient) -> None:
        super().__init__(client)  # type: ignore[arg-type]  # the fake answers all a Client is asked
        self.fake = client
        self._filled: set[tuple[str, str]] = set()

    def get(self, api_version: str, plural: str) -> Informer:
        informer = super().get(api_version, plural)
        if self._filled and (api_version, plural) not in self._filled:  # asked for after start: list it now
            self._fill(api_version, plural, informer)
        return informer

    async def start(self, spawn: Any = None) -> None:
        """``factory.Start`` and ``WaitForCacheSync`` at once: list every informer asked for so far."""
        self.start_now()

    def start_now(self) -> None:
        self.fake.tracker.take_changes()  # what the lists show is not news for a later deliver()
        for (api_version, plural), informer in list(self._informers.items()):
            if (api_version, plural) not in self._filled:
                self._fill(api_version, plural, informer)
        if not self._informers:
            self._filled.add(("", ""))  # started, with nothing to list

    def _fill(self, api_version: str, plural: str, informer: Informer) -> None:
        self._filled.add((api_version, plural))
        kind = self.fake.tracker.kind_of(api_version, plural)
        listed = self.fake.tracker.list(kind, "")
        for obj in listed["items"]:
            informer._put(key_of(obj), obj)
            informer._emit_add(obj)
        informer.resource_version = listed["metadata"]["resourceVersion"]
        informer.synced.set()

    def deliver(self) -> int:
        """Apply every write the tracker saw since the last delivery to the informers of its resource,
        telling their handlers, as the watch would. Returns how many changes reached an informer."""
        delivered = 0
        for change, api_version, plural, obj in self.fake.tracker.take_changes():
            informer = self._informers.get((api_version, plural))
            if informer is None or (api_version, plural) not in self._filled:
                continue  # nobody watches this resource
            delivered += 1
            self._apply(informer, change, obj)
        return delivered

    def _informer_for(self, obj: Obj) -> Informer:
        return self.get(*resource_of(obj))

    def add(self, obj: Obj, *, notify: bool = True) -> None:
        """Put ``obj`` in its informer's cache; ``notify``: tell the handlers, as a watch event would."""
        self._apply(self._informer_for(obj), "ADDED", obj, notify=notify)

    def update(self, obj: Obj, *, notify: bool = True) -> None:
        self._apply(self._informer_for(obj), "MODIFIED", obj, notify=notify)

    def delete(self, obj: Obj, *, notify: bool = True) -> None:
        self._apply(self._informer_for(obj), "DELETED", obj, notify=notify)

    @staticmethod
    def _apply(informer: Informer, change: str, obj: Obj, *, notify: bool = True) -> None:
        key = key_of(obj)
        informer.resource_version = obj["metadata"].get("resourceVersion", informer.resource_version)
        if change == "DELETED":
            old = informer.get(key)
            informer._pop(key)
            if notify and old is not None:
                informer._emit_delete(obj)
            return
        old = informer._put(key, obj)
        if not notify:
            return
        if old is None:
            informer._emit_add(obj)
        else:
            informer._emit_update(old, obj)
