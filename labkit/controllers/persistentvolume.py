"""The PersistentVolume binder: claims meet volumes (``pkg/controller/volume/persistentvolume``).

Mirrors ``PersistentVolumeController`` (``pv_controller.go``, "persistentvolume-binder-controller"):

- ``syncClaim``: an unbound claim gets the smallest Available volume that fits it
  (:func:`find_matching_volume`, kube's ``FindMatchingVolume``: same class and volume mode, the access
  modes it asks for, at least its storage request, its selector; a volume pre-bound to the claim by
  ``claimRef`` first). Binding writes ``claimRef`` on the volume and ``volumeName`` plus the
  ``pv.kubernetes.io/bind-completed`` annotation on the claim, then both statuses (``Bound``; the
  claim's capacity and access modes from the volume). No volume: a class with a provisioner gets the
  claim annotated ``volume.kubernetes.io/storage-provisioner`` for an external provisioner (event
  ``ExternalProvisioning``), no class gets ``FailedBinding``. A bound claim whose volume is gone is
  ``Lost``.
- ``syncVolume``: a volume without a claim is ``Available``; one whose claim was deleted is
  ``Released`` and then reclaimed: ``Retain`` keeps it so, ``Delete`` of a dynamically provisioned
  volume is left to its provisioner (as kube does for external provisioners), ``Delete`` or
  ``Recycle`` of any other volume fails as kube's does when no in-tree plugin can (``Failed``).

Left out: ``WaitForFirstConsumer`` binding (the scheduler's VolumeBinding plugin), in-tree provisioning
and deleting plugins, CSI migration, resize, ``lastPhaseTransitionTime``. Claims and volumes share one
queue (keys ``claim:<ns>/<name>`` and ``volume:<name>``) and one worker, so a claim's and its volume's
syncs never race.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labkit.apimachinery.labels import SelectorError, label_selector_from_object
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.volumeutil import (
    BETA_STORAGE_PROVISIONER,
    BIND_COMPLETED,
    BOUND_BY_CONTROLLER,
    CLAIM_KEY,
    PROVISIONED_BY,
    STORAGE,
    STORAGE_PROVISIONER,
    VOLUME_KEY,
    claim_ref,
    object_of_key,
    storage_of,
    volume_class,
)
from labkit.client import resource_path
from labkit.controllers.base import Controller, Result
from labkit.events import EventRecorder
from labkit.informer import Informer, key_of

NO_PROVISIONER = "kubernetes.io/no-provisioner"


def claim_ref_matches(ref: Obj | None, claim: Obj) -> bool:
    """Whether a volume's ``claimRef`` names ``claim`` (its uid too, once set)."""
    meta = claim["metadata"]
    return ref is not None and ref.get("name") == meta["name"] and ref.get("namespace") == meta["namespace"] and \
        (not ref.get("uid") or ref["uid"] == meta["uid"])


