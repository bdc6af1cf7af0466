"""InterPodAffinity: place a pod near (affinity) or away from (anti-affinity) pods matching a label
selector, within a topology domain (the nodes sharing the value of ``topologyKey``).

Mirrors ``pkg/scheduler/framework/plugins/interpodaffinity``. PreFilter counts, per
``(topologyKey, value)``, the existing pods matching each required term of the incoming pod, and the
existing pods whose required anti-affinity the incoming pod would violate (no terms either way: Skip).
Filter checks, in kube's order: the pod's affinity (UnschedulableAndUnresolvable, except that a pod
matching its own terms may start a group no pod has yet), the pod's anti-affinity (Unschedulable),
existing pods' anti-affinity (Unschedulable). Scoring sums preferred terms' weights per domain both
ways (the incoming pod's terms over existing pods, and existing pods' preferred terms and required
affinity, with ``hardPodAffinityWeight`` 1, over the incoming pod), then rescales min..max onto 0..100.
AddPod/RemovePod (PreFilterExtensions) keep the counts right while preemption removes victims in a
what-if. Left out: ``namespaceSelector`` other than ``{}`` (all namespaces).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from labkit.apimachinery.labels import label_selector_from_object
from labkit.apimachinery.meta import Obj
from labkit.scheduler.framework import MAX_NODE_SCORE, CycleState, Status
from labkit.scheduler.interface import (
    FilterPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    ScoreExtensions,
    ScorePlugin,
)
from labkit.scheduler.plugins.helper import CountingExtensions
from labkit.scheduler.types import NodeInfo, PodInfo

ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1


@dataclasses.dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A parsed ``PodAffinityTerm``: which namespaces (None: all), which pods, which topology."""

    namespaces: frozenset[str] | None
    selector: Obj | None
    topology_key: str
    weight: int = 0

    def matches(self, pod: PodInfo) -> bool:
        if self.namespaces is not None and pod.namespace not in self.namespaces:
            return False
        return label_selector_from_object(self.selector).matches(pod.labels)


