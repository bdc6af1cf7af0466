"""The ``/scale`` subresource of Deployments and ReplicaSets (autoscaling/v1 ``Scale``).

Mirrors ``scaleFromDeployment`` / ``scaleFromReplicaSet`` and ``scaleUpdatedObjectInfo`` in
``pkg/registry/apps/{deployment,replicaset}/storage/storage.go`` and ``ValidateScale`` in
``pkg/apis/autoscaling/validation``. ``kubectl scale`` and HorizontalPodAutoscalers go through here.

Left out: the other autoscaling versions; Scale has no Table printer of its own here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, invalid
from labkit.apiserver.registry.replicaset import selector_string

_META_FIELDS = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def scale_of(obj: Obj) -> Obj:
    """The Scale view of a Deployment or ReplicaSet."""
    meta = obj.get("metadata", {})
    spec, status = obj.get("spec", {}), obj.get("status") or {}
    scale_spec = {"replicas": spec["replicas"]} if spec.get("replicas") else {}  # omitempty in autoscaling/v1
    scale_status: Obj = {"replicas": status.get("replicas", 0)}
    selector = selector_string(spec.get("selector"))
    if selector:
        scale_status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in _META_FIELDS if k in meta},
        "spec": scale_spec,
        "status": scale_status,
    }


def validate_scale(scale: Mapping[str, Any]) -> list[Cause]:
    """``ValidateScale``: ``spec.replicas`` must be a non-negative integer."""
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        return [invalid("spec.replicas", replicas, "must be greater than or equal to 0")]
    return []


def apply_scale(obj: Obj, scale: Mapping[str, Any]) -> Obj:
    """A copy of ``obj`` with the Scale's replicas. A ``resourceVersion`` in the Scale is carried over,
    so the store's compare-and-swap rejects a Scale computed from a stale object (409 Conflict)."""
    updated = codec.clone(obj)
    updated.setdefault("spec", {})["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        updated.setdefault("metadata", {})["resourceVersion"] = rv
    return updated
