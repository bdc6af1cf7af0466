"""NodeAffinity: ``nodeSelector`` and required node affinity filter nodes; preferred terms add
their weights to the score.

Mirrors ``pkg/scheduler/framework/plugins/nodeaffinity``: PreFilter and PreScore skip the plugin for
pods without the respective terms; Filter and Score work out the terms themselves when their
Pre-point did not run. A required term that does not parse (a bad key or value, see
``helper.node_selector_term_errors``) matches no node; a preferred one fails PreScore with kube's
error. The score is the sum of matching preferred terms' weights, normalized so the best node gets
100. Left out: the plugin's ``addedAffinity`` argument, PreFilterResult (matchFields on
``metadata.name`` narrowing the nodes up front).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from labkit.scheduler.framework import CycleState, Status
from labkit.scheduler.interface import FilterPlugin, PreFilterPlugin, PreScorePlugin, ScoreExtensions, ScorePlugin
from labkit.scheduler.plugins.helper import (
    default_normalize_score,
    node_selector_term_errors,
    required_node_affinity,
    term_matches,
)
from labkit.scheduler.types import NodeInfo, PodInfo

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
PRE_SCORE_KEY = "PreScoreNodeAffinity"


def preferred_terms(pod: PodInfo) -> tuple[list[tuple[int, dict[str, Any]]] | None, str]:
    """``NewPreferredSchedulingTerms``: (weight, preference) of the terms that count (a weight and a
    non-empty preference), and the parse errors; None when the pod has no preferred terms at all."""
    terms = (pod.affinity.get("nodeAffinity") or {}).get("preferredDuringSchedulingIgnoredDuringExecution")
    if terms is None:
        return None, ""
    parsed, errs = [], []
    for i, t in enumerate(terms):
        preference = t.get("preference") or {}
        if not t.get("weight") or not (preference.get("matchExpressions") or preference.get("matchFields")):
            continue
        term_errs = node_selector_term_errors(preference, f"[{i}]")
        errs += term_errs
        if not term_errs:
            parsed.append((t["weight"], preference))
    message = errs[0] if len(errs) == 1 else f"[{', '.join(errs)}]" if errs else ""
    return parsed, message


class NodeAffinity(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, ScoreExtensions):
    name = "NodeAffinity"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        matches = required_node_affinity(pod)
        if matches is None:
            return Status.skip()
        state.write(self.name, matches)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        try:
            matches: Callable[[NodeInfo], bool] | None = state.read(self.name)
        except KeyError:  # PreFilter did not run: work it out here
            matches = required_node_affinity(pod)
        return None if matches is None or matches(node) else Status.unresolvable(ERR_REASON_POD)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        terms, error = preferred_terms(pod)
        if error:
            return Status.error(error)
        if terms is None:
            return Status.skip()
        state.write(PRE_SCORE_KEY, terms)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        try:
            terms = state.read(PRE_SCORE_KEY)
        except KeyError:  # PreScore did not run: work it out here
            terms = preferred_terms(pod)[0] or []
        return sum(weight for weight, preference in terms if term_matches(preference, node.labels, node.name))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize_score(scores)
