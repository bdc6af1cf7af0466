"""The StorageClass strategy (``pkg/registry/storage/storageclass``).

Mirrors ``SetDefaults_StorageClass`` (``reclaimPolicy: Delete``, ``volumeBindingMode: Immediate``),
``ValidateStorageClass`` / ``ValidateStorageClassUpdate`` (``pkg/apis/storage/validation``: a qualified
provisioner name, the supported policies and modes; provisioner, parameters, reclaim policy and binding
mode never change) and ``printStorageClass`` ("(default)" after the name of the class annotated
``storageclass.kubernetes.io/is-default-class: "true"``).

Left out: the limits on ``parameters`` (count and size) and ``allowedTopologies`` checks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, invalid, not_supported, qualified_name_errors, required
from labkit.apimachinery.volumeutil import is_default_class
from labkit.apiserver.strategy import AGE_COLUMN, NAME_COLUMN, Column, Strategy, age

RECLAIM_POLICIES = ["Delete", "Retain"]
BINDING_MODES = ["Immediate", "WaitForFirstConsumer"]


class StorageClassStrategy(Strategy):
    kind = "StorageClass"
    name_column = False  # the printer writes the Name cell itself, "(default)" included
    columns = (
        NAME_COLUMN,
        Column("Provisioner", description="provisioner indicates the type of the provisioner."),
        Column("ReclaimPolicy", description="reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
                                            "PersistentVolumes of this storage class."),
        Column("VolumeBindingMode", description="volumeBindingMode indicates how PersistentVolumeClaims should be "
                                                "provisioned and bound."),
        Column("AllowVolumeExpansion", description="allowVolumeExpansion shows whether the storage class allow "
                                                   "volume expand."),
        AGE_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        if not obj.get("reclaimPolicy"):
            obj["reclaimPolicy"] = "Delete"
        if not obj.get("volumeBindingMode"):
            obj["volumeBindingMode"] = "Immediate"

    def validate(self, obj: Obj) -> list[Cause]:
        causes = []
        provisioner = obj.get("provisioner") or ""
        if not provisioner:
            causes.append(required("provisioner"))
        else:
            causes += [invalid("provisioner", provisioner, e) for e in qualified_name_errors(provisioner.lower())]
        policy = obj.get("reclaimPolicy")
        if policy not in RECLAIM_POLICIES:
            causes.append(not_supported("reclaimPolicy", policy, RECLAIM_POLICIES))
        mode = obj.get("volumeBindingMode")
        if mode not in BINDING_MODES:
            causes.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
        for key in obj.get("parameters") or {}:
            if not key:
                causes.append(required("parameters", "parameter key must not be empty"))
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        for name in ("parameters", "provisioner", "reclaimPolicy"):
            if (obj.get(name) or None) != (old.get(name) or None):
                causes.append(forbidden(name, f"updates to {name} are forbidden."))
        if obj.get("volumeBindingMode") != old.get("volumeBindingMode"):
            causes.append(invalid("volumeBindingMode", obj.get("volumeBindingMode"), "field is immutable"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        name = obj["metadata"].get("name", "") + (" (default)" if is_default_class(obj) else "")
        return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy") or "Delete",
                obj.get("volumeBindingMode") or "Immediate", bool(obj.get("allowVolumeExpansion")), age(obj, now)]


STRATEGY = StorageClassStrategy()
