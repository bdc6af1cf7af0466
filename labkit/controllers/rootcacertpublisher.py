"""The root CA publisher: a ``kube-root-ca.crt`` ConfigMap in every namespace
(``pkg/controller/certificates/rootcacertpublisher``).

Pods read it (``ca.crt``) to check that they talk to the real API server. It is created in each new
namespace, put back when deleted, and its ``ca.crt`` restored when changed. Nothing is done in a
namespace being deleted, or without a CA (``--root-ca-file``, :attr:`ControllerManagerConfig.root_ca`).
Left out: the ``kubernetes.io/description`` annotation.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller

NAME = "kube-root-ca.crt"


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"
    resource = "namespaces"

    def register(self) -> None:
        self.informer("v1", "namespaces").add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.informer("v1", "configmaps").add_handlers(on_update=lambda _o, cm: self._configmap_changed(cm),
                                                       on_delete=self._configmap_changed)

    def _configmap_changed(self, cm: Obj) -> None:
        if cm["metadata"]["name"] == NAME:
            self.queue.add(cm["metadata"]["namespace"])

    async def sync(self, key: str) -> None:
        ca = self.config.root_ca
        ns = self.informer("v1", "namespaces").get(key)
        if not ca or ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        path = resource_path("v1", "configmaps", namespace=key)
        cm = self.informer("v1", "configmaps").get(f"{key}/{NAME}")
        try:
            if cm is None:
                await self.client.create(path, {"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": NAME, "namespace": key}, "data": {"ca.crt": ca}})
            elif cm.get("data") != {"ca.crt": ca}:
                await self.client.update(f"{path}/{NAME}", {**cm, "data": {"ca.crt": ca}})
        except APIStatusError as e:
            if e.code not in (403, 409):  # a namespace now terminating, or a cache behind a write: the events come
                raise
