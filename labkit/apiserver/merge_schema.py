"""How each field of a served kind merges: the facts both strategic merge patch and server-side apply need.

Mirrors the struct tags and markers of ``k8s.io/api/*/types.go`` and ``k8s.io/apimachinery/pkg/apis/meta/v1``:
``patchStrategy`` / ``patchMergeKey`` (read by ``k8s.io/apimachinery/pkg/util/strategicpatch``) and
``+listType`` / ``+listMapKey`` / ``+structType`` / ``+mapType`` / ``+default`` (read by
structured-merge-diff through the OpenAPI schema). Kubernetes derives both from the Go types; labkit
has no Go types, so it keeps only the fields whose behaviour differs from the defaults:

- a map or struct merges field by field (SMP) and is owned field by field (SSA);
- a list is replaced whole (SMP) and owned as one value, ``listType=atomic`` (SSA).

Left out: fields behind alpha feature gates, and kinds labkit does not serve. A kind missing from
:data:`KINDS` gets the defaults everywhere, i.e. JSON merge semantics for lists.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSchema:
    """What Kubernetes knows about one field of a struct."""

    type: str | None = None  # the struct type of the value, or of each list item, when it has facts below
    patch_strategy: str = ""  # SMP tag: "merge", "retainKeys" or "merge,retainKeys"
    patch_merge_key: str = ""  # SMP tag: the field identifying a list item
    list_type: str = "atomic"  # SSA: "atomic", "map" (keyed by list_map_keys) or "set"
    list_map_keys: tuple[str, ...] = ()
    key_defaults: tuple[tuple[str, Any], ...] = ()  # +default of a key field, used when an item omits it
    atomic: bool = False  # SSA: a struct or map owned as one value (+structType=atomic, +mapType=atomic)

    @property
    def merges_list(self) -> bool:
        """True when SMP merges this list item by item instead of replacing it."""
        return "merge" in self.patch_strategy.split(",")


DEFAULT = FieldSchema()
ATOMIC = FieldSchema(atomic=True)


def _keyed(merge_key: str, *ssa_keys: str, type: str | None = None, strategy: str = "merge",
           defaults: tuple[tuple[str, Any], ...] = ()) -> FieldSchema:
    """A list SMP merges by ``merge_key`` and SSA treats as a map keyed by ``ssa_keys``."""
    return FieldSchema(type=type, patch_strategy=strategy, patch_merge_key=merge_key, list_type="map",
                       list_map_keys=ssa_keys or (merge_key,), key_defaults=defaults)


def _struct(name: str) -> FieldSchema:
    return FieldSchema(type=name)


_SET = FieldSchema(patch_strategy="merge", list_type="set")  # primitive list merged as a set
_TCP = (("protocol", "TCP"),)
_CONDITIONS = _keyed("type")
_APPS = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet")

#: struct type -> the fields of it that differ from the defaults
TYPES: dict[str, dict[str, FieldSchema]] = {
    "ObjectMeta": {"ownerReferences": _keyed("uid"), "finalizers": _SET},
    "PodTemplateSpec": {"metadata": _struct("ObjectMeta"), "spec": _struct("PodSpec")},
    "PodSpec": {
        "volumes": _keyed("name", type="Volume", strategy="merge,retainKeys"),
        "initContainers": _keyed("name", type="Container"),
        "containers": _keyed("name", type="Container"),
        "ephemeralContainers": _keyed("name", type="Container"),
        "nodeSelector": ATOMIC,
        "imagePullSecrets": _keyed("name", defaults=(("name", ""),)),
        "affinity": _struct("Affinity"),
        "hostAliases": _keyed("ip"),
        "topologySpreadConstraints": _keyed("topologyKey", "topologyKey", "whenUnsatisfiable",
                                            type="TopologySpreadConstraint"),
        "schedulingGates": _keyed("name"),
        "resourceClaims": _keyed("name", strategy="merge,retainKeys"),
        "resources": _struct("ResourceRequirements"),
    },
    "Container": {  # also EphemeralContainer, which shares these fields
        "ports": _keyed("containerPort", "containerPort", "protocol", defaults=_TCP),
        "env": _keyed("name", type="EnvVar"),
        "resources": _struct("ResourceRequirements"),
        "volumeMounts": _keyed("mountPath"),
        "volumeDevices": _keyed("devicePath"),
    },
    "EnvVar": {"valueFrom": _struct("EnvVarSource")},
    "EnvVarSource": {"fieldRef": ATOMIC, "resourceFieldRef": ATOMIC, "configMapKeyRef": ATOMIC,
                     "secretKeyRef": ATOMIC},
    "ResourceRequirements": {"claims": FieldSchema(list_type="map", list_map_keys=("name",))},
    "Affinity": {"nodeAffinity": _struct("NodeAffinity")},
    "NodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": ATOMIC},
    "TopologySpreadConstraint": {"labelSelector": ATOMIC},
    "Volume": {
        **{source: _struct("SecretRefVolumeSource")
           for source in ("iscsi", "rbd", "flexVolume", "cinder", "cephfs", "scaleIO", "storageos")},
        "csi": FieldSchema(type="CSIVolumeSource"),
        "ephemeral": _struct("EphemeralVolumeSource"),
    },
    "SecretRefVolumeSource": {"secretRef": ATOMIC},  # the shape shared by the volume sources above
    "CSIVolumeSource": {"nodePublishSecretRef": ATOMIC},
    "EphemeralVolumeSource": {"volumeClaimTemplate": _struct("PersistentVolumeClaimTemplate")},
    "PersistentVolumeClaimTemplate": {"metadata": _struct("ObjectMeta"),
                                      "spec": _struct("PersistentVolumeClaimSpec")},
    "PersistentVolumeClaimSpec": {"selector": ATOMIC, "dataSource": ATOMIC},
    "PersistentVolumeClaimStatus": {"conditions": _CONDITIONS},
    "PersistentVolumeSpec": {"claimRef": ATOMIC},
    "PodStatus": {
        "conditions": _CONDITIONS,
        "hostIPs": FieldSchema(patch_strategy="merge", patch_merge_key="ip"),  # SMP merges, SSA atomic
        "podIPs": _keyed("ip"),
        "resourceClaimStatuses": _keyed("name", strategy="merge,retainKeys"),
    },
    "ServiceSpec": {"ports": _keyed("port", "port", "protocol", defaults=_TCP), "selector": ATOMIC},
    "ServiceStatus": {"conditions": _CONDITIONS},
    "NodeSpec": {"podCIDRs": _SET},
    "NodeStatus": {"conditions": _CONDITIONS, "addresses": _keyed("type")},
    "NamespaceStatus": {"conditions": _CONDITIONS},
    "DeploymentSpec": {"selector": ATOMIC, "template": _struct("PodTemplateSpec"),
                       "strategy": FieldSchema(patch_strategy="retainKeys")},
    "ReplicaSetSpec": {"selector": ATOMIC, "template": _struct("PodTemplateSpec")},
    "DaemonSetSpec": {"selector": ATOMIC, "template": _struct("PodTemplateSpec")},
    "StatefulSetSpec": {"selector": ATOMIC, "template": _struct("PodTemplateSpec")},
    "JobSpec": {"selector": ATOMIC, "template": _struct("PodTemplateSpec")},
    **{f"{kind}Status": {"conditions": _CONDITIONS} for kind in _APPS},
    "JobStatus": {"conditions": FieldSchema(patch_strategy="merge", patch_merge_key="type"),
                  "uncountedTerminatedPods": _struct("UncountedTerminatedPods")},
    "UncountedTerminatedPods": {"succeeded": FieldSchema(list_type="set"), "failed": FieldSchema(list_type="set")},
}


def _object(spec: str | None = None, status: str | None = None, **fields: FieldSchema) -> dict[str, FieldSchema]:
    out = {"metadata": _struct("ObjectMeta"), **fields}
    if spec:
        out["spec"] = _struct(spec)
    if status:
        out["status"] = _struct(status)
    return out


#: kind -> its top-level fields (the Go struct of a kind carries the kind's name, so these join TYPES)
KINDS: dict[str, dict[str, FieldSchema]] = {
    "Pod": _object("PodSpec", "PodStatus"),
    "Service": _object("ServiceSpec", "ServiceStatus"),
    "Endpoints": _object(),
    "Node": _object("NodeSpec", "NodeStatus"),
    "Namespace": _object("NamespaceSpec", "NamespaceStatus"),
    "ConfigMap": _object(),
    "Secret": _object(),
    "ServiceAccount": _object(secrets=_keyed("name")),
    "Event": _object(involvedObject=ATOMIC, related=ATOMIC),
    **{kind: _object(f"{kind}Spec", f"{kind}Status") for kind in (*_APPS, "Job")},
    "Lease": _object("LeaseSpec"),
    "EndpointSlice": _object(),
    "Role": _object(),
    "ClusterRole": _object(),
    "RoleBinding": _object(roleRef=ATOMIC),
    "ClusterRoleBinding": _object(roleRef=ATOMIC),
    "PriorityClass": _object(),
    # the workload kinds of issue 16
    "ControllerRevision": _object(),
    "ReplicationController": _object("ReplicationControllerSpec", "ReplicationControllerStatus"),
    "CronJob": _object("CronJobSpec"),
    # issue 16's storage kinds
    "PersistentVolumeClaim": _object("PersistentVolumeClaimSpec", "PersistentVolumeClaimStatus"),
    "PersistentVolume": _object("PersistentVolumeSpec"),
    "StorageClass": _object(),
    # create_from_yaml's remaining core and storage kinds
    "PodTemplate": _object(template=_struct("PodTemplateSpec")),
    "CSIDriver": _object(),
    "CSINode": _object("CSINodeSpec"),
    "CSIStorageCapacity": _object(),
    "VolumeAttachment": _object("VolumeAttachmentSpec"),
}
TYPES.update({
    "ReplicationControllerSpec": {"template": _struct("PodTemplateSpec")},
    "ReplicationControllerStatus": {"conditions": _CONDITIONS},
    "CronJobSpec": {"jobTemplate": _struct("JobTemplateSpec")},
    "JobTemplateSpec": {"metadata": _struct("ObjectMeta"), "spec": _struct("JobSpec")},
    "CSINodeSpec": {"drivers": _keyed("name")},
    "VolumeAttachmentSpec": {"source": _struct("VolumeAttachmentSource")},
    "VolumeAttachmentSource": {"inlineVolumeSpec": _struct("PersistentVolumeSpec")},
})
TYPES.update(KINDS)


def root(kind: str) -> str | None:
    """The type to start a walk from, or None for a kind labkit knows nothing about."""
    return kind if kind in KINDS else None


def field(type_name: str | None, name: str) -> FieldSchema:
    """The facts for field ``name`` of struct ``type_name`` (the defaults when nothing is known)."""
    return TYPES.get(type_name, {}).get(name, DEFAULT) if type_name else DEFAULT
