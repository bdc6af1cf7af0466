"""Objects as labkit holds them, and the owner references between them.

Mirrors the helpers of ``k8s.io/apimachinery/pkg/apis/meta/v1`` that work on ``ObjectMeta``,
``GetControllerOf`` and ``NewControllerRef`` (``controller_ref.go``), and ``FindStatusCondition`` of
``k8s.io/apimachinery/pkg/api/meta`` (``conditions.go``), which in labkit serves every kind's
``status.conditions`` (kube has one typed copy per kind: ``GetPodCondition``, ``GetNodeCondition``).
Every object in labkit is the JSON a client sends and the API server stores, a plain dict:
:data:`Obj` names that type once for every module.

Left out: ``IsControlledBy``, ``GetControllerOfNoCopy``, ``SetStatusCondition`` and the typed
accessors of ``meta.Accessor`` (a dict is its own accessor).
"""

from __future__ import annotations

from typing import Any

#: a Kubernetes object (or any part of one) in its JSON form
Obj = dict[str, Any]


def find_status_condition(conditions: Any, condition_type: str) -> Obj | None:
    """The condition of ``condition_type`` in a ``status.conditions`` list, or None (``meta.FindStatusCondition``).

    Tolerates a malformed list (not a list, or entries that are not objects): tables print objects
    whose status no validation has checked."""
    if not isinstance(conditions, list):
        return None
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == condition_type), None)


def get_controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true`` (``metav1.GetControllerOf``), or None."""
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def new_controller_ref(owner: Obj, *, kind: str, api_version: str) -> Obj:
    """A controller ownerReference to ``owner`` (``metav1.NewControllerRef``): ``controller`` and
    ``blockOwnerDeletion`` set, so the garbage collector waits for the owned object in a foreground
    deletion of the owner."""
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