def find_matching_volume(claim: Obj, volumes: Iterable[Obj]) -> Obj | None:
    """``FindMatchingVolume`` without node affinity: the volume pre-bound to ``claim``, else the smallest
    unclaimed one that fits it."""
    spec = claim.get("spec", {})
    wanted = storage_of((spec.get("resources") or {}).get("requests"))
    modes = set(spec.get("accessModes") or [])
    try:
        selector = label_selector_from_object(spec["selector"]) if spec.get("selector") else None
    except SelectorError:
        return None  # a claim whose selector does not convert matches no volume
    cls, mode = volume_class(claim), spec.get("volumeMode") or "Filesystem"
    best: Obj | None = None
    for pv in volumes:
        pv_spec = pv.get("spec", {})
        if pv["metadata"].get("deletionTimestamp") or (pv_spec.get("volumeMode") or "Filesystem") != mode:
            continue
        ref = pv_spec.get("claimRef")
        if ref and not claim_ref_matches(ref, claim):
            continue
        size = storage_of(pv_spec.get("capacity"))
        if size < wanted:
            continue
        if ref:  # pre-bound to this claim: kube takes it whatever its phase, labels or class
            return pv
        if (pv.get("status") or {}).get("phase") != "Available":
            continue
        if spec.get("selector") and (selector is None or not selector.matches(pv["metadata"].get("labels") or {})):
            continue
        if volume_class(pv) != cls or not modes <= set(pv_spec.get("accessModes") or []):
            continue
        if best is None or size < storage_of(best["spec"].get("capacity")):
            best = pv
    return best


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder-controller"
    resource = "persistentvolumeclaims"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = EventRecorder(self.client, "persistentvolume-controller")  # its events' source

    @property
    def claims(self) -> Informer:
        return self.informer("v1", "persistentvolumeclaims")

    @property
    def volumes(self) -> Informer:
        return self.informer("v1", "persistentvolumes")

    @property
    def classes(self) -> Informer:
        return self.informer("storage.k8s.io/v1", "storageclasses")

    def register(self) -> None:
        self.claims.add_handlers(on_add=self._claim_event, on_update=lambda _o, n: self._claim_event(n),
                                 on_delete=self._claim_event)
        self.volumes.add_handlers(on_add=self._volume_event, on_update=lambda _o, n: self._volume_event(n),
                                  on_delete=self._volume_event)
        self.classes.add_handlers(on_add=self._unbound_claims)

    def _claim_event(self, claim: Obj) -> None:
        self.queue.add(CLAIM_KEY + key_of(claim))
        if volume := claim.get("spec", {}).get("volumeName"):
            self.queue.add(VOLUME_KEY + volume)

    def _volume_event(self, pv: Obj) -> None:
        self.queue.add(VOLUME_KEY + pv["metadata"]["name"])
        if ref := pv.get("spec", {}).get("claimRef"):
            self.queue.add(f"{CLAIM_KEY}{ref.get('namespace', '')}/{ref.get('name', '')}")
        elif (pv.get("status") or {}).get("phase") == "Available":
            self._unbound_claims()  # kube finds it at its next claim resync (15 s)

    def _unbound_claims(self, _obj: Obj | None = None) -> None:
        """Look at every claim still waiting for a volume (a volume became Available, a class appeared)."""
        for claim in self.claims.list():
            if not claim.get("spec", {}).get("volumeName"):
                self.queue.add(CLAIM_KEY + key_of(claim))

    def object_of(self, key: str) -> tuple[str, str]:
        return object_of_key(key)

    async def sync(self, key: str) -> Result | None:
        if key.startswith(CLAIM_KEY):
            claim = self.claims.get(key.removeprefix(CLAIM_KEY))
            if claim is not None and not claim["metadata"].get("deletionTimestamp"):
                await self._sync_claim(claim)
        else:
            pv = self.volumes.get(key.removeprefix(VOLUME_KEY))
            if pv is not None and not pv["metadata"].get("deletionTimestamp"):
                await self._sync_volume(pv)
        return None

    # --- claims ----------------------------------------------------------------------------------

    async def _sync_claim(self, claim: Obj) -> None:
        annotations = claim["metadata"].get("annotations") or {}
        name = claim.get("spec", {}).get("volumeName", "")
        pv = self.volumes.get(name) if name else None
        if BIND_COMPLETED in annotations:  # syncBoundClaim
            if pv is None:
                await self._claim_lost(claim, "Bound claim has lost reference to PersistentVolume. "
                                              "Data on the volume is lost!")
            elif not claim_ref_matches(pv["spec"].get("claimRef"), claim) or \
                    not pv["spec"]["claimRef"].get("uid"):
                await self._claim_lost(claim, "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            else:
                await self._bind(pv, claim)
            return
        if name:  # syncUnboundClaim: the user (or a provisioner) chose the volume
            if pv is None:
                await self._claim_phase(claim, "Pending")
            elif pv["spec"].get("claimRef") and not claim_ref_matches(pv["spec"]["claimRef"], claim):
                self.recorder.event(claim, "Warning", "FailedBinding",
                                    f'volume "{name}" already bound to a different claim.')
                await self._claim_phase(claim, "Pending")
            else:
                await self._bind(pv, claim)
            return
        pv = find_matching_volume(claim, self.volumes.list())
        if pv is not None:
            await self._bind(pv, claim)
            return
        await self._no_volume(claim)
        await self._claim_phase(claim, "Pending")

    async def _no_volume(self, claim: Obj) -> None:
        """No volume fits: ask a provisioner for one, or say why none will come."""
        cls = volume_class(claim)
        if not cls:
            self.recorder.event(claim, "Normal", "FailedBinding",
                                "no persistent volumes available for this claim and no storage class is set")
            return
        sc = self.classes.get(cls)
        if sc is None:
            self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                f'storageclass.storage.k8s.io "{cls}" not found')
            return
        provisioner = sc.get("provisioner", "")
        if provisioner == NO_PROVISIONER:
            self.recorder.event(claim, "Normal", "FailedBinding",
                                "no persistent volumes available for this claim and no storage class is set")
            return
        annotations = claim["metadata"].get("annotations") or {}
        if annotations.get(STORAGE_PROVISIONER) != provisioner:
            meta = claim["metadata"]
            claim = await self.client.patch(
                resource_path("v1", "persistentvolumeclaims", namespace=meta["namespace"], name=meta["name"]),
                {"metadata": {"annotations": {STORAGE_PROVISIONER: provisioner,
                                              BETA_STORAGE_PROVISIONER: provisioner}}})
        self.recorder.event(claim, "Normal", "ExternalProvisioning",
                            f"Waiting for a volume to be created either by the external provisioner '{provisioner}' "
                            "or manually by the system administrator. If volume creation is delayed, please verify "
                            "that the provisioner is running and correctly registered.")

    async def _claim_lost(self, claim: Obj, message: str) -> None:
        if (claim.get("status") or {}).get("phase") != "Lost":
            self.recorder.event(claim, "Warning", "ClaimLost", message)
        await self._claim_phase(claim, "Lost")

    async def _claim_phase(self, claim: Obj, phase: str, **status: Any) -> Obj:
        new = {**(claim.get("status") or {}), "phase": phase, **status}
        if phase != "Bound":
            new.pop("capacity", None)
            new.pop("accessModes", None)
        if new == claim.get("status"):
            return claim
        meta = claim["metadata"]
        path = resource_path("v1", "persistentvolumeclaims", namespace=meta["namespace"], name=meta["name"],
                             subresource="status")
        return await self.client.update(path, {**claim, "status": new})

    # --- binding ---------------------------------------------------------------------------------

    async def _bind(self, pv: Obj, claim: Obj) -> None:
        """``bind``: the volume's claimRef and phase, then the claim's volumeName and phase."""
        pv_meta, meta = pv["metadata"], claim["metadata"]
        if not (pv["spec"].get("claimRef") or {}).get("uid"):
            by_controller = not pv["spec"].get("claimRef")
            annotations = {**(pv_meta.get("annotations") or {}), **({BOUND_BY_CONTROLLER: "yes"} if by_controller
                                                                    else {})}
            pv = await self.client.update(resource_path("v1", "persistentvolumes", name=pv_meta["name"]), {
                **pv, "metadata": {**pv_meta, "annotations": annotations},
                "spec": {**pv["spec"], "claimRef": claim_ref(claim)}})
        await self._volume_phase(pv, "Bound")
        annotations = meta.get("annotations") or {}
        if claim["spec"].get("volumeName") != pv_meta["name"] or BIND_COMPLETED not in annotations:
            extra = {BIND_COMPLETED: "yes"}
            if claim["spec"].get("volumeName") != pv_meta["name"]:
                extra[BOUND_BY_CONTROLLER] = "yes"
            claim = await self.client.update(
                resource_path("v1", "persistentvolumeclaims", namespace=meta["namespace"], name=meta["name"]),
                {**claim, "metadata": {**meta, "annotations": {**annotations, **extra}},
                 "spec": {**claim["spec"], "volumeName": pv_meta["name"]}})
        await self._claim_phase(claim, "Bound", accessModes=pv["spec"].get("accessModes") or [],
                                capacity={STORAGE: (pv["spec"].get("capacity") or {}).get(STORAGE, "0")})

    # --- volumes ---------------------------------------------------------------------------------

    async def _sync_volume(self, pv: Obj) -> None:
        ref = pv["spec"].get("claimRef")
        if not ref:
            await self._volume_phase(pv, "Available")
            return
        if not ref.get("uid"):  # pre-bound by name: the claim's sync binds it
            await self._volume_phase(pv, "Available")
            return
        claim = self.claims.get(f"{ref.get('namespace', '')}/{ref.get('name', '')}")
        if claim is not None and claim["metadata"]["uid"] == ref["uid"]:
            if not claim["spec"].get("volumeName") or claim["spec"]["volumeName"] == pv["metadata"]["name"]:
                if claim["spec"].get("volumeName"):
                    await self._volume_phase(pv, "Bound")
                return  # the claim's sync finishes the binding
            if (pv["metadata"].get("annotations") or {}).get(BOUND_BY_CONTROLLER):  # the claim chose another
                await self._unbind(pv)
                return
        await self._release(pv)

    async def _release(self, pv: Obj) -> None:
        """The claim is gone: ``Released``, then the reclaim policy (``reclaimVolume``)."""
        phase = (pv.get("status") or {}).get("phase")
        if phase == "Failed":
            return
        pv = await self._volume_phase(pv, "Released")
        policy = pv["spec"].get("persistentVolumeReclaimPolicy", "Retain")
        annotations = pv["metadata"].get("annotations") or {}
        if policy == "Retain" or (policy == "Delete" and PROVISIONED_BY in annotations):
            return  # kept; or its provisioner deletes it
        if policy == "Recycle":
            message, reason = "No recycler plugin found for the volume!", "VolumeFailedRecycle"
        else:
            message = (f'error getting deleter volume plugin for volume "{pv["metadata"]["name"]}": '
                       "no deletable volume plugin matched")
            reason = "VolumeFailedDelete"
        self.recorder.event(pv, "Warning", reason, message)
        await self._volume_phase(pv, "Failed", message=message)

    async def _unbind(self, pv: Obj) -> None:
        meta = pv["metadata"]
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != BOUND_BY_CONTROLLER}
        spec = {k: v for k, v in pv["spec"].items() if k != "claimRef"}
        pv = await self.client.update(resource_path("v1", "persistentvolumes", name=meta["name"]),
                                      {**pv, "metadata": {**meta, "annotations": annotations}, "spec": spec})
        await self._volume_phase(pv, "Available")

    async def _volume_phase(self, pv: Obj, phase: str, message: str = "") -> Obj:
        new = {"phase": phase, **({"message": message} if message else {})}
        if {k: v for k, v in (pv.get("status") or {}).items() if k in ("phase", "message")} == new:
            return pv
        status = {k: v for k, v in (pv.get("status") or {}).items() if k not in ("phase", "message", "reason")}
        return await self.client.update(resource_path("v1", "persistentvolumes", name=pv["metadata"]["name"],
                                                      subresource="status"), {**pv, "status": {**status, **new}})
