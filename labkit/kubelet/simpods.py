"""One pod watch for every simulated node, as KWOK keeps it (``kubernetes-sigs/kwok``, ``pkg/kwok/controllers``).

A real kubelet lists and watches only its own node's pods (``spec.nodeName=NODE``), so a thousand
kubelets hold a thousand watches and make a thousand lists at start. KWOK, which fakes whole clusters
of nodes, holds one watch of the pods bound to any node and hands each pod to the node it is bound to.
:class:`SimPodSource` does that for labkit's large sim clusters: one informer (``spec.nodeName!=``)
under its own identity, and a :class:`NodePods` view per node that the node's kubelet uses in place
of its own informer. The Service cache that gives containers their environment variables is shared
the same way. Everything else (pod workers, status writes, events, leases) stays per kubelet,
with the node's identity.
"""

from __future__ import annotations

import asyncio

from labkit.apimachinery.meta import Obj
from labkit.client import Client
from labkit.component import Component
from labkit.informer import EventHandlers, Informer, key_of


class NodePods(EventHandlers):
    """The pods bound to one node, fed by the shared source; the part of :class:`Informer` a kubelet uses."""

    def __init__(self, source: SimPodSource, node: str) -> None:
        super().__init__()
        self.node = node
        self.source = source
        self.synced = asyncio.Event()  # set once the pods known at start have been handed to the handlers
        self.cache: dict[str, Obj] = {}

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def list(self) -> list[Obj]:
        return list(self.cache.values())

    async def run(self) -> None:
        """The shared source does the watching: once it has listed, hand over the pods known so far
        (as an informer's first list does); from then on its events reach the handlers as they come."""
        await self.source.informer.synced.wait()
        for obj in list(self.cache.values()):
            self._emit_add(obj)
        self.synced.set()
        await asyncio.Event().wait()

    def added(self, obj: Obj) -> None:
        self.cache[key_of(obj)] = obj
        if self.synced.is_set():
            self._emit_add(obj)

    def updated(self, old: Obj, new: Obj) -> None:
        self.cache[key_of(new)] = new
        if self.synced.is_set():
            self._emit_update(old, new)

    def deleted(self, obj: Obj) -> None:
        self.cache.pop(key_of(obj), None)
        if self.synced.is_set():
            self._emit_delete(obj)


class SimPodSource(Component):
    """The shared watch of bound pods, the per-node views it feeds, and a Service cache for all nodes."""

    name = "kwok-controller"

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.informer = Informer(client, "v1", "pods", field_selector="spec.nodeName!=")
        self.services = Informer(client, "v1", "services")
        self.nodes: dict[str, NodePods] = {}
        self.informer.add_handlers(on_add=lambda o: self._to(o, "added", o),
                                   on_update=lambda old, new: self._to(new, "updated", old, new),
                                   on_delete=lambda o: self._to(o, "deleted", o))

    def view(self, node: str) -> NodePods:
        """The pods of ``node`` (made once per node); pods that arrived before it are handed over now."""
        pods = self.nodes.get(node)
        if pods is None:
            pods = self.nodes[node] = NodePods(self, node)
            for obj in self.informer.list():
                if obj["spec"].get("nodeName") == node:
                    pods.cache[key_of(obj)] = obj
        return pods

    def _to(self, obj: Obj, event: str, *args: Obj) -> None:
        pods = self.nodes.get(obj["spec"].get("nodeName", ""))
        if pods is not None:
            getattr(pods, event)(*args)

    async def run(self) -> None:
        self.spawn(self.informer.run(), "pod-informer")
        self.spawn(self.services.run(), "service-informer")
