"""The storage object in-use protection controllers (``pkg/controller/volume/pvcprotection`` and
``pvprotection``).

A claim or volume carries the finalizer the ``StorageObjectInUseProtection`` admission plugin gave
it (``kubernetes.io/pvc-protection``, ``kubernetes.io/pv-protection``), so deleting one that is in use
only marks it (``Terminating``). Once it is being deleted, the controller removes the finalizer when:

- a claim: no scheduled pod of its namespace names it in a ``persistentVolumeClaim`` volume
  (``podUsesPVC``: a finished pod that still exists counts, as in kube);
- a volume: it is not ``Bound``.

Left out: the live pod list kube makes when its cache says a claim is unused, generic ephemeral volumes.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.volumeutil import PV_PROTECTION, PVC_PROTECTION
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller, Result
from labkit.informer import Informer


def claims_of(pod: Obj) -> list[str]:
    """The claims a pod's volumes name."""
    return [v["persistentVolumeClaim"].get("claimName", "") for v in pod.get("spec", {}).get("volumes") or []
            if isinstance(v.get("persistentVolumeClaim"), dict)]


async def remove_finalizer(controller: Controller, api_version: str, plural: str, obj: Obj, finalizer: str) -> None:
    meta = obj["metadata"]
    finalizers = [f for f in meta.get("finalizers") or [] if f != finalizer]
    try:
        await controller.client.update(resource_path(api_version, plural, namespace=meta.get("namespace", ""),
                                                     name=meta["name"]),
                                       {**obj, "metadata": {**meta, "finalizers": finalizers}})
    except APIStatusError as e:
        if e.code != 404:
            raise


class PVCProtectionController(Controller):
    name = "persistentvolumeclaim-protection-controller"
    resource = "persistentvolumeclaims"

    @property
    def claims(self) -> Informer:
        return self.informer("v1", "persistentvolumeclaims")

    @property
    def pods(self) -> Informer:
        return self.informer("v1", "pods")

    def register(self) -> None:
        self.claims.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.pods.add_handlers(on_update=lambda _o, p: self._pod_event(p), on_delete=self._pod_event)

    def _pod_event(self, pod: Obj) -> None:
        for claim in claims_of(pod):
            self.queue.add(f"{pod['metadata']['namespace']}/{claim}")

    async def sync(self, key: str) -> Result | None:
        claim = self.claims.get(key)
        if claim is None or not claim["metadata"].get("deletionTimestamp") or \
                PVC_PROTECTION not in (claim["metadata"].get("finalizers") or []):
            return None
        ns, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
        if any(p.get("spec", {}).get("nodeName") and name in claims_of(p) for p in self.pods.list(ns)):
            return None  # in use: a pod's deletion queues the claim again
        await remove_finalizer(self, "v1", "persistentvolumeclaims", claim, PVC_PROTECTION)
        return None


class PVProtectionController(Controller):
    name = "persistentvolume-protection-controller"
    resource = "persistentvolumes"

    @property
    def volumes(self) -> Informer:
        return self.informer("v1", "persistentvolumes")

    def register(self) -> None:
        self.volumes.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))

    async def sync(self, key: str) -> Result | None:
        pv = self.volumes.get(key)
        if pv is None or not pv["metadata"].get("deletionTimestamp") or \
                PV_PROTECTION not in (pv["metadata"].get("finalizers") or []):
            return None
        if (pv.get("status") or {}).get("phase") != "Bound":
            await remove_finalizer(self, "v1", "persistentvolumes", pv, PV_PROTECTION)
        return None

