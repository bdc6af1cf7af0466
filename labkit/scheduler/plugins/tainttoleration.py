"""TaintToleration: a node's NoSchedule/NoExecute taints keep out pods that do not tolerate them;
PreferNoSchedule taints only lower the score (fewer untolerated ones score higher).

Mirrors ``pkg/scheduler/framework/plugins/tainttoleration``: the filter's reason names the first
untolerated taint as ``{key: value}``; the score counts intolerable PreferNoSchedule taints and is
normalized in reverse.
"""

from __future__ import annotations

from labkit.apimachinery.taints import find_matching_untolerated_taint, tolerates_taint
from labkit.scheduler.framework import CycleState, Status
from labkit.scheduler.interface import FilterPlugin, ScoreExtensions, ScorePlugin
from labkit.scheduler.plugins.helper import default_normalize_score
from labkit.scheduler.types import NodeInfo, PodInfo


class TaintToleration(FilterPlugin, ScorePlugin, ScoreExtensions):
    name = "TaintToleration"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        taint = find_matching_untolerated_taint(node.taints, pod.tolerations, ("NoSchedule", "NoExecute"))
        if taint is None:
            return None
        return Status.unresolvable("node(s) had untolerated taint "
                                   f"{{{taint.get('key', '')}: {taint.get('value', '')}}}")

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        tolerations = [t for t in pod.tolerations if t.get("effect") in (None, "", "PreferNoSchedule")]
        return sum(1 for taint in node.taints if taint.get("effect") == "PreferNoSchedule"
                   and not any(tolerates_taint(t, taint) for t in tolerations))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        default_normalize_score(scores, reverse=True)
