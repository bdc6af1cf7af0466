"""NodeResourcesFit and NodeResourcesBalancedAllocation: does the pod's request fit what is left on
the node, and how full or how balanced would the node be.

Mirrors ``pkg/scheduler/framework/plugins/noderesources`` (``fit.go`` ``fitsRequest``,
``least_allocated.go``, ``most_allocated.go``, ``requested_to_capacity_ratio.go``,
``helper/shape_score.go``, ``balanced_allocation.go``): the filter checks the pod
count and every requested resource against ``allocatable`` minus what assigned pods request, giving
one reason per short resource (``Insufficient cpu``, ``Too many pods``). Fit's score uses the
*non-zero* requests (a container without requests counts as 100m cpu / 200Mi) over cpu and memory,
weight 1 each, leaving out resources the node does not have and extended resources the pod does not
ask for; ``LeastAllocated`` (the default) prefers emptier nodes, ``MostAllocated`` fuller ones (bin
packing), ``RequestedToCapacityRatio`` scores each resource's utilization (0-100, capped at 100)
through a broken-line ``shape`` of points (utilization, score 0-10, scaled ×10), skipping resources
that score 0, and rounds the weighted mean. BalancedAllocation scores 100 × (1 − standard deviation of
the cpu and memory fractions) with the actual requests, and skips best-effort pods. Left out: ignored
resources and resource groups, the 1.34 UnschedulableAndUnresolvable for a pod larger than the node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from labkit.scheduler.framework import MAX_NODE_SCORE, CycleState, Status
from labkit.scheduler.interface import FilterPlugin, PreScorePlugin, ScorePlugin
from labkit.scheduler.types import NodeInfo, PodInfo, Resource

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
SCORING_STRATEGIES = (LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO)
DEFAULT_RESOURCES = (("cpu", 1), ("memory", 1))
MAX_CUSTOM_PRIORITY_SCORE = 10  # a shape point's highest score; scaled to MAX_NODE_SCORE
Shape = tuple[tuple[int, int], ...]  # (utilization 0-100, score 0-10), utilization increasing


def is_scalar(name: str) -> bool:
    """``IsScalarResourceName``: extended, hugepages and ``kubernetes.io/``-prefixed resources."""
    return "/" in name or name.startswith("hugepages-")


def insufficient_resources(pod: Resource, node: NodeInfo) -> list[str]:
    """``fitsRequest``'s reasons, in kube's order: pods, cpu, memory, ephemeral-storage, the rest."""
    reasons = []
    alloc, used = node.allocatable, node.requested
    if len(node.pods) + 1 > alloc.allowed_pod_number:
        reasons.append("Too many pods")
    if pod.milli_cpu and alloc.milli_cpu < pod.milli_cpu + used.milli_cpu:
        reasons.append("Insufficient cpu")
    if pod.memory and alloc.memory < pod.memory + used.memory:
        reasons.append("Insufficient memory")
    if pod.ephemeral_storage and alloc.ephemeral_storage < pod.ephemeral_storage + used.ephemeral_storage:
        reasons.append("Insufficient ephemeral-storage")
    for name, amount in sorted(pod.scalar.items()):
        if amount and alloc.scalar.get(name, 0) < amount + used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def broken_linear(shape: Shape) -> Callable[[int], int]:
    """``BuildBrokenLinearFunction``: the first point's score below it, the last's above it, integer
    interpolation between points."""
    def f(p: int) -> int:
        for i, (utilization, score) in enumerate(shape):
            if p <= utilization:
                if i == 0:
                    return score
                u0, s0 = shape[i - 1]
                return s0 + int((score - s0) * (p - u0) / (utilization - u0))  # Go truncates toward zero
        return shape[-1][1]
    return f


def _least(requested: int, capacity: int) -> int:
    return 0 if requested > capacity else (capacity - requested) * MAX_NODE_SCORE // capacity


def _most(requested: int, capacity: int) -> int:
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


class NodeResourcesFit(FilterPlugin, ScorePlugin):
    """``NodeResourcesFit(strategy, resources, shape)``: ``shape`` only with ``RequestedToCapacityRatio``."""

    name = "NodeResourcesFit"

    def __init__(self, strategy: str = LEAST_ALLOCATED, resources: tuple[tuple[str, int], ...] = DEFAULT_RESOURCES,
                 shape: Shape = ()) -> None:
        if strategy not in SCORING_STRATEGIES:
            raise ValueError(f"scoring strategy {strategy} is not supported")
        self.strategy = strategy
        self.resources = resources
        self.shape = shape
        self._readers = tuple((Resource.getter(name), weight, is_scalar(name)) for name, weight in resources)
        if strategy == REQUESTED_TO_CAPACITY_RATIO:
            raw = broken_linear(tuple((u, s * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE)) for u, s in shape))
            self._resource_score = lambda requested, capacity: raw(_most(requested, capacity))
        else:
            self._resource_score = _most if strategy == MOST_ALLOCATED else _least

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        reasons = insufficient_resources(pod.requests, node)
        return Status.unschedulable(*reasons) if reasons else None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        total = weights = 0
        ratio = self.strategy == REQUESTED_TO_CAPACITY_RATIO
        alloc, used, wanted = node.allocatable, node.non_zero_requested, pod.non_zero_requests
        for get, weight, scalar in self._readers:
            capacity, asked = get(alloc), get(wanted)
            if capacity == 0 or (scalar and asked == 0):  # not on the node, or an extended resource not asked for
                continue
            s = self._resource_score(get(used) + asked, capacity)
            if ratio and s <= 0:  # a resource scoring 0 does not weigh in the mean
                continue
            total += s * weight
            weights += weight
        if not weights:
            return 0
        return math.floor(total / weights + 0.5) if ratio else total // weights  # Go's math.Round for the ratio


class NodeResourcesBalancedAllocation(PreScorePlugin, ScorePlugin):
    name = "NodeResourcesBalancedAllocation"

    def __init__(self, resources: tuple[str, ...] = ("cpu", "memory")) -> None:
        self.resources = resources
        self._readers = tuple((Resource.getter(name), is_scalar(name)) for name in resources)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        if not any(get(pod.requests) for get, _ in self._readers):
            return Status.skip()  # a best-effort pod: balance says nothing about where it goes (kube #129138)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        fractions = []
        alloc, used, wanted = node.allocatable, node.requested, pod.requests
        for get, scalar in self._readers:
            capacity, asked = get(alloc), get(wanted)
            if capacity and not (scalar and asked == 0):
                fractions.append(min((get(used) + asked) / capacity, 1.0))
        if len(fractions) == 2:
            std = abs(fractions[0] - fractions[1]) / 2
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            std = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
        else:
            std = 0.0
        return int((1 - std) * MAX_NODE_SCORE)
