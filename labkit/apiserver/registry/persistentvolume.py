"""The PersistentVolume strategy (``pkg/registry/core/persistentvolume``), and what PersistentVolumeClaims
share with it: access modes, volume modes, storage class names and the storage quantity.

Mirrors ``SetDefaults_PersistentVolume`` (``persistentVolumeReclaimPolicy: Retain``, ``volumeMode:
Filesystem``, a new volume ``Pending``), ``ValidatePersistentVolume`` / ``ValidatePersistentVolumeUpdate``
(``pkg/apis/core/validation``: access modes, capacity, reclaim policy, exactly one volume source,
``hostPath`` and ``local`` paths, a local volume's required node affinity, the class name) and
``printPersistentVolume`` with ``GetAccessModesAsString`` (``RWO,ROX,RWX,RWOP``).

Left out: the volume sources other than ``hostPath``, ``local`` and ``csi`` (which are accepted but
not checked), ``lastPhaseTransitionTime``, the diff kube appends to "is immutable" messages, and the
``%#v`` rendering of a capacity that lacks ``storage`` (the message names the keys instead).
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Mapping
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import QuantityError, canonical, parse_quantity
from labkit.apimachinery.validation import (
    Cause,
    dns1123_subdomain_errors,
    forbidden,
    invalid,
    not_supported,
    required,
)
from labkit.apimachinery.volumeutil import STORAGE, volume_class
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]  # as kube sorts them
#: GetAccessModesAsString's order and abbreviations
_ABBREVIATIONS = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                  ("ReadWriteOncePod", "RWOP"))
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
VOLUME_MODES = ["Block", "Filesystem"]
HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate",
                   "Socket"]
#: the volume sources labkit's kubelet can mount, then the others a PV may name (accepted, not mounted)
VOLUME_SOURCES = ("hostPath", "local", "csi", "nfs", "iscsi", "fc", "gcePersistentDisk", "awsElasticBlockStore",
                  "azureDisk", "azureFile", "cephfs", "rbd", "cinder", "flexVolume", "flocker", "glusterfs",
                  "photonPersistentDisk", "portworxVolume", "quobyte", "scaleIO", "storageos", "vsphereVolume")


def access_modes_string(modes: list[str] | None) -> str:
    """``GetAccessModesAsString``: ``RWO,RWX`` in kube's fixed order, whatever order the spec has."""
    modes = modes or []
    return ",".join(short for mode, short in _ABBREVIATIONS if mode in modes)


def canonical_resources(resources: Any) -> None:
    """Quantities in canonical form, as decoding and re-encoding them does in kube."""
    if isinstance(resources, dict):
        for name, value in resources.items():
            try:
                resources[name] = canonical(value)
            except QuantityError:
                pass


