"""The PersistentVolumeClaim strategy (``pkg/registry/core/persistentvolumeclaim``).

Mirrors ``SetDefaults_PersistentVolumeClaim`` (``volumeMode: Filesystem``, a new claim ``Pending``),
``ValidatePersistentVolumeClaim`` / ``ValidatePersistentVolumeClaimUpdate`` (``pkg/apis/core/validation``:
access modes, a positive ``resources.requests[storage]``, the selector, the class name; after creation
only the requests change, and ``volumeName`` may be set once) and ``printPersistentVolumeClaim``
(capacity and access modes show once the claim names a volume, from its status).

Left out: ``dataSource`` / ``dataSourceRef`` checks, resize (``status.allocatedResources``), and the
diff kube appends to the "spec is immutable" message.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, required
from labkit.apimachinery.volumeutil import STORAGE, volume_class
from labkit.apiserver.registry.persistentvolume import (
    access_modes_string,
    canonical_resources,
    validate_access_modes,
    validate_class_and_mode,
    validate_positive_quantity,
)
from labkit.apiserver.registry.replicaset import validate_selector
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

_IMMUTABLE = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"


def default_claim_spec(spec: Obj) -> None:
    """The defaults of a claim's spec, also applied to a StatefulSet's ``volumeClaimTemplates``."""
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    resources = spec.get("resources")
    if isinstance(resources, dict):
        canonical_resources(resources.get("requests"))
        canonical_resources(resources.get("limits"))


def validate_claim_spec(spec: Any, path: str = "spec") -> list[Cause]:
    """``ValidatePersistentVolumeClaimSpec`` (field paths under ``path``)."""
    if not isinstance(spec, dict):
        return [required(path)]
    causes = validate_access_modes(spec.get("accessModes"), f"{path}.accessModes",
                                   required_detail="at least 1 access mode is required")
    if isinstance(spec.get("selector"), dict):
        causes += validate_selector(spec["selector"], f"{path}.selector")
    requests = (spec.get("resources") or {}).get("requests") or {}
    if STORAGE not in requests:
        causes.append(required(f"{path}.resources[{STORAGE}]"))
    else:
        causes += validate_positive_quantity(requests[STORAGE], f"{path}.resources[{STORAGE}]")
    return causes + validate_class_and_mode(spec, path)


def _mutable_dropped(spec: Obj, *, volume_name: str) -> Obj:
    out = copy.deepcopy(spec)
    out.get("resources", {}).pop("requests", None)
    out.pop("volumeAttributesClassName", None)
    if not volume_name:
        out.pop("volumeName", None)
    return out


class PersistentVolumeClaimStrategy(Strategy):
    kind = "PersistentVolumeClaim"
    status_subresource = True
    columns = (
        Column("Status", description="phase represents the current phase of PersistentVolumeClaim."),
        Column("Volume", description="volumeName is the binding reference to the PersistentVolume backing this "
                                     "claim."),
        Column("Capacity", description="capacity represents the actual resources of the underlying volume."),
        Column("Access Modes", description="accessModes contains the desired access modes the volume should "
                                           "have."),
        Column("StorageClass", description="storageClassName is the name of the StorageClass required by the "
                                           "claim."),
        Column("VolumeAttributesClass", description="volumeAttributesClassName may be used to set the "
                                                    "VolumeAttributesClass used by this claim."),
        AGE_COLUMN,
        Column("VolumeMode", priority=1, description="volumeMode defines what type of volume is required by the "
                                                     "claim."),
    )

    def default(self, obj: Obj) -> None:
        default_claim_spec(obj.setdefault("spec", {}))

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending"}

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_claim_spec(obj.get("spec"))

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        old_spec = old.get("spec") or {}
        if _mutable_dropped(obj.get("spec") or {}, volume_name=old_spec.get("volumeName", "")) != \
                _mutable_dropped(old_spec, volume_name=old_spec.get("volumeName", "")):
            causes.append(forbidden("spec", _IMMUTABLE))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status, meta = obj.get("spec", {}), obj.get("status") or {}, obj["metadata"]
        phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase", "")
        capacity = modes = ""
        if spec.get("volumeName"):
            modes = access_modes_string(status.get("accessModes"))
            capacity = (status.get("capacity") or {}).get(STORAGE, "0")
        return [phase, spec.get("volumeName", ""), capacity, modes, volume_class(obj),
                spec.get("volumeAttributesClassName") or "<unset>", age(obj, now), spec.get("volumeMode") or "<unset>"]


STRATEGY = PersistentVolumeClaimStrategy()
