"""Helpers several plugins share: score normalization and node selectors.

Mirrors ``pkg/scheduler/framework/plugins/helper`` (``DefaultNormalizeScore``),
``k8s.io/component-helpers/scheduling/corev1`` (``GetRequiredNodeAffinity``: ``nodeSelector`` ANDed
with required node affinity terms) and ``nodeaffinity`` (``NodeSelectorRequirement`` operators In,
NotIn, Exists, DoesNotExist, Gt, Lt; ``matchFields`` on ``metadata.name``). Taints and tolerations
(``ToleratesTaint``, ``FindMatchingUntoleratedTaint``) and label selectors, which the controllers use
too, are in ``labkit/apimachinery`` (``taints.py``, ``labels.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from labkit.apimachinery.meta import Obj
from labkit.scheduler.framework import MAX_NODE_SCORE
from labkit.scheduler.types import NodeInfo, PodInfo


def default_normalize_score(scores: list[int], *, reverse: bool = False, max_priority: int = MAX_NODE_SCORE) -> None:
    """Scale so the highest score becomes ``max_priority`` (``reverse``: the lowest does)."""
    highest = max(scores, default=0)
    if highest == 0:
        if reverse:
            scores[:] = [max_priority] * len(scores)
        return
    for i, s in enumerate(scores):
        s = max_priority * s // highest
        scores[i] = max_priority - s if reverse else s


def _requirement_matches(req: Obj, value: str | None) -> bool:
    op, values = req.get("operator"), req.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Obj, labels: Mapping[str, str], name: str) -> bool:
    """A ``NodeSelectorTerm``: all its expressions and fields hold; an empty term matches nothing."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    return (all(_requirement_matches(r, labels.get(r.get("key", ""))) for r in exprs)
            and all(r.get("key") == "metadata.name" and _requirement_matches(r, name) for r in fields))


def required_node_affinity(pod: PodInfo) -> Callable[[NodeInfo], bool] | None:
    """``GetRequiredNodeAffinity``: the pod's ``nodeSelector`` and required terms as one predicate
    (terms are ORed), or None when the pod has neither."""
    selector = pod.spec.get("nodeSelector") or {}
    required = ((pod.affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
                or {}).get("nodeSelectorTerms")
    if not selector and required is None:
        return None

    def matches(node: NodeInfo) -> bool:
        labels = node.labels
        if any(labels.get(k) != v for k, v in selector.items()):
            return False
        return required is None or any(term_matches(t, labels, node.name) for t in required)

    return matches
