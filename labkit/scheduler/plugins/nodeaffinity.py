"""NodeAffinity: ``nodeSelector`` and required node affinity filter nodes; preferred terms add
their weights to the score.

Mirrors ``pkg/scheduler/framework/plugins/nodeaffinity``: PreFilter and PreScore skip the plugin for
pods without the respective terms; the score is the sum of matching preferred terms' weights,
normalized so the best node gets 100. Left out: the plugin's ``addedAffinity`` argument.
"""

from __future__ import annotations

from collections.abc import Sequence

from labkit.scheduler.framework import CycleState, Status
from labkit.scheduler.interface import FilterPlugin, PreFilterPlugin, PreScorePlugin, ScoreExtensions, ScorePlugin
from labkit.scheduler.plugins.helper import default_normalize_score, required_node_affinity, term_matches
from labkit.scheduler.types import NodeInfo, PodInfo

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"


class NodeAffinity(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, ScoreExtensions):
    name = "NodeAffinity"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        matches = required_node_affinity(pod)
        if matches is None:
            return Status.skip()
        state.write(self.name, matches)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if state.read(self.name)(node) else Status.unresolvable(ERR_REASON_POD)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        preferred = (pod.affinity.get("nodeAffinity") or {}).get("preferredDuringSchedulingIgnoredDuringExecution")
        if not preferred:
            return Status.skip()
        state.write(self.name + "/preferred", preferred)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return sum(t.get("weight", 0) for t in state.read(self.name + "/preferred")
                   if term_matches(t.get("preference") or {}, node.labels, node.name))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize_score(scores)
