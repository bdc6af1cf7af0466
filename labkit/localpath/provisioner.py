"""local-path-provisioner: a host directory per claim (rancher's ``local-path-provisioner``, driven by
``sig-storage-lib-external-provisioner``'s ``ProvisionController``).

A claim the PV controller has annotated ``volume.kubernetes.io/storage-provisioner: rancher.io/local-path``
(its class names this provisioner and no volume fitted) gets the directory
``<base>/pvc-<claim uid>_<namespace>_<claim>`` and a PersistentVolume ``pvc-<claim uid>`` pre-bound to
it (``claimRef``), a ``hostPath`` of that directory with the class's reclaim policy, annotated
``pv.kubernetes.io/provisioned-by``; the PV controller then binds the two. Events on the claim:
``Provisioning`` and ``ProvisioningSucceeded``, as the library records them. When such a volume is
``Released`` with the ``Delete`` policy, the directory and the volume are removed. The base directory
lies in the cluster's work directory, so everything goes with the cluster.

Left out: the node affinity rancher's volumes carry (labkit's class binds ``Immediate``ly and every
node shares the host), its ConfigMap (paths per node, setup/teardown scripts), helper pods, the
provisioner's finalizer on volumes, ``volumeMode: Block``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.volumeutil import (
    CLAIM_KEY,
    PROVISIONED_BY,
    STORAGE,
    STORAGE_PROVISIONER,
    VOLUME_KEY,
    claim_ref,
    object_of_key,
    volume_class,
)
from labkit.client import APIStatusError, Client, resource_path
from labkit.controllers.base import Controller, Result
from labkit.events import EventRecorder
from labkit.informer import Informer, key_of
from labkit.localpath.deploy import PROVISIONER_NAME


def volume_name(claim: Obj) -> str:
    """``pvc-<uid>``, the name external provisioners give the volume of a claim."""
    return f"pvc-{claim['metadata']['uid']}"


class LocalPathProvisioner(Controller):
    name = "local-path-provisioner"
    resource = "persistentvolumeclaims"

    def __init__(self, client: Client, *, base: Path) -> None:
        super().__init__(client)
        self.base = base
        # the library's event source: <provisioner>_<identity> (kube's has the pod's name and a uuid)
        self.recorder = EventRecorder(client, f"{PROVISIONER_NAME}_local-path-provisioner")

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
        self.claims.add_handlers(on_add=self._claim, on_update=lambda _o, n: self._claim(n))
        self.volumes.add_handlers(on_add=self._volume, on_update=lambda _o, n: self._volume(n))
        self.classes.add_handlers()

    def _claim(self, claim: Obj) -> None:
        self.queue.add(CLAIM_KEY + key_of(claim))

    def _volume(self, pv: Obj) -> None:
        self.queue.add(VOLUME_KEY + pv["metadata"]["name"])

    def object_of(self, key: str) -> tuple[str, str]:
        return object_of_key(key)

    async def sync(self, key: str) -> Result | None:
        if key.startswith(CLAIM_KEY):
            claim = self.claims.get(key.removeprefix(CLAIM_KEY))
            if claim is not None and self._should_provision(claim):
                await self._provision(claim)
        else:
            pv = self.volumes.get(key.removeprefix(VOLUME_KEY))
            if pv is not None and self._should_delete(pv):
                await self._delete(pv)
        return None

    def _should_provision(self, claim: Obj) -> bool:
        meta = claim["metadata"]
        if claim.get("spec", {}).get("volumeName") or meta.get("deletionTimestamp"):
            return False
        if (meta.get("annotations") or {}).get(STORAGE_PROVISIONER) != PROVISIONER_NAME:
            return False
        return self.volumes.get(volume_name(claim)) is None

    async def _provision(self, claim: Obj) -> None:
        sc = self.classes.get(volume_class(claim))
        if sc is None:  # the PV controller reports a missing class
            return
        meta, spec = claim["metadata"], claim["spec"]
        self.recorder.event(claim, "Normal", "Provisioning", "External provisioner is provisioning volume for "
                                                             f'claim "{meta["namespace"]}/{meta["name"]}"')
        name = volume_name(claim)
        directory = self.base / f"{name}_{meta['namespace']}_{meta['name']}"
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o777)  # as rancher's helper pod leaves it: any container user may write
        pv = {"apiVersion": "v1", "kind": "PersistentVolume",
              "metadata": {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER_NAME}},
              "spec": {"accessModes": spec.get("accessModes") or [],
                       "capacity": {STORAGE: spec["resources"]["requests"][STORAGE]},
                       "claimRef": claim_ref(claim),
                       "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                       "storageClassName": sc["metadata"]["name"],
                       "volumeMode": spec.get("volumeMode") or "Filesystem",
                       "hostPath": {"path": str(directory), "type": "DirectoryOrCreate"}}}
        try:
            await self.client.create(resource_path("v1", "persistentvolumes"), pv)
        except APIStatusError as e:
            if e.code != 409:
                self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                    f"failed to provision volume with StorageClass \"{sc['metadata']['name']}\": "
                                    f"{e.status.get('message', e)}")
                raise
        self.recorder.event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {name}")

    def _should_delete(self, pv: Obj) -> bool:
        return ((pv["metadata"].get("annotations") or {}).get(PROVISIONED_BY) == PROVISIONER_NAME
                and (pv.get("status") or {}).get("phase") == "Released"
                and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"
                and not pv["metadata"].get("deletionTimestamp"))

    async def _delete(self, pv: Obj) -> None:
        path = Path((pv["spec"].get("hostPath") or {}).get("path", ""))
        if path.parent == self.base:  # only directories this provisioner made
            shutil.rmtree(path, ignore_errors=True)
        try:
            await self.client.delete(resource_path("v1", "persistentvolumes", name=pv["metadata"]["name"]))
        except APIStatusError as e:
            if e.code != 404:
                raise
