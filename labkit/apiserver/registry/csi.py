"""The CSI kinds of ``storage.k8s.io/v1`` (``pkg/registry/storage/{csidriver,csinode,csistoragecapacity,
volumeattachment}``): objects a CSI driver and its node plugins publish, and that the attach/detach
controller writes. labkit runs no CSI driver (its provisioner is the in-tree local-path one), so these
are stored and shown, never acted on; tutorials and tools create them.

Mirrors, per kind, the defaults (``SetDefaults_CSIDriver``: ``attachRequired: true``, ``podInfoOnMount``,
``storageCapacity``, ``requiresRepublish`` and ``seLinuxMount`` false, ``fsGroupPolicy:
ReadWriteOnceWithFSType``, ``volumeLifecycleModes: [Persistent]``), the validation of
``pkg/apis/storage/validation`` (``ValidateCSIDriver``, ``ValidateCSINode``,
``ValidateCSIStorageCapacity``, ``ValidateVolumeAttachment`` and their updates: a CSI driver name is
at most 63 characters and a DNS subdomain, a node ID at most 256 characters, a VolumeAttachment's
spec never changes, a CSIDriver's ``attachRequired`` and modes, a CSINode driver's ``nodeID`` and
``topologyKeys`` neither) and ``printCSIDriver``, ``printCSINode``, ``printCSIStorageCapacity`` and
``printVolumeAttachment`` (a CSIStorageCapacity's table has no Age column; column descriptions are
the fields' documentation). A VolumeAttachment's status is written through ``/status`` only.

Left out: the token request audience checks beyond uniqueness, ``inlineVolumeSpec`` validation, status
validation of VolumeAttachments (``attachError`` messages), CSINode ``allocatable`` mutability gates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import (
    Cause,
    dns1123_subdomain_errors,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    qualified_name_errors,
    required,
    too_long,
)
from labkit.apiserver import clientmodels
from labkit.apiserver.registry.pod.validation import nonnegative_quantity
from labkit.apiserver.registry.replicaset import nonnegative, set_default, validate_selector
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

FS_GROUP_POLICIES = ["File", "None", "ReadWriteOnceWithFSType"]
LIFECYCLE_MODES = ["Ephemeral", "Persistent"]
CSI_NODE_ID_MAX = 256


def csi_driver_name_errors(name: Any, path: str) -> list[Cause]:
    """``ValidateCSIDriverName``."""
    name = name if isinstance(name, str) else ""
    causes = [required(path)] if not name else []
    if len(name) > 63:
        causes.append(too_long(path, name, 63))
    return causes + [invalid(path, name, e) for e in dns1123_subdomain_errors(name.lower())]


def field_doc(model: str, field: str) -> str:
    """``<Type>{}.SwaggerDoc()[field]``, the column descriptions kube's printers use: the field's
    description in the official client's model (generated from the same Go comments)."""
    return clientmodels.fields(model)[field].description


def immutable(obj: Obj, old: Obj, *path: str) -> list[Cause]:
    """``ValidateImmutableField`` for the field at ``path``."""
    new_value: Any = obj
    old_value: Any = old
    for key in path:
        new_value, old_value = (new_value or {}).get(key), (old_value or {}).get(key)
    if new_value != old_value:
        return [invalid(".".join(path), new_value, "field is immutable")]
    return []


# --- CSIDriver --------------------------------------------------------------------------------------