def validate_access_modes(modes: Any, path: str, *, required_detail: str) -> list[Cause]:
    if not modes:
        return [required(path, required_detail)]
    causes = [not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        causes.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return causes


def validate_positive_quantity(value: Any, path: str) -> list[Cause]:
    """``ValidatePositiveQuantityValue`` after the quantity parsed."""
    try:
        q = parse_quantity(value)
    except QuantityError as e:
        return [invalid(path, value, str(e))]
    return [] if q.amount > 0 else [invalid(path, str(value), "must be greater than zero")]


def validate_class_and_mode(spec: Mapping[str, Any], path: str = "spec") -> list[Cause]:
    """``ValidateClassName`` on ``storageClassName`` and the supported ``volumeMode``s."""
    causes = []
    name = spec.get("storageClassName")
    if name:
        causes += [invalid(f"{path}.storageClassName", name, e) for e in dns1123_subdomain_errors(name)]
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        causes.append(not_supported(f"{path}.volumeMode", mode, VOLUME_MODES))
    return causes


def _validate_path(path_value: Any, at: str) -> list[Cause]:
    if not path_value:
        return [required(at)]
    if ".." in str(path_value).split("/"):
        return [invalid(at, path_value, "must not contain '..'")]
    return []


def validate_source(spec: Mapping[str, Any]) -> list[Cause]:
    """Exactly one volume source, and the checks of the ones labkit mounts."""
    causes: list[Cause] = []
    named = [s for s in VOLUME_SOURCES if spec.get(s) is not None]
    for extra in named[1:]:
        causes.append(forbidden(f"spec.{extra}", "may not specify more than 1 volume type"))
    if not named:
        return [required("spec", "must specify a volume type")]
    host_path = spec.get("hostPath")
    if isinstance(host_path, dict):
        causes += _validate_path(host_path.get("path"), "spec.hostPath.path")
        kind = host_path.get("type")
        if kind is not None and kind not in HOST_PATH_TYPES:
            causes.append(not_supported("spec.hostPath.type", kind, HOST_PATH_TYPES))
    local = spec.get("local")
    if isinstance(local, dict):
        causes += _validate_path(local.get("path"), "spec.local.path")
        if not spec.get("nodeAffinity"):
            causes.append(required("metadata.annotations", "Local volume requires node affinity"))
    return causes


class PersistentVolumeStrategy(Strategy):
    kind = "PersistentVolume"
    status_subresource = True
    columns = (
        Column("Capacity", description="capacity is the description of the persistent volume's resources and "
                                       "capacity."),
        Column("Access Modes", description="accessModes contains all ways the volume can be mounted."),
        Column("Reclaim Policy", description="persistentVolumeReclaimPolicy defines what happens to a persistent "
                                             "volume when released from its claim."),
        Column("Status", description="phase indicates if a volume is available, bound to a claim, or released "
                                     "by a claim."),
        Column("Claim", description="claimRef is part of a bi-directional binding between PersistentVolume and "
                                    "PersistentVolumeClaim."),
        Column("StorageClass", description="storageClassName is the name of StorageClass to which this persistent "
                                           "volume belongs."),
        Column("VolumeAttributesClass", description="Name of VolumeAttributesClass to which this persistent "
                                                    "volume belongs."),
        Column("Reason", description="reason is a brief CamelCase string that describes any failure and is meant "
                                     "for machine parsing and tidy display in the CLI."),
        AGE_COLUMN,
        Column("VolumeMode", priority=1, description="volumeMode defines if a volume is intended to be used with "
                                                     "a formatted filesystem or to remain in raw block state."),
    )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if not spec.get("persistentVolumeReclaimPolicy"):
            spec["persistentVolumeReclaimPolicy"] = "Retain"
        if spec.get("volumeMode") is None:
            spec["volumeMode"] = "Filesystem"
        if isinstance(spec.get("hostPath"), dict) and spec["hostPath"].get("type") is None:
            spec["hostPath"]["type"] = ""
        canonical_resources(spec.get("capacity"))

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending"}

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes = validate_access_modes(spec.get("accessModes"), "spec.accessModes", required_detail="")
        capacity = spec.get("capacity")
        if not capacity:
            causes.append(required("spec.capacity"))
        elif STORAGE not in capacity or len(capacity) > 1:
            causes.append(not_supported("spec.capacity", ",".join(sorted(capacity)), [STORAGE]))
        for name, value in (capacity or {}).items():
            causes += validate_positive_quantity(value, f"spec.capacity[{name}]")
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy and policy not in RECLAIM_POLICIES:
            causes.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
        causes += validate_source(spec)
        host_path = (spec.get("hostPath") or {}).get("path")
        if host_path and posixpath.normpath(host_path) == "/" and policy == "Recycle":
            causes.append(forbidden("spec.persistentVolumeReclaimPolicy",
                                    "may not be 'recycle' for a hostPath mount of '/'"))
        return causes + validate_class_and_mode(spec)

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        if [(s, spec.get(s)) for s in VOLUME_SOURCES] != [(s, old_spec.get(s)) for s in VOLUME_SOURCES]:
            causes.append(forbidden("spec.persistentvolumesource",
                                    "spec.persistentvolumesource is immutable after creation"))
        if spec.get("volumeMode") != old_spec.get("volumeMode"):
            causes.append(invalid("spec.volumeMode", spec.get("volumeMode"), "field is immutable"))
        if old_spec.get("nodeAffinity") and spec.get("nodeAffinity") != old_spec["nodeAffinity"]:
            causes.append(forbidden("spec.nodeAffinity", "field is immutable"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status, meta = obj.get("spec", {}), obj.get("status") or {}, obj["metadata"]
        ref = spec.get("claimRef")
        claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
        phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase", "")
        return [(spec.get("capacity") or {}).get(STORAGE, "0"), access_modes_string(spec.get("accessModes")),
                spec.get("persistentVolumeReclaimPolicy", ""), phase, claim, volume_class(obj),
                spec.get("volumeAttributesClassName") or "<unset>", status.get("reason", ""), age(obj, now),
                spec.get("volumeMode") or "<unset>"]

    def field_labels(self, obj: Obj) -> dict[str, str]:
        return {"status.phase": (obj.get("status") or {}).get("phase", "")}


STRATEGY = PersistentVolumeStrategy()
