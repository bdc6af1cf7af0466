"""Taints and tolerations: does a pod tolerate a node's taint?

Mirrors ``Toleration.ToleratesTaint`` (``k8s.io/api/core/v1/toleration.go``) and
``k8s.io/component-helpers/scheduling/corev1`` (``TolerationsTolerateTaint``,
``FindMatchingUntoleratedTaint``). One rule serves the scheduler (TaintToleration,
NodeUnschedulable, PodTopologySpread's ``nodeTaintsPolicy``) and the node lifecycle controller's
taint eviction alike:

- an empty ``effect`` matches every effect, otherwise the effects must be equal;
- an empty ``key`` matches every key (validation allows it only with ``Exists``);
- ``Exists`` matches any value; ``Equal``, or no operator, needs equal values (a missing value is
  ``""``); any other operator matches nothing.

Left out: the ``Lt``/``Gt`` operators (alpha behind the ``TaintTolerationComparisonOperators``
feature gate; labkit's pod validation accepts only ``Equal`` and ``Exists``).
"""

from __future__ import annotations

from collections.abc import Iterable

from labkit.apimachinery.meta import Obj


def tolerates_taint(toleration: Obj, taint: Obj) -> bool:
    """``Toleration.ToleratesTaint``."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def tolerations_tolerate_taint(tolerations: Iterable[Obj], taint: Obj) -> bool:
    """``TolerationsTolerateTaint``: some toleration tolerates the taint."""
    return any(tolerates_taint(t, taint) for t in tolerations)


def find_matching_untolerated_taint(taints: Iterable[Obj], tolerations: list[Obj],
                                    effects: tuple[str, ...]) -> Obj | None:
    """``FindMatchingUntoleratedTaint``: the first taint with one of ``effects`` (kube's inclusion
    filter) that no toleration tolerates, or None."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerations_tolerate_taint(tolerations, taint):
            return taint
    return None
