"""What the API server, the PV controllers, the kubelet and a provisioner share about volumes.

Mirrors ``k8s.io/component-helpers/storage/volume`` (``GetPersistentVolumeClass``,
``GetPersistentVolumeClaimClass``, the binding and provisioning annotations of ``pv_controller``),
``pkg/apis/storage/util`` (``IsDefaultAnnotation``) and the protection finalizers of
``pkg/util/slice``'s users: names with one meaning in every component, written once here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import QuantityError, parse_quantity

STORAGE = "storage"
#: the annotation read before ``spec.storageClassName`` (the class's name before the field existed)
BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
IS_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_IS_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
#: the finalizers of the StorageObjectInUseProtection admission plugin and the protection controllers
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
#: the PV controller's annotations: binding done, bound by the controller (not by the user)
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
#: who provisioned a volume, and which provisioner a claim waits for
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"


def volume_class(obj: Obj) -> str:
    """``GetPersistentVolumeClass`` / ``GetPersistentVolumeClaimClass``: the beta annotation first."""
    annotations = obj.get("metadata", {}).get("annotations") or {}
    if BETA_STORAGE_CLASS in annotations:
        return str(annotations[BETA_STORAGE_CLASS])
    return obj.get("spec", {}).get("storageClassName") or ""


def is_default_class(sc: Obj) -> bool:
    """``IsDefaultAnnotation``: either annotation, set to ``"true"``."""
    annotations = sc.get("metadata", {}).get("annotations") or {}
    return "true" in (annotations.get(IS_DEFAULT_CLASS), annotations.get(BETA_IS_DEFAULT_CLASS))


def storage_of(resources: Mapping[str, Any] | None) -> int:
    """The bytes of a ``storage`` quantity (0 when missing or malformed)."""
    try:
        return parse_quantity((resources or {}).get(STORAGE, 0)).value()
    except QuantityError:
        return 0


def claim_ref(claim: Obj) -> Obj:
    """A volume's ``claimRef`` to ``claim`` (``GetReference``)."""
    meta = claim["metadata"]
    return {"kind": "PersistentVolumeClaim", "namespace": meta["namespace"], "name": meta["name"],
            "uid": meta["uid"], "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion", "")}


#: queue keys of a controller that syncs both claims and volumes (``claim:<ns>/<name>``, ``volume:<name>``)
CLAIM_KEY, VOLUME_KEY = "claim:", "volume:"


def object_of_key(key: str) -> tuple[str, str]:
    """The ``(plural, key)`` a ``claim:`` or ``volume:`` queue key names."""
    if key.startswith(VOLUME_KEY):
        return "persistentvolumes", key.removeprefix(VOLUME_KEY)
    return "persistentvolumeclaims", key.removeprefix(CLAIM_KEY)
