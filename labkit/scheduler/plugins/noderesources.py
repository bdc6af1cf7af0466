"""NodeResourcesFit and NodeResourcesBalancedAllocation: does the pod's request fit what is left on
the node, and how full or how balanced would the node be.

Mirrors ``pkg/scheduler/framework/plugins/noderesources`` (``fit.go`` ``fitsRequest``,
``least_allocated.go``, ``most_allocated.go``, ``balanced_allocation.go``): the filter checks the pod
count and every requested resource against ``allocatable`` minus what assigned pods request, giving
one reason per short resource (``Insufficient cpu``, ``Too many pods``). Fit's score uses the
*non-zero* requests (a container without requests counts as 100m cpu / 200Mi) over cpu and memory,
weight 1 each; ``LeastAllocated`` (the default) prefers emptier nodes, ``MostAllocated`` fuller ones
(bin packing). BalancedAllocation scores 100 × (1 − standard deviation of the cpu and memory
fractions) with the actual requests. Left out: ``RequestedToCapacityRatio``, ignored resource groups.
"""

from __future__ import annotations

from labkit.scheduler.framework import MAX_NODE_SCORE, CycleState, Status
from labkit.scheduler.interface import FilterPlugin, ScorePlugin
from labkit.scheduler.types import NodeInfo, PodInfo, Resource

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
DEFAULT_RESOURCES = (("cpu", 1), ("memory", 1))


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


class NodeResourcesFit(FilterPlugin, ScorePlugin):
    name = "NodeResourcesFit"

    def __init__(self, strategy: str = LEAST_ALLOCATED, resources: tuple[tuple[str, int], ...] = DEFAULT_RESOURCES) -> None:
        if strategy not in (LEAST_ALLOCATED, MOST_ALLOCATED):
            raise ValueError(f"scoring strategy {strategy!r} is not supported")
        self.strategy = strategy
        self.resources = resources
        self._readers = tuple((Resource.getter(name), weight) for name, weight in resources)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        reasons = insufficient_resources(pod.requests, node)
        return Status.unschedulable(*reasons) if reasons else None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        total = weights = 0
        most = self.strategy == MOST_ALLOCATED
        alloc, used, wanted = node.allocatable, node.non_zero_requested, pod.non_zero_requests
        for get, weight in self._readers:
            capacity = get(alloc)
            requested = get(used) + get(wanted)
            if capacity == 0:
                s = 0
            elif most:
                s = min(requested, capacity) * MAX_NODE_SCORE // capacity
            else:
                s = 0 if requested > capacity else (capacity - requested) * MAX_NODE_SCORE // capacity
            total += s * weight
            weights += weight
        return total // weights if weights else 0


class NodeResourcesBalancedAllocation(ScorePlugin):
    name = "NodeResourcesBalancedAllocation"

    def __init__(self, resources: tuple[str, ...] = ("cpu", "memory")) -> None:
        self.resources = resources
        self._readers = tuple(Resource.getter(name) for name in resources)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        fractions = []
        alloc, used, wanted = node.allocatable, node.requested, pod.requests
        for get in self._readers:
            capacity = get(alloc)
            if capacity:
                fractions.append(min((get(used) + get(wanted)) / capacity, 1.0))
        if len(fractions) == 2:
            std = abs(fractions[0] - fractions[1]) / 2
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            std = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
        else:
            std = 0.0
        return int((1 - std) * MAX_NODE_SCORE)
