"""One scheduling cycle for one pod: filter the nodes, score the feasible ones, pick the best.

Mirrors ``pkg/scheduler/schedule_one.go`` (``schedulePod``, ``findNodesThatFitPod``,
``numFeasibleNodesToFind``, ``prioritizeNodes``, ``selectHost``): filtering starts where the last
cycle stopped (``nextStartNodeIndex``) and ends once enough feasible nodes are found
(``percentageOfNodesToScore``; adaptive by default: 50% minus 1% per 125 nodes, at least 5% and at
least 100 nodes); a single feasible node is chosen without scoring; ties between the best totals
are broken at random. The whole cycle runs without yielding to the event loop, so the cache cannot
change under it and serves as its own snapshot. Left out: parallel filtering, extenders.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from labkit.scheduler.explain import Attempt
from labkit.scheduler.framework import Code, CycleState, Diagnosis, FitError, Framework
from labkit.scheduler.types import NodeInfo, PodInfo

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
BASE_PERCENTAGE_OF_NODES_TO_SCORE = 50


def num_feasible_nodes_to_find(percentage_of_nodes_to_score: int, num_all_nodes: int) -> int:
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND or percentage_of_nodes_to_score >= 100:
        return num_all_nodes
    percentage = percentage_of_nodes_to_score
    if percentage <= 0:
        percentage = max(BASE_PERCENTAGE_OF_NODES_TO_SCORE - num_all_nodes // 125,
                         MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


class GenericScheduler:
    """The algorithm, with the little state it keeps between cycles."""

    def __init__(self, *, percentage_of_nodes_to_score: int = 0, rng: random.Random | None = None) -> None:
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.next_start_node_index = 0
        self.rng = rng or random.Random()

    def schedule_pod(self, fw: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                     attempt: Attempt) -> str:
        """The chosen node's name; raises :class:`FitError` when none fits. Fills ``attempt``."""
        state.all_nodes = nodes
        attempt.num_all_nodes = len(nodes)
        attempt.filter_plugins = [p.name for p in fw.filter_plugins]
        attempt.weights = fw.weights
        diagnosis = Diagnosis()
        if not nodes:
            raise FitError(pod, 0, diagnosis)
        s = fw.run_pre_filter_plugins(state, pod, nodes)
        attempt.skipped_filters = state.skip_filter_plugins
        if s.code == Code.Error:
            raise RuntimeError(s.message)
        if not s.is_success():
            diagnosis.pre_filter_msg = s.message
            diagnosis.unschedulable_plugins.add(s.plugin)
            for n in nodes:
                diagnosis.node_to_status[n.name] = s
            attempt.evaluated = [n.name for n in nodes]
            attempt.rejected = diagnosis.node_to_status
            raise FitError(pod, len(nodes), diagnosis)
        feasible = self._find_nodes_that_pass_filters(fw, state, pod, nodes, diagnosis, attempt)
        attempt.rejected = diagnosis.node_to_status
        attempt.feasible = [n.name for n in feasible]
        if not feasible:
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1:
            return feasible[0].name
        s = fw.run_pre_score_plugins(state, pod, feasible)
        if not s.is_success():
            raise RuntimeError(s.message)
        attempt.scores = fw.run_score_plugins(state, pod, feasible)
        return self._select_host(feasible, attempt.scores, fw.weights)

    def _find_nodes_that_pass_filters(self, fw: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                                      diagnosis: Diagnosis, attempt: Attempt) -> list[NodeInfo]:
        n_all = len(nodes)
        wanted = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, n_all)
        start = self.next_start_node_index % n_all
        feasible: list[NodeInfo] = []
        statuses = diagnosis.node_to_status
        evaluated = attempt.evaluated
        run_filters = fw.run_filter_plugins
        processed = 0
        for i in range(n_all):
            node = nodes[(start + i) % n_all]
            processed += 1
            evaluated.append(node.name)
            s = run_filters(state, pod, node)
            if s.code == Code.Success:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            elif s.code == Code.Error:
                raise RuntimeError(s.message)
            else:
                statuses[node.name] = s
                diagnosis.unschedulable_plugins.add(s.plugin)
        self.next_start_node_index = (start + processed) % n_all
        return feasible

    def _select_host(self, feasible: list[NodeInfo], scores: dict[str, tuple[list[int], list[int]]],
                     weights: dict[str, int]) -> str:
        totals = [0] * len(feasible)
        for plugin, (_, normalized) in scores.items():
            w = weights[plugin]
            for i, v in enumerate(normalized):
                totals[i] += v * w
        best = max(totals)
        ties = [i for i, t in enumerate(totals) if t == best]
        return feasible[ties[0] if len(ties) == 1 else self.rng.choice(ties)].name

