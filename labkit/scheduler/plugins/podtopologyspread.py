"""PodTopologySpread: keep matching pods evenly spread over topology domains (zones, nodes ...).

Mirrors ``pkg/scheduler/framework/plugins/podtopologyspread``. For each constraint PreFilter counts
the pods matching its ``labelSelector`` (in the pod's namespace) per domain, over the nodes that
carry the topology key and, with the default ``nodeAffinityPolicy: Honor``, match the pod's node
affinity (``nodeTaintsPolicy: Honor`` also drops nodes with untolerated taints). Filter
(``whenUnsatisfiable: DoNotSchedule``) rejects a node when ``count(domain) + self-match − global
minimum`` exceeds ``maxSkew`` (a domain count below ``minDomains`` makes the minimum 0); a node without
the key is UnschedulableAndUnresolvable. Score (``ScheduleAnyway``) weighs each domain's count by
log(domains + 2), adds ``maxSkew − 1``, and favours the least crowded nodes. ``matchLabelKeys`` adds
the pod's own values to the selector. Left out: the cluster-wide default constraints (a pod without
constraints is not spread), the PreFilter extensions for preemption's what-ifs.
"""

from __future__ import annotations

import dataclasses
import math

from labkit.apimachinery.labels import label_selector_from_object
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.taints import find_matching_untolerated_taint
from labkit.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin, Status
from labkit.scheduler.plugins.helper import required_node_affinity
from labkit.scheduler.types import NodeInfo, PodInfo

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
IGNORED = -1  # raw score of a node without the topology keys; normalized to 0


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


def _count_pods(pod: PodInfo, constraints: list[Constraint], nodes: list[NodeInfo] | tuple[NodeInfo, ...]) -> None:
    affinity = required_node_affinity(pod)
    for node in nodes:
        labels = node.labels
        if not all(c.topology_key in labels for c in constraints):
            continue
        for c in constraints:
            if c.honor_affinity and affinity is not None and not affinity(node):
                continue
            if c.honor_taints and find_matching_untolerated_taint(node.taints, pod.tolerations, ("NoSchedule", "NoExecute")):
                continue
            n = sum(1 for p in node.pods if p.namespace == pod.namespace
                    and not p.pod["metadata"].get("deletionTimestamp") and label_selector_from_object(c.selector).matches(p.labels))
            value = labels[c.topology_key]
            c.counts[value] = c.counts.get(value, 0) + n


class PodTopologySpread(Plugin):
    name = "PodTopologySpread"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        constraints = constraints_of(pod, "DoNotSchedule")
        if not constraints:
            return Status.skip()
        _count_pods(pod, constraints, nodes)
        state.write(self.name, constraints)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        for c in state.read(self.name):
            value = node.labels.get(c.topology_key)
            if value is None:
                return Status.unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH)
            if c.counts.get(value, 0) + c.self_match - c.global_min() > c.max_skew:
                return Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        constraints = constraints_of(pod, "ScheduleAnyway")
        if not constraints:
            return Status.skip()
        _count_pods(pod, constraints, state.all_nodes)
        weights = [math.log(len({n.labels[c.topology_key] for n in nodes if c.topology_key in n.labels}) + 2)
                   for c in constraints]
        state.write(self.name + "/score", (constraints, weights))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        constraints, weights = state.read(self.name + "/score")
        total = 0.0
        for c, weight in zip(constraints, weights):
            value = node.labels.get(c.topology_key)
            if value is None:
                return IGNORED
            total += c.counts.get(value, 0) * weight + (c.max_skew - 1)
        return round(total)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        counted = [s for s in scores if s != IGNORED]
        low, high = min(counted, default=0), max(counted, default=0)
        for i, s in enumerate(scores):
            if s == IGNORED:
                scores[i] = 0
            else:
                scores[i] = MAX_NODE_SCORE if high == 0 else MAX_NODE_SCORE * (high + low - s) // high
