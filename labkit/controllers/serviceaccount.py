"""The service account controller: a ``default`` ServiceAccount in every namespace
(``pkg/controller/serviceaccount``, ``ServiceAccountsController``). Re-created if deleted; nothing is
done in a Terminating namespace. Left out: the legacy token Secrets controller.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller

DEFAULT = "default"


class ServiceAccountsController(Controller):
    name = "service-account-controller"
    resource = "namespaces"

    def register(self) -> None:
        self.informer("v1", "namespaces").add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.informer("v1", "serviceaccounts").add_handlers(on_delete=self._sa_deleted)

    def _sa_deleted(self, sa: Obj) -> None:
        if sa["metadata"]["name"] == DEFAULT:
            self.queue.add(sa["metadata"]["namespace"])

    async def sync(self, key: str) -> None:
        ns = self.informer("v1", "namespaces").get(key)
        terminating = ((ns or {}).get("status") or {}).get("phase") == "Terminating"
        if ns is None or ns["metadata"].get("deletionTimestamp") or terminating:
            return
        if self.informer("v1", "serviceaccounts").get(f"{key}/{DEFAULT}") is not None:
            return
        try:
            await self.client.create(resource_path("v1", "serviceaccounts", namespace=key),
                                     {"apiVersion": "v1", "kind": "ServiceAccount",
                                      "metadata": {"name": DEFAULT, "namespace": key}})
        except APIStatusError as e:
            # AlreadyExists, or a namespace now terminating (kube: the NamespaceTerminating cause of a 403)
            if e.code not in (403, 409):
                raise
