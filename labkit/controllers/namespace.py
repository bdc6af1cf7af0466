"""The namespace controller: empty a Terminating namespace, then finalize it (``pkg/controller/namespace``).

``NamespacedResourcesDeleter``: discover every namespaced resource that supports
``deletecollection``, delete each collection in the namespace, and once nothing is left remove the
``kubernetes`` finalizer with ``PUT /api/v1/namespaces/NAME/finalize``; the API server then removes the
namespace. While content remains (pods in their grace period, finalizers) the key is looked at again.
Left out: the ``NamespaceDeletionContentFailure`` / ``NamespaceContentRemaining`` status conditions.
"""

from __future__ import annotations

from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller, Result

FINALIZER = "kubernetes"


class NamespaceController(Controller):
    name = "namespace-controller"
    watches = [("v1", "namespaces")]

    async def _namespaced_resources(self) -> list[tuple[str, str]]:
        """(groupVersion, plural) of every namespaced resource with ``deletecollection``, from discovery."""
        versions = ["v1"] + [g["preferredVersion"]["groupVersion"] for g in (await self.client.get("/apis"))["groups"]]
        found = []
        for gv in versions:
            listing = await self.client.get("/api/v1" if gv == "v1" else f"/apis/{gv}")
            found += [(gv, r["name"]) for r in listing["resources"]
                      if r.get("namespaced") and "/" not in r["name"] and "deletecollection" in r.get("verbs", [])]
        return found

    async def sync(self, key: str) -> Result | None:
        ns = self.informer("v1", "namespaces").get(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return None
        remaining = 0
        for gv, plural in await self._namespaced_resources():
            path = resource_path(gv, plural, namespace=key)
            try:
                await self.client.delete(path)
                remaining += len((await self.client.get(path))["items"])
            except APIStatusError as e:
                if e.code not in (404, 405):
                    raise
        if remaining:
            return Result(requeue_after=1.0)
        body = {**ns, "spec": {**ns.get("spec", {}),
                               "finalizers": [f for f in ns["spec"]["finalizers"] if f != FINALIZER]}}
        await self.client.update(resource_path("v1", "namespaces", name=key, subresource="finalize"), body)
        return None
