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
from labkit.scheduler.framework import MAX_NODE_SCORE, CycleState, Status
from labkit.scheduler.interface import PreFilterExtensions
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


def node_selector_term_errors(term: Obj, path: str = "") -> list[str]:
    """Why ``labels.NewRequirement`` (``nodeSelectorRequirementsAsSelector``) and the field selector
    refuse a term's requirements: a key that is not a qualified name, a value that is not a label
    value, values where the operator wants none (or not exactly one integer, for Gt and Lt). A term
    that does not parse matches no node; callers drop such terms once per cycle (kube parses a pod's
    terms once), so :func:`term_matches` need not check."""
    from labkit.apiserver.validation import label_value_errors, qualified_name_errors

    errs: list[str] = []
    for i, r in enumerate(term.get("matchExpressions") or []):
        at, key, op, values = (f"{path}.matchExpressions[{i}]", r.get("key", ""), r.get("operator"),
                               r.get("values") or [])
        errs += [f'{at}.key: Invalid value: "{key}": {e}' for e in qualified_name_errors(key)]
        if op in ("In", "NotIn") and not values:
            errs.append(f"{at}.values: Required value: for 'in', 'notin' operators, values set can't be empty")
        elif op in ("Exists", "DoesNotExist") and values:
            errs.append(f"{at}.values: Forbidden: values set must be empty for exists and does not exist")
        elif op in ("Gt", "Lt"):
            if len(values) != 1:
                errs.append(f"{at}.values: Required value: for 'Gt', 'Lt' operators, exactly one value is required")
            elif not values[0].lstrip("+-").isdigit():
                errs.append(f"{at}.values[0]: Invalid value: \"{values[0]}\": for 'Gt', 'Lt' operators, "
                            "the value must be an integer")
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errs.append(f'{at}.operator: Unsupported value: "{op}"')
        errs += [f'{at}.values[{j}]: Invalid value: "{v}": {e}' for j, v in enumerate(values)
                 for e in label_value_errors(v)]
    for i, r in enumerate(term.get("matchFields") or []):
        at, op, values = f"{path}.matchFields[{i}]", r.get("operator"), r.get("values") or []
        if r.get("key") != "metadata.name":
            errs.append(f'{at}.key: Invalid value: "{r.get("key", "")}": not a supported field selector key')
        elif op not in ("In", "NotIn"):
            errs.append(f'{at}.operator: Unsupported value: "{op}"')
        elif len(values) != 1:
            errs.append(f"{at}.values: Required value: must have one element")
    return errs


def required_node_affinity(pod: PodInfo) -> Callable[[NodeInfo], bool] | None:
    """``GetRequiredNodeAffinity``: the pod's ``nodeSelector`` and required terms as one predicate
    (terms are ORed; those that do not parse are dropped), or None when the pod has neither."""
    selector = pod.spec.get("nodeSelector") or {}
    required = ((pod.affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
                or {}).get("nodeSelectorTerms")
    if not selector and required is None:
        return None
    if required is not None:  # a term that does not parse matches no node (LazyErrorNodeSelector)
        required = [t for t in required if not node_selector_term_errors(t)]

    def matches(node: NodeInfo) -> bool:
        labels = node.labels
        if any(labels.get(k) != v for k, v in selector.items()):
            return False
        return required is None or any(term_matches(t, labels, node.name) for t in required)

    return matches


class CountingExtensions(PreFilterExtensions):
    """AddPod/RemovePod for a plugin whose PreFilter state counts matching pods per domain: the state's
    ``update_with_pod(pod, incoming, node, ±1)`` adds or takes away one (InterPodAffinity and
    PodTopologySpread, whose kube versions do the same in ``updateWithPod``)."""

    name: str

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo) -> Status | None:
        state.read(self.name).update_with_pod(pod_to_add, pod, node, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo, node: NodeInfo) -> Status | None:
        state.read(self.name).update_with_pod(pod_to_remove, pod, node, -1)
        return None