class CSIDriverStrategy(Strategy):
    kind = "CSIDriver"
    tracks_generation = True
    columns = (
        Column("AttachRequired", "boolean", description=field_doc("V1CSIDriverSpec", "attachRequired")),
        Column("PodInfoOnMount", "boolean", description=field_doc("V1CSIDriverSpec", "podInfoOnMount")),
        Column("StorageCapacity", "boolean", description=field_doc("V1CSIDriverSpec", "storageCapacity")),
        Column("TokenRequests", description=field_doc("V1CSIDriverSpec", "tokenRequests")),
        Column("RequiresRepublish", "boolean", description=field_doc("V1CSIDriverSpec", "requiresRepublish")),
        Column("Modes", description=field_doc("V1CSIDriverSpec", "volumeLifecycleModes")),
        AGE_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        for name, value in (("attachRequired", True), ("podInfoOnMount", False), ("storageCapacity", False),
                            ("fsGroupPolicy", "ReadWriteOnceWithFSType"), ("requiresRepublish", False),
                            ("seLinuxMount", False)):
            if spec.get(name) is None:
                spec[name] = value
        if not spec.get("volumeLifecycleModes"):
            spec["volumeLifecycleModes"] = ["Persistent"]

    def validate(self, obj: Obj) -> list[Cause]:
        name = obj["metadata"].get("name", "")
        causes = [too_long("metadata.name", name, 63)] if len(name) > 63 else []
        spec = obj.get("spec") or {}
        policy = spec.get("fsGroupPolicy")
        if policy not in FS_GROUP_POLICIES:
            causes.append(not_supported("spec.fsGroupPolicy", policy, FS_GROUP_POLICIES))
        for i, mode in enumerate(spec.get("volumeLifecycleModes") or []):
            if mode not in LIFECYCLE_MODES:
                causes.append(not_supported(f"spec.volumeLifecycleModes[{i}]", mode, LIFECYCLE_MODES))
        audiences: set[str] = set()
        for i, token in enumerate(spec.get("tokenRequests") or []):
            audience = (token or {}).get("audience", "")
            if audience in audiences:
                causes.append(duplicate(f"spec.tokenRequests[{i}].audience", audience))
            audiences.add(audience)
            causes += nonnegative(token or {}, "expirationSeconds", f"spec.tokenRequests[{i}]")
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return (self.validate(obj) + immutable(obj, old, "spec", "attachRequired")
                + immutable(obj, old, "spec", "volumeLifecycleModes"))

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        tokens = ",".join((t or {}).get("audience", "") for t in spec.get("tokenRequests") or []) or "<unset>"
        return [spec.get("attachRequired", True) is not False, bool(spec.get("podInfoOnMount")),
                bool(spec.get("storageCapacity")), tokens, bool(spec.get("requiresRepublish")),
                ",".join(spec.get("volumeLifecycleModes") or []) or "<none>", age(obj, now)]


# --- CSINode ----------------------------------------------------------------------------------------


def _validate_node_driver(driver: Obj, path: str, seen: set[str]) -> list[Cause]:
    """``validateCSINodeDriver``."""
    name = driver.get("name", "")
    causes = csi_driver_name_errors(name, f"{path}.name")
    node_id = driver.get("nodeID") or ""
    if not node_id:
        causes.append(required(f"{path}.nodeID"))
    elif len(node_id) > CSI_NODE_ID_MAX:
        causes.append(invalid(f"{path}.nodeID", node_id, f"must be {CSI_NODE_ID_MAX} characters or less"))
    causes += nonnegative(driver.get("allocatable") or {}, "count", f"{path}.allocatable")
    if name in seen:
        causes.append(duplicate(f"{path}.name", name))
    seen.add(name)
    keys: set[str] = set()
    for key in driver.get("topologyKeys") or []:
        if not key:
            causes.append(required(f"{path}.topologyKeys"))
        if key in keys:
            causes.append(duplicate(f"{path}.topologyKeys", key))
        keys.add(key)
        causes += [invalid(f"{path}.topologyKeys", key, e) for e in qualified_name_errors(key)] if key else []
    return causes


class CSINodeStrategy(Strategy):
    kind = "CSINode"
    columns = (Column("Drivers", "integer", description="Drivers indicates the number of CSI drivers registered "
                                                         "on the node"),
               AGE_COLUMN)

    def validate(self, obj: Obj) -> list[Cause]:
        drivers = (obj.get("spec") or {}).get("drivers")
        if drivers is None:
            return [required("spec.drivers")]
        seen: set[str] = set()
        return [c for i, d in enumerate(drivers) for c in _validate_node_driver(d or {}, f"spec.drivers[{i}]", seen)]

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        new_drivers = {d.get("name"): (i, d) for i, d in enumerate((obj.get("spec") or {}).get("drivers") or [])}
        for driver in (old.get("spec") or {}).get("drivers") or []:
            if driver.get("name") not in new_drivers:
                continue
            i, new = new_drivers[driver["name"]]
            for name in ("nodeID", "topologyKeys"):
                if (new.get(name) or None) != (driver.get(name) or None):
                    causes.append(invalid(f"spec.drivers[{i}].{name}", new.get(name), "field is immutable"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [len((obj.get("spec") or {}).get("drivers") or []), age(obj, now)]


# --- CSIStorageCapacity -----------------------------------------------------------------------------


class CSIStorageCapacityStrategy(Strategy):
    kind = "CSIStorageCapacity"
    columns = (Column("StorageClassName", description=field_doc("V1CSIStorageCapacity", "storageClassName")),
               Column("Capacity", description=field_doc("V1CSIStorageCapacity", "capacity")))  # no Age: as kube

    def validate(self, obj: Obj) -> list[Cause]:
        causes = validate_selector(obj.get("nodeTopology") or {}, "nodeTopology")
        name = obj.get("storageClassName") or ""
        causes += [invalid("storageClassName", name, e) for e in dns1123_subdomain_errors(name)]
        for field in ("capacity", "maximumVolumeSize"):
            if obj.get(field) is not None:
                causes += nonnegative_quantity(field, obj[field])[1]
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return (self.validate(obj) + immutable(obj, old, "nodeTopology")
                + immutable(obj, old, "storageClassName"))

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        capacity = obj.get("capacity")
        return [obj.get("storageClassName", ""), str(capacity) if capacity is not None else "<unset>"]


# --- VolumeAttachment -------------------------------------------------------------------------------


def _validate_source(source: Obj) -> list[Cause]:
    """``validateVolumeAttachmentSource``: exactly one of a PersistentVolume's name and an inline spec."""
    pv, inline = source.get("persistentVolumeName"), source.get("inlineVolumeSpec")
    one_of = "must specify exactly one of inlineVolumeSpec and persistentVolumeName"
    if pv is None and inline is None:
        return [required("spec.source", one_of)]
    if pv is not None and inline is not None:
        return [forbidden("spec.source", one_of)]
    if pv is not None and not pv:
        return [required("spec.source.persistentVolumeName", "must specify non empty persistentVolumeName")]
    return []


class VolumeAttachmentStrategy(Strategy):
    kind = "VolumeAttachment"
    status_subresource = True
    columns = (
        Column("Attacher", format="name", description=field_doc("V1VolumeAttachmentSpec", "attacher")),
        Column("PV", description=field_doc("V1VolumeAttachmentSource", "persistentVolumeName")),
        Column("Node", description=field_doc("V1VolumeAttachmentSpec", "nodeName")),
        Column("Attached", "boolean", description=field_doc("V1VolumeAttachmentStatus", "attached")),
        AGE_COLUMN,
    )

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes = csi_driver_name_errors(spec.get("attacher", ""), "spec.attacher")
        causes += _validate_source(spec.get("source") or {})
        node = spec.get("nodeName") or ""
        return causes + [invalid("spec.nodeName", node, e) for e in dns1123_subdomain_errors(node)]

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        if obj.get("spec") != old.get("spec"):
            causes.append(Cause("FieldValueInvalid", "Invalid value: \"object\": field is immutable", "spec"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return [spec.get("attacher", ""), (spec.get("source") or {}).get("persistentVolumeName") or "",
                spec.get("nodeName", ""), bool(status.get("attached")), age(obj, now)]


CSI_DRIVER = CSIDriverStrategy()
CSI_NODE = CSINodeStrategy()
CSI_STORAGE_CAPACITY = CSIStorageCapacityStrategy()
VOLUME_ATTACHMENT = VolumeAttachmentStrategy()
