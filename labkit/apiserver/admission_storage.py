"""The storage admission plugins: ``DefaultStorageClass`` and ``StorageObjectInUseProtection``.

``DefaultStorageClass`` mirrors ``plugin/pkg/admission/storage/storageclass/setdefault``: on a
PersistentVolumeClaim's create, when neither ``spec.storageClassName`` nor the beta class annotation
is set (an empty string counts as set: it asks for no class), the class annotated
``storageclass.kubernetes.io/is-default-class: "true"`` is written in; when several are, the newest
wins (then the first by name), as in kube since 1.26. kube's plugin reads classes from an informer;
this one lists them from the store.

``StorageObjectInUseProtection`` mirrors ``plugin/pkg/admission/storage/storageobjectinuseprotection``:
a new claim gets the finalizer ``kubernetes.io/pvc-protection`` and a new volume
``kubernetes.io/pv-protection``, which the protection controllers (``labkit/controllers/volumeprotection.py``)
remove once no pod uses the claim / no claim is bound to the volume.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.volumeutil import BETA_STORAGE_CLASS, PV_PROTECTION, PVC_PROTECTION, is_default_class
from labkit.apiserver.admission import AdmissionPlugin, Attributes, ListAll


def default_class(classes: list[Obj]) -> Obj | None:
    """``GetDefaultClass``: the newest default class, ties broken by name."""
    defaults = [c for c in classes if is_default_class(c)]
    if not defaults:
        return None
    defaults.sort(key=lambda c: c["metadata"]["name"])
    return max(defaults, key=lambda c: c["metadata"].get("creationTimestamp", ""))


class DefaultStorageClass(AdmissionPlugin):
    name = "DefaultStorageClass"

    def __init__(self, list_all: ListAll) -> None:
        self._list_all = list_all

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        if attrs.resource.plural != "persistentvolumeclaims" or attrs.subresource or attrs.operation != "CREATE" \
                or not obj:
            return
        spec = obj.setdefault("spec", {})
        if spec.get("storageClassName") is not None or \
                BETA_STORAGE_CLASS in (obj.get("metadata", {}).get("annotations") or {}):
            return
        sc = default_class(self._list_all("storageclasses"))
        if sc is not None:
            spec["storageClassName"] = sc["metadata"]["name"]


class StorageObjectInUseProtection(AdmissionPlugin):
    name = "StorageObjectInUseProtection"

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        finalizer = {"persistentvolumeclaims": PVC_PROTECTION, "persistentvolumes": PV_PROTECTION}.get(
            attrs.resource.plural if not attrs.resource.group else "")
        if finalizer is None or attrs.subresource or attrs.operation != "CREATE" or not obj:
            return
        finalizers = obj.setdefault("metadata", {}).setdefault("finalizers", [])
        if finalizer not in finalizers:
            finalizers.append(finalizer)