def affinity_terms(pod: PodInfo, kind: str, *, required: bool) -> list[AffinityTerm]:
    """``kind`` is ``podAffinity`` or ``podAntiAffinity``."""
    section = pod.affinity.get(kind) or {}
    if required:
        entries = [(t, 0) for t in section.get("requiredDuringSchedulingIgnoredDuringExecution") or []]
    else:
        entries = [(w.get("podAffinityTerm") or {}, w.get("weight", 0))
                   for w in section.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    terms = []
    for t, weight in entries:
        names = t.get("namespaces") or []
        ns_selector = t.get("namespaceSelector")
        if ns_selector is not None and not ns_selector.get("matchLabels") and not ns_selector.get("matchExpressions"):
            namespaces = None  # an empty namespaceSelector selects every namespace
        else:
            namespaces = frozenset(names) if names or ns_selector is not None else frozenset([pod.namespace])
        terms.append(AffinityTerm(namespaces, t.get("labelSelector"), t.get("topologyKey", ""), weight))
    return terms


def _count(counts: dict[tuple[str, str], int], key: str, node: NodeInfo, n: int = 1) -> None:
    value = node.labels.get(key)
    if value is not None:
        counts[(key, value)] = counts.get((key, value), 0) + n


def _update(counts: dict[tuple[str, str], int], key: str, node: NodeInfo, n: int) -> None:
    """``topologyToMatchedTermCount.update``: a count down to zero is dropped."""
    value = node.labels.get(key)
    if value is not None:
        total = counts.get((key, value), 0) + n
        if total:
            counts[(key, value)] = total
        else:
            counts.pop((key, value), None)


@dataclasses.dataclass(slots=True)
class _PreFilterState:
    affinity: list[AffinityTerm]
    anti_affinity: list[AffinityTerm]
    existing_anti_counts: dict[tuple[str, str], int]
    affinity_counts: dict[tuple[str, str], int]
    anti_affinity_counts: dict[tuple[str, str], int]

    def clone(self) -> _PreFilterState:
        return _PreFilterState(self.affinity, self.anti_affinity, dict(self.existing_anti_counts),
                               dict(self.affinity_counts), dict(self.anti_affinity_counts))

    def update_with_pod(self, updated: PodInfo, pod: PodInfo, node: NodeInfo, n: int) -> None:
        """``updateWithPod``: ``updated`` joins (+1) or leaves (-1) ``node`` in a what-if."""
        if updated.has_required_anti_affinity:
            for t in affinity_terms(updated, "podAntiAffinity", required=True):
                if t.matches(pod):
                    _update(self.existing_anti_counts, t.topology_key, node, n)
        if self.affinity and all(t.matches(updated) for t in self.affinity):
            for t in self.affinity:
                _update(self.affinity_counts, t.topology_key, node, n)
        for t in self.anti_affinity:
            if t.matches(updated):
                _update(self.anti_affinity_counts, t.topology_key, node, n)


class InterPodAffinity(PreFilterPlugin, CountingExtensions, FilterPlugin,
                       PreScorePlugin, ScorePlugin, ScoreExtensions):
    name = "InterPodAffinity"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        affinity = affinity_terms(pod, "podAffinity", required=True)
        anti = affinity_terms(pod, "podAntiAffinity", required=True)
        holders = [n for n in nodes if n.pods_with_required_anti_affinity]
        if not affinity and not anti and not holders:
            return Status.skip()
        s = _PreFilterState(affinity, anti, {}, {}, {})
        for node in holders:
            for existing in node.pods_with_required_anti_affinity:
                for term in affinity_terms(existing, "podAntiAffinity", required=True):
                    if term.matches(pod):
                        _count(s.existing_anti_counts, term.topology_key, node)
        if not affinity and not anti and not s.existing_anti_counts:
            return Status.skip()
        if affinity or anti:
            for node in nodes:
                for existing in node.pods:
                    if affinity and all(t.matches(existing) for t in affinity):
                        for t in affinity:
                            _count(s.affinity_counts, t.topology_key, node)
                    for t in anti:
                        if t.matches(existing):
                            _count(s.anti_affinity_counts, t.topology_key, node)
        state.write(self.name, s)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _PreFilterState = state.read(self.name)
        labels = node.labels
        if s.affinity and not self._satisfies_affinity(s, pod, labels):
            return Status.unresolvable(ERR_REASON_AFFINITY)
        for t in s.anti_affinity:
            domain = labels.get(t.topology_key)
            if domain is not None and s.anti_affinity_counts.get((t.topology_key, domain), 0) > 0:
                return Status.unschedulable(ERR_REASON_ANTI_AFFINITY)
        for (key, value), n in s.existing_anti_counts.items():
            if n > 0 and labels.get(key) == value:
                return Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
        return None

    @staticmethod
    def _satisfies_affinity(s: _PreFilterState, pod: PodInfo, labels: dict[str, str]) -> bool:
        if not all(t.topology_key in labels for t in s.affinity):
            return False  # every topology label must exist on the node
        if all(s.affinity_counts.get((t.topology_key, labels[t.topology_key]), 0) > 0 for t in s.affinity):
            return True
        # the first pod of a group: no pod matches yet, but the pod matches its own terms
        return not s.affinity_counts and all(t.matches(pod) for t in s.affinity)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        affinity = affinity_terms(pod, "podAffinity", required=False)
        anti = affinity_terms(pod, "podAntiAffinity", required=False)
        incoming = bool(affinity or anti)
        scores: dict[tuple[str, str], int] = {}
        for node in state.all_nodes:
            for existing in (node.pods if incoming else node.pods_with_affinity):
                for t in affinity:
                    if t.matches(existing):
                        _count(scores, t.topology_key, node, t.weight)
                for t in anti:
                    if t.matches(existing):
                        _count(scores, t.topology_key, node, -t.weight)
                if not existing.has_affinity:
                    continue
                for t in affinity_terms(existing, "podAffinity", required=False):
                    if t.matches(pod):
                        _count(scores, t.topology_key, node, t.weight)
                for t in affinity_terms(existing, "podAntiAffinity", required=False):
                    if t.matches(pod):
                        _count(scores, t.topology_key, node, -t.weight)
                for t in affinity_terms(existing, "podAffinity", required=True):
                    if t.matches(pod):
                        _count(scores, t.topology_key, node, HARD_POD_AFFINITY_WEIGHT)
        if not scores:
            return Status.skip()
        state.write(self.name + "/score", scores)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        labels = node.labels
        return sum(n for (key, value), n in state.read(self.name + "/score").items() if labels.get(key) == value)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        low, high = min(scores, default=0), max(scores, default=0)
        for i, s in enumerate(scores):
            scores[i] = int(MAX_NODE_SCORE * ((s - low) / (high - low))) if high > low else 0  # Go's order
