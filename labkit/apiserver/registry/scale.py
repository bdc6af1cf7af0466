"""The ``/scale`` subresource of Deployments, ReplicaSets and ReplicationControllers (autoscaling/v1 ``Scale``).

Mirrors ``ScaleREST`` with ``scaleFromDeployment`` / ``scaleFromReplicaSet`` / ``scaleFromRC`` and
``scaleUpdatedObjectInfo`` in each one's ``storage/storage.go`` (``pkg/registry/apps/deployment``,
``apps/replicaset``, ``core/replicationcontroller``) and ``ValidateScale`` in
``pkg/apis/autoscaling/validation``. ``kubectl scale`` and HorizontalPodAutoscalers go through here.
Kube has a copy in each resource's storage; labkit has this one module for all three, beside their
strategies.

Left out: the other autoscaling versions; Scale has no Table printer of its own here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, invalid
from labkit.apiserver import errors, request
from labkit.apiserver.handlers import Call, _track, patch_failed
from labkit.apiserver.registry.replicaset import selector_string
from labkit.apiserver.registry.replicationcontroller import set_selector_string

_META_FIELDS = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def scale_of(obj: Obj) -> Obj:
    """The Scale view of a Deployment, ReplicaSet or ReplicationController (whose selector is a map)."""
    meta = obj.get("metadata", {})
    spec, status = obj.get("spec", {}), obj.get("status") or {}
    scale_spec = {"replicas": spec["replicas"]} if spec.get("replicas") else {}  # omitempty in autoscaling/v1
    scale_status: Obj = {"replicas": status.get("replicas", 0)}
    if obj.get("kind") == "ReplicationController":
        selector = set_selector_string(spec.get("selector"))
    else:
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


def get_scale(call: Call) -> tuple[int, Obj]:
    return 200, scale_of(call.registry.get(call.info.namespace, call.info.name))


def write_scale(call: Call) -> tuple[int, Obj]:
    """PUT or PATCH .../scale: computed on the Scale view, written back as ``spec.replicas``."""
    reg, info = call.registry, call.info
    if call.info.verb == "update":
        scale = request.decode_object(call.body, call.content_type, call.resource, kind="Scale",
                                      group_version="autoscaling/v1")
    else:
        scale = _patched_scale(call)
    call.check_fields(scale, group_version="autoscaling/v1", kind="Scale")
    if (scale.get("metadata") or {}).get("name") not in (None, info.name):
        raise errors.name_mismatch(scale["metadata"]["name"], info.name)
    causes = validate_scale(scale)
    if causes:
        raise errors.invalid("Scale", info.name, causes, "autoscaling")

    def mutate(obj: Obj) -> Obj:
        return _track(call, obj, apply_scale(obj, scale), "scale")

    updated, call.revision = reg.update(info.namespace, info.name, mutate, user=call.user, dry_run=call.dry_run)
    return 200, scale_of(updated)


def _patched_scale(call: Call) -> Obj:
    """Apply the PATCH body to the current Scale view (patch types work on Scale, not the parent)."""
    from labkit.apiserver import patch

    current = scale_of(call.registry.get(call.info.namespace, call.info.name))
    mt = request.media_type(call.content_type)
    doc = request.decode_body(call.body, call.content_type, allowed=(request.MERGE_PATCH, request.STRATEGIC_PATCH,
                                                                     request.JSON_PATCH))
    try:
        if mt == request.JSON_PATCH:
            return patch.apply_json_patch(current, doc)
        return patch.apply_merge_patch(current, doc)
    except patch.PatchError as e:
        raise patch_failed(e) from None
