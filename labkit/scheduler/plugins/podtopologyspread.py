"""PodTopologySpread: keep matching pods evenly spread over topology domains (zones, nodes ...).

Mirrors ``pkg/scheduler/framework/plugins/podtopologyspread``. For each constraint PreFilter counts
the pods matching its ``labelSelector`` (in the pod's namespace) per domain, over the nodes that
carry the topology key and, with the default ``nodeAffinityPolicy: Honor``, match the pod's node
affinity (``nodeTaintsPolicy: Honor`` also drops nodes with untolerated taints). Filter
(``whenUnsatisfiable: DoNotSchedule``) rejects a node when ``count(domain) + self-match − global
minimum`` exceeds ``maxSkew`` (a domain count below ``minDomains`` makes the minimum 0); a node without
the key is UnschedulableAndUnresolvable. Score (``ScheduleAnyway``) weighs each domain's count by
log(domains + 2), adds ``maxSkew − 1``, and favours the least crowded nodes. ``matchLabelKeys`` adds
the pod's own values to the selector. AddPod/RemovePod (PreFilterExtensions) keep the counts right
while preemption removes victims in a what-if. Left out: the cluster-wide default constraints (a pod without
constraints is not spread).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from labkit.apimachinery.labels import label_selector_from_object
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.taints import find_matching_untolerated_taint
from labkit.scheduler.framework import MAX_NODE_SCORE, CycleState, Status
from labkit.scheduler.interface import (
    FilterPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    ScoreExtensions,
    ScorePlugin,
)
from labkit.scheduler.plugins.helper import CountingExtensions, required_node_affinity
from labkit.scheduler.types import NodeInfo, PodInfo

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
IGNORED = -1  # raw score of a node without the topology keys; normalized to 0
HOSTNAME = "kubernetes.io/hostname"


@dataclasses.dataclass(slots=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: Obj
    min_domains: int
    honor_affinity: bool
    honor_taints: bool
    self_match: int
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    def clone(self) -> Constraint:
        return dataclasses.replace(self, counts=dict(self.counts))

    def global_min(self) -> int:
        if len(self.counts) < self.min_domains:
            return 0
        return min(self.counts.values(), default=0)


def constraints_of(pod: PodInfo, when: str) -> list[Constraint]:
    out = []
    for c in pod.spec.get("topologySpreadConstraints") or []:
        if c.get("whenUnsatisfiable", "DoNotSchedule") != when:
            continue
        selector = dict(c.get("labelSelector") or {})
        keys = [k for k in c.get("matchLabelKeys") or [] if k in pod.labels]
        if keys:
            selector["matchExpressions"] = list(selector.get("matchExpressions") or []) + [
                {"key": k, "operator": "In", "values": [pod.labels[k]]} for k in keys]
        out.append(Constraint(c.get("maxSkew", 1), c.get("topologyKey", ""), selector, c.get("minDomains") or 1,
                              c.get("nodeAffinityPolicy", "Honor") == "Honor", c.get("nodeTaintsPolicy") == "Honor",
                              int(label_selector_from_object(selector).matches(pod.labels))))
    return out


@dataclasses.dataclass(slots=True)
class _PreFilterState:
    """The DoNotSchedule constraints with their per-domain counts (``preFilterState``)."""

    constraints: list[Constraint]
    node_affinity: Callable[[NodeInfo], bool] | None

    def clone(self) -> _PreFilterState:
        return _PreFilterState([c.clone() for c in self.constraints], self.node_affinity)

    def update_with_pod(self, updated: PodInfo, pod: PodInfo, node: NodeInfo, delta: int) -> None:
        """``updateWithPod``: ``updated`` joins (+1) or leaves (-1) ``node`` in a what-if."""
        if updated.namespace != pod.namespace or not all(c.topology_key in node.labels for c in self.constraints):
            return
        for c in self.constraints:
            if (_counts_node(c, pod, node, self.node_affinity)
                    and label_selector_from_object(c.selector).matches(updated.labels)):
                value = node.labels[c.topology_key]
                c.counts[value] = c.counts.get(value, 0) + delta


def _counts_node(c: Constraint, pod: PodInfo, node: NodeInfo, affinity: Callable[[NodeInfo], bool] | None) -> bool:
    """``matchNodeInclusionPolicies``: with Honor, nodes the pod could not go to do not count."""
    if c.honor_affinity and affinity is not None and not affinity(node):
        return False
    return not (c.honor_taints and find_matching_untolerated_taint(node.taints, pod.tolerations,
                                                                   ("NoSchedule", "NoExecute")))


def _count_pods(pod: PodInfo, constraints: list[Constraint], nodes: Sequence[NodeInfo],
                affinity: Callable[[NodeInfo], bool] | None) -> None:
    for node in nodes:
        labels = node.labels
        if not all(c.topology_key in labels for c in constraints):
            continue
        for c in constraints:
            if not _counts_node(c, pod, node, affinity):
                continue
            n = sum(1 for p in node.pods if p.namespace == pod.namespace
                    and not p.pod["metadata"].get("deletionTimestamp")
                    and label_selector_from_object(c.selector).matches(p.labels))
            value = labels[c.topology_key]
            c.counts[value] = c.counts.get(value, 0) + n


class PodTopologySpread(PreFilterPlugin, CountingExtensions, FilterPlugin,
                        PreScorePlugin, ScorePlugin, ScoreExtensions):
    name = "PodTopologySpread"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        constraints = constraints_of(pod, "DoNotSchedule")
        if not constraints:
            return Status.skip()
        affinity = required_node_affinity(pod)
        _count_pods(pod, constraints, nodes, affinity)
        state.write(self.name, _PreFilterState(constraints, affinity))
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        for c in state.read(self.name).constraints:
            value = node.labels.get(c.topology_key)
            if value is None:
                return Status.unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH)
            if c.counts.get(value, 0) + c.self_match - c.global_min() > c.max_skew:
                return Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        constraints = constraints_of(pod, "ScheduleAnyway")
        if not constraints:
            return Status.skip()
        _count_pods(pod, constraints, state.all_nodes, required_node_affinity(pod))
        # the domains among the feasible nodes that carry every key (per node for the hostname key)
        counted = [n for n in nodes if all(c.topology_key in n.labels for c in constraints)]
        weights = [math.log((len(counted) if c.topology_key == HOSTNAME else
                             len({n.labels[c.topology_key] for n in counted})) + 2) for c in constraints]
        state.write(self.name + "/score", (constraints, weights))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        constraints, weights = state.read(self.name + "/score")
        total = 0.0
        for c, weight in zip(constraints, weights, strict=True):
            value = node.labels.get(c.topology_key)
            if value is None:
                return IGNORED
            total += c.counts.get(value, 0) * weight + (c.max_skew - 1)
        return math.floor(total + 0.5)  # Go's math.Round: halves away from zero

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        counted = [s for s in scores if s != IGNORED]
        low, high = min(counted, default=0), max(counted, default=0)
        for i, s in enumerate(scores):
            if s == IGNORED:
                scores[i] = 0
            else:
                scores[i] = MAX_NODE_SCORE if high == 0 else MAX_NODE_SCORE * (high + low - s) // high
