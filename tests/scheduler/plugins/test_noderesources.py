"""NodeResourcesFit and NodeResourcesBalancedAllocation, after kube's ``noderesources`` tests:
``fit_test.go`` (``TestEnoughRequests``, ``TestNotEnoughRequests``, ``TestStorageRequests``),
``least_allocated_test.go``, ``most_allocated_test.go``, ``requested_to_capacity_ratio_test.go`` and
``balanced_allocation_test.go``. Left out with the plugin's features: ignored resources and resource
groups, and 1.34's UnschedulableAndUnresolvable for a pod larger than the whole node (v1.33 says
Unschedulable). The scoring-strategy argument validation is in ``tests/scheduler/test_config.py``."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.scheduler.framework import Code
from labkit.scheduler.plugins import NodeResourcesBalancedAllocation, NodeResourcesFit
from labkit.scheduler.plugins.noderesources import MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO, broken_linear

from .helpers import MB, OK, UNSCHEDULABLE, filter_statuses, node, place, pod, scores

Obj = dict[str, Any]
EXT_A, EXT_B, HUGE = "example.com/aaa", "example.com/bbb", "hugepages-2Mi"
# makeAllocatableResources(10, 20, 32, 5, 20, 5): cpu 10m, memory 20, 32 pods, 5 aaa, 20 storage, 5 hugepages
ALLOCATABLE = {"cpu": "10m", "memory": "20", "pods": "32", EXT_A: "5", "ephemeral-storage": "20", HUGE: "5"}


def r(cpu: int = 0, memory: int = 0, **scalar: int) -> Obj:
    """A container's requests, in kube's test units (milli-cpu, bytes); scalar names use _ for /."""
    req: Obj = {"cpu": f"{cpu}m", "memory": str(memory)}
    for name, value in scalar.items():
        req[{"aaa": EXT_A, "bbb": EXT_B, "huge": HUGE, "storage": "ephemeral-storage", "k8s_io": "kubernetes.io/something",
             "sub_k8s_io": "subdomain.kubernetes.io/something"}[name]] = str(value)
    return req


def insufficient(*names: str) -> tuple[Code, str]:
    return UNSCHEDULABLE, ", ".join(n if n == "Too many pods" else f"Insufficient {n}" for n in names)


FIT_CASES: list[tuple[str, Obj, Obj, tuple[Code, str]]] = [
    # name, pod (requests / init / overhead), the existing pod's requests, want
    ("no resources requested always fits", {}, r(10, 20), OK),
    ("too many resources fails", {"requests": r(1, 1)}, r(10, 20), insufficient("cpu", "memory")),
    ("too many resources fails due to init container cpu", {"requests": r(1, 1), "init": [r(3, 1)]}, r(8, 19),
     insufficient("cpu")),
    ("too many resources fails due to highest init container cpu", {"requests": r(1, 1), "init": [r(3, 1), r(2, 1)]},
     r(8, 19), insufficient("cpu")),
    ("too many resources fails due to init container memory", {"requests": r(1, 1), "init": [r(1, 3)]}, r(9, 19),
     insufficient("memory")),
    ("too many resources fails due to highest init container memory",
     {"requests": r(1, 1), "init": [r(1, 3), r(1, 2)]}, r(9, 19), insufficient("memory")),
    ("init container fits: the max, not the sum, of containers and init containers",
     {"requests": r(1, 1), "init": [r(1, 1)]}, r(9, 19), OK),
    ("multiple init containers fit: the max, not the sum", {"requests": r(1, 1), "init": [r(1, 1), r(1, 1)]}, r(9, 19),
     OK),
    ("both resources fit", {"requests": r(1, 1)}, r(5, 5), OK),
    ("one resource memory fits", {"requests": r(2, 1)}, r(9, 5), insufficient("cpu")),
    ("one resource cpu fits", {"requests": r(1, 2)}, r(5, 19), insufficient("memory")),
    ("equal edge case", {"requests": r(5, 1)}, r(5, 19), OK),
    ("equal edge case for init container", {"requests": r(4, 1), "init": [r(5, 1)]}, r(5, 19), OK),
    ("extended resource fits", {"requests": {EXT_A: "1"}}, {}, OK),
    ("extended resource fits for init container", {"init": [{EXT_A: "1"}]}, {}, OK),
    ("extended resource capacity enforced", {"requests": r(1, 1, aaa=10)}, r(0, 0, aaa=0), insufficient(EXT_A)),
    ("extended resource capacity enforced for init container", {"init": [r(1, 1, aaa=10)]}, r(0, 0, aaa=0),
     insufficient(EXT_A)),
    ("extended resource allocatable enforced", {"requests": r(1, 1, aaa=1)}, r(0, 0, aaa=5), insufficient(EXT_A)),
    ("extended resource allocatable enforced for init container", {"init": [r(1, 1, aaa=1)]}, r(0, 0, aaa=5),
     insufficient(EXT_A)),
    ("extended resource allocatable enforced for multiple containers", {"requests": [r(1, 1, aaa=3), r(1, 1, aaa=3)]},
     r(0, 0, aaa=2), insufficient(EXT_A)),
    ("extended resource allocatable admits multiple init containers", {"init": [r(1, 1, aaa=3), r(1, 1, aaa=3)]},
     r(0, 0, aaa=2), OK),
    ("extended resource allocatable enforced for multiple init containers",
     {"init": [r(1, 1, aaa=6), r(1, 1, aaa=3)]}, r(0, 0, aaa=2), insufficient(EXT_A)),
    ("extended resource allocatable enforced for unknown resource", {"requests": r(1, 1, bbb=1)}, r(0, 0),
     insufficient(EXT_B)),
    ("extended resource allocatable enforced for unknown resource for init container", {"init": [r(1, 1, bbb=1)]},
     r(0, 0), insufficient(EXT_B)),
    ("kubernetes.io resource capacity enforced", {"requests": r(1, 1, k8s_io=10)}, r(0, 0),
     insufficient("kubernetes.io/something")),
    ("kubernetes.io resource capacity enforced for init container", {"init": [r(1, 1, sub_k8s_io=10)]}, r(0, 0),
     insufficient("subdomain.kubernetes.io/something")),
    ("hugepages resource capacity enforced", {"requests": r(1, 1, huge=10)}, r(0, 0, huge=0), insufficient(HUGE)),
    ("hugepages resource capacity enforced for init container", {"init": [r(1, 1, huge=10)]}, r(0, 0, huge=0),
     insufficient(HUGE)),
    ("hugepages resource allocatable enforced for multiple containers",
     {"requests": [r(1, 1, huge=3), r(1, 1, huge=3)]}, r(0, 0, huge=2), insufficient(HUGE)),
    ("resources + pod overhead fits", {"requests": r(1, 1), "overhead": {"cpu": "3m", "memory": "13"}}, r(5, 5), OK),
    ("requests + overhead does not fit for memory", {"requests": r(1, 1), "overhead": {"cpu": "1m", "memory": "15"}},
     r(5, 5), insufficient("memory")),
    ("an extended resource requested as zero is not checked", {"requests": r(1, 1, aaa=0)}, r(0, 0, aaa=6), OK),
    ("only what is requested is checked", {"requests": {EXT_A: "1"}}, r(20, 30, aaa=1), OK),
    # TestStorageRequests
    ("empty storage requested, and pod fits", {"requests": r(1, 1)}, r(2, 10), OK),
    ("ephemeral local storage request exceeds allocatable", {"requests": {"ephemeral-storage": "25"}}, r(2, 2),
     insufficient("ephemeral-storage")),
    ("ephemeral local storage is sufficient", {"requests": {"ephemeral-storage": "5"}}, r(2, 2, storage=10), OK),
    ("ephemeral local storage fits", {"requests": {"ephemeral-storage": "10"}}, r(2, 2), OK),
]


@pytest.mark.parametrize("spec,existing,want", [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES])
def test_fit_filter(spec: Obj, existing: Obj, want: tuple[Code, str]) -> None:
    n = place(node("n", allocatable=ALLOCATABLE), pod("existing", requests=existing))
    assert filter_statuses(NodeResourcesFit(), pod(**spec), [n]) == {"n": want}


TOO_MANY_CASES: list[tuple[str, Obj, Obj, tuple[Code, str]]] = [
    # TestNotEnoughRequests: a node with room for one pod, which it has
    ("even without specified resources there is no space for another pod", {}, r(10, 20), insufficient("Too many pods")),
    ("even if both resources fit", {"requests": r(1, 1)}, r(5, 5), insufficient("Too many pods")),
    ("even for the equal edge case", {"requests": r(5, 1)}, r(5, 19), insufficient("Too many pods")),
    ("even for the equal edge case due to init container", {"requests": r(5, 1), "init": [r(5, 1)]}, r(5, 19),
     insufficient("Too many pods")),
    ("the pod count comes first, then each short resource", {"requests": r(6, 2)}, r(5, 19),
     insufficient("Too many pods", "cpu", "memory")),
]


@pytest.mark.parametrize("spec,existing,want", [c[1:] for c in TOO_MANY_CASES], ids=[c[0] for c in TOO_MANY_CASES])
def test_fit_filter_pod_count(spec: Obj, existing: Obj, want: tuple[Code, str]) -> None:
    n = place(node("n", allocatable={"cpu": "10m", "memory": "20", "pods": "1"}), pod("existing", requests=existing))
    assert filter_statuses(NodeResourcesFit(), pod(**spec), [n]) == {"n": want}


def cap(cpu: str, memory: str, **scalar: str) -> Obj:
    return {"cpu": cpu, "memory": memory, **{k.replace("_", "."): v for k, v in scalar.items()}}


TWO_CONTAINERS = [{"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"}]
EXT = "intel.com/foo"
LEAST_CASES: list[tuple[str, Any, list[Obj], list[list[Any]], list[int], tuple[tuple[str, int], ...]]] = [
    # name, pod's container requests, node allocatable, each node's existing pods' requests, scores, resources
    ("nothing scheduled, nothing requested", None, [cap("4000", "10000")] * 2, [[], []], [100, 100],
     (("cpu", 1), ("memory", 1))),
    ("nothing scheduled, resources requested, differently sized nodes", TWO_CONTAINERS,
     [cap("4000", "10000"), cap("6000", "10000")], [[], []], [37, 50], (("cpu", 1), ("memory", 1))),
    ("no resources requested, pods scheduled", None, [cap("4000", "10000")] * 2, [[None, None], [None, None]],
     [100, 100], (("cpu", 1), ("memory", 1))),
    ("no resources requested, pods scheduled with resources", None, [cap("10000", "20000")] * 2,
     [[{"cpu": "3000", "memory": "0"}] * 2, [{"cpu": "3000", "memory": "0"}, {"cpu": "3000", "memory": "5000"}]],
     [70, 57], (("cpu", 1), ("memory", 1))),
    ("resources requested, pods scheduled with resources", TWO_CONTAINERS, [cap("10000", "20000")] * 2,
     [[{"cpu": "3000", "memory": "0"}], [{"cpu": "3000", "memory": "5000"}]], [57, 45], (("cpu", 1), ("memory", 1))),
    ("resources requested, pods scheduled with resources, differently sized nodes", TWO_CONTAINERS,
     [cap("10000", "20000"), cap("10000", "50000")],
     [[{"cpu": "3000", "memory": "0"}], [{"cpu": "3000", "memory": "5000"}]], [57, 60], (("cpu", 1), ("memory", 1))),
    ("requested resources exceed node capacity", {"cpu": "3000", "memory": "0"}, [cap("4000", "10000")] * 2,
     [[{"cpu": "3000", "memory": "0"}], [{"cpu": "3000", "memory": "5000"}]], [50, 25], (("cpu", 1), ("memory", 1))),
    ("zero node resources, pods scheduled with resources", None, [{}, {}],
     [[{"cpu": "3000", "memory": "0"}], [{"cpu": "3000", "memory": "5000"}]], [0, 0], (("cpu", 1), ("memory", 1))),
    ("different weights on cpu and memory, differently sized nodes", TWO_CONTAINERS,
     [cap("4000", "10000"), cap("6000", "10000")], [[], []], [41, 50], (("memory", 2), ("cpu", 1))),
    ("bypass an extended resource the pod does not request", TWO_CONTAINERS,
     [cap("6000", "10000"), cap("6000", "10000", **{"intel_com/foo": "4"})], [[], []], [50, 50],
     (("cpu", 1), ("memory", 1), (EXT, 1))),
    ("honor an extended resource the pod requests", [{**TWO_CONTAINERS[0], EXT: "2"}, TWO_CONTAINERS[1]],
     [cap("6000", "10000", **{"intel_com/foo": "4"}), cap("6000", "10000", **{"intel_com/foo": "10"})], [[], []],
     [50, 60], (("cpu", 1), ("memory", 1), (EXT, 1))),
    ("a resource the node does not have is left out of the average", TWO_CONTAINERS,
     [{"cpu": "4000"}, cap("4000", "10000")], [[], []], [25, 37], (("cpu", 1), ("memory", 1))),
]


def score_nodes(allocatable: list[Obj], existing: list[list[Any]]) -> list[Any]:
    return [place(node(f"node{i + 1}", allocatable=a), *[pod(f"e{i}{j}", requests=req) for j, req in enumerate(reqs)])
            for i, (a, reqs) in enumerate(zip(allocatable, existing, strict=True))]


@pytest.mark.parametrize("requests,allocatable,existing,want,resources", [c[1:] for c in LEAST_CASES],
                         ids=[c[0] for c in LEAST_CASES])
def test_least_allocated_score(requests: Any, allocatable: list[Obj], existing: list[list[Any]], want: list[int],
                               resources: tuple[tuple[str, int], ...]) -> None:
    plugin = NodeResourcesFit(resources=resources)
    assert scores(plugin, pod(requests=requests), score_nodes(allocatable, existing)) == want


MOST_CASES: list[tuple[str, Any, list[Obj], list[list[Any]], list[int]]] = [
    ("nothing scheduled, nothing requested", None, [cap("4000", "10000")] * 2, [[], []], [0, 0]),
    ("nothing scheduled, resources requested, differently sized nodes", TWO_CONTAINERS,
     [cap("4000", "10000"), cap("6000", "10000")], [[], []], [62, 50]),
    ("resources requested, pods scheduled with resources", TWO_CONTAINERS, [cap("10000", "20000")] * 2,
     [[{"cpu": "3000", "memory": "0"}], [{"cpu": "3000", "memory": "5000"}]], [42, 55]),
    ("requested above capacity counts as full", {"cpu": "3000", "memory": "0"}, [cap("4000", "10000")] * 2,
     [[{"cpu": "3000", "memory": "0"}], [{"cpu": "3000", "memory": "5000"}]], [50, 75]),
    ("a container without requests counts as 100m and 200Mi", [{}], [cap("1", "800Mi")], [[]], [17]),
]


@pytest.mark.parametrize("requests,allocatable,existing,want", [c[1:] for c in MOST_CASES],
                         ids=[c[0] for c in MOST_CASES])
def test_most_allocated_score(requests: Any, allocatable: list[Obj], existing: list[list[Any]], want: list[int]) -> None:
    assert scores(NodeResourcesFit(MOST_ALLOCATED), pod(requests=requests), score_nodes(allocatable, existing)) == want


SPREAD_SHAPE = ((0, 10), (100, 0))  # TestRequestedToCapacityRatioScoringStrategy's shape: emptier is better
RATIO_CASES: list[tuple[str, Any, list[Obj], list[list[Any]], list[int]]] = [
    ("nothing scheduled, nothing requested", None, [cap("4000", "10000")] * 2, [[None, None], []], [100, 100]),
    ("nothing scheduled, resources requested, differently sized nodes: 37.5 rounds to 38", TWO_CONTAINERS,
     [cap("4000", "10000"), cap("6000", "10000")], [[None, None], []], [38, 50]),
    ("no resources requested, pods scheduled with resources", None, [cap("4000", "10000"), cap("6000", "10000")],
     [[{"cpu": "3000", "memory": "5000"}], [{"cpu": "3000", "memory": "5000"}]], [38, 50]),
]


@pytest.mark.parametrize("requests,allocatable,existing,want", [c[1:] for c in RATIO_CASES],
                         ids=[c[0] for c in RATIO_CASES])
def test_requested_to_capacity_ratio_score(requests: Any, allocatable: list[Obj], existing: list[list[Any]],
                                           want: list[int]) -> None:
    plugin = NodeResourcesFit(REQUESTED_TO_CAPACITY_RATIO, shape=SPREAD_SHAPE)
    assert scores(plugin, pod(requests=requests), score_nodes(allocatable, existing)) == want


FOO, BAR = "intel.com/foo", "intel.com/bar"
BIN_PACKING_CASES: list[tuple[str, Obj | None, list[Obj], Any, list[int]]] = [
    # TestResourceBinPackingSingleExtended / MultipleExtended: shape (0, 0), (100, 1); nodes 4000 cpu, 10000Mi
    ("a pod not requesting the extended resource scores 0", None, [{FOO: "8"}, {FOO: "4"}], [[], []], [0, 0]),
    ("2 of 8 and 2 of 4", {FOO: "2"}, [{FOO: "8"}, {FOO: "4"}], [[None], []], [2, 5]),
    ("an existing pod fills the second node", {FOO: "2"}, [{FOO: "8"}, {FOO: "4"}], [[], [{FOO: "2"}]], [2, 10]),
    ("4 of 8 and 4 of 4", {FOO: "4"}, [{FOO: "8"}, {FOO: "4"}], [[None], []], [5, 10]),
    ("two resources weighted 3 and 5", {FOO: "2", BAR: "2"}, [{FOO: "8", BAR: "4"}, {FOO: "4", BAR: "8"}],
     [[None], []], [4, 3]),
]


@pytest.mark.parametrize("requests,extended,existing,want", [c[1:] for c in BIN_PACKING_CASES],
                         ids=[c[0] for c in BIN_PACKING_CASES])
def test_requested_to_capacity_ratio_bin_packing(requests: Obj | None, extended: list[Obj], existing: Any,
                                                 want: list[int]) -> None:
    resources = ((FOO, 3), (BAR, 5)) if len(extended[0]) == 2 else ((FOO, 1),)
    plugin = NodeResourcesFit(REQUESTED_TO_CAPACITY_RATIO, resources, shape=((0, 0), (100, 1)))
    allocatable = [cap("4000", f"{10000 * MB}", **{k.replace(".", "_"): v for k, v in e.items()}) for e in extended]
    assert scores(plugin, pod(requests=requests), score_nodes(allocatable, existing)) == want


@pytest.mark.parametrize("shape,points", [
    # TestBrokenLinearFunction: (utilization, expected score)
    (((10, 1), (90, 9)), [(-10, 1), (0, 1), (9, 1), (10, 1), (15, 1), (19, 1), (20, 2), (89, 8), (90, 9), (99, 9),
                          (100, 9), (110, 9)]),
    (((0, 2), (40, 10), (100, 0)), [(-10, 2), (0, 2), (20, 6), (30, 8), (40, 10), (70, 5), (100, 0), (110, 0)]),
    (((0, 2), (40, 2), (100, 2)), [(-10, 2), (0, 2), (20, 2), (40, 2), (70, 2), (100, 2), (110, 2)]),
])
def test_broken_linear_function(shape: tuple[tuple[int, int], ...], points: list[tuple[int, int]]) -> None:
    f = broken_linear(shape)
    assert [(p, f(p)) for p, _ in points] == points


CPU_AND_MEMORY = [{"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000"}]
CPU_ONLY = [{"cpu": "1000m", "memory": "0"}, {"cpu": "2000m", "memory": "0"}]
BALANCED_CASES: list[tuple[str, Any, list[Obj], list[list[Any]], list[int] | None, tuple[str, ...]]] = [
    # name, pod's container requests, allocatable, existing pods, scores (None: PreScore skipped), resources
    ("a best-effort pod: PreScore skips", None, [cap("4000m", "10000")] * 2, [[], []], None, ("cpu", "memory")),
    ("nothing scheduled, resources requested, differently sized nodes", CPU_AND_MEMORY,
     [cap("4000m", "10000"), cap("6000m", "10000")], [[], []], [87, 100], ("cpu", "memory")),
    ("resources requested, pods scheduled with resources", CPU_AND_MEMORY, [cap("10000m", "20000")] * 2,
     [[CPU_ONLY], [CPU_AND_MEMORY]], [82, 95], ("cpu", "memory")),
    ("resources requested, pods scheduled with resources, differently sized nodes", CPU_AND_MEMORY,
     [cap("10000m", "20000"), cap("10000m", "50000")], [[CPU_ONLY], [CPU_AND_MEMORY]], [82, 80], ("cpu", "memory")),
    ("requested resources exceed node capacity: fractions cap at 1", CPU_ONLY, [cap("4000m", "10000")] * 2,
     [[CPU_ONLY], [CPU_AND_MEMORY]], [50, 75], ("cpu", "memory")),
    ("zero node resources", CPU_AND_MEMORY, [{}, {}], [[], []], [100, 100], ("cpu", "memory")),
    ("an extended resource the pod requests counts", [{"cpu": "3000m", EXT: "2"}],
     [cap("6000m", "1", **{"intel_com/foo": "4"}), cap("6000m", "1", **{"intel_com/foo": "8"})], [[], []], [100, 87],
     ("cpu", EXT)),
    ("an extended resource the pod does not request is bypassed", CPU_AND_MEMORY,
     [cap("6000m", "10000", **{"intel_com/foo": "4"})] * 2, [[], []], [100, 100], ("cpu", "memory", EXT)),
]


@pytest.mark.parametrize("requests,allocatable,existing,want,resources", [c[1:] for c in BALANCED_CASES],
                         ids=[c[0] for c in BALANCED_CASES])
def test_balanced_allocation_score(requests: Any, allocatable: list[Obj], existing: list[list[Any]],
                                   want: list[int] | None, resources: tuple[str, ...]) -> None:
    nodes = [place(node(f"node{i + 1}", allocatable=a), *[pod(f"e{i}{j}", requests=req) for j, req in enumerate(reqs)])
             for i, (a, reqs) in enumerate(zip(allocatable, existing, strict=True))]
    assert scores(NodeResourcesBalancedAllocation(resources), pod(requests=requests), nodes) == want
