"""Plugins and the framework on in-memory NodeInfos: no cluster, no network."""

from __future__ import annotations

import random
from typing import Any

import pytest

from labkit.scheduler import Code, CycleState, NodeInfo, Plugin, PodInfo, Profile, Status
from labkit.scheduler.cache import Cache
from labkit.scheduler.explain import Attempt
from labkit.scheduler.framework import FitError, Framework
from labkit.scheduler.plugins import (DEFAULT_WEIGHTS, ImageLocality, InterPodAffinity, NodeAffinity, NodeName,
                                      NodeResourcesBalancedAllocation, NodeResourcesFit, NodeUnschedulable,
                                      PodTopologySpread, TaintToleration)
from labkit.scheduler.plugins.defaultpreemption import pick_one_node, select_victims_on_node
from labkit.scheduler.plugins.noderesources import MOST_ALLOCATED
from labkit.scheduler.schedule_one import GenericScheduler, num_feasible_nodes_to_find
from labkit.scheduler.types import pod_requests

Obj = dict[str, Any]


def node(name: str, *, cpu: str = "2", memory: str = "4Gi", pods: int = 110, labels: Obj | None = None,
         taints: list[Obj] | None = None, unschedulable: bool = False, images: list[Obj] | None = None) -> NodeInfo:
    res = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    return NodeInfo({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                     "spec": {"taints": taints or [], "unschedulable": unschedulable},
                     "status": {"allocatable": res, "images": images or []}})


def pod(name: str = "p", *, cpu: str | None = "100m", memory: str | None = None, labels: Obj | None = None,
        priority: int = 0, namespace: str = "default", **spec: Any) -> PodInfo:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return PodInfo({"metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                    "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": requests}}],
                             "priority": priority, **spec}})


def place(n: NodeInfo, *pods: PodInfo) -> NodeInfo:
    for p in pods:
        n.add_pod(p)
    return n


def run_filter(plugin: Any, p: PodInfo, nodes: list[NodeInfo]) -> dict[str, Status]:
    state = CycleState()
    state.all_nodes = nodes
    pre = getattr(plugin, "pre_filter", None)
    if pre is not None:
        s = pre(state, p, nodes)
        if s is not None and s.code == Code.Skip:
            return {n.name: Status() for n in nodes}
    return {n.name: plugin.filter(state, p, n) or Status() for n in nodes}


ZONE = "topology.kubernetes.io/zone"
CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
FILTER_CASES = [
    ("cordoned", NodeUnschedulable(), pod(), [node("a", unschedulable=True), node("b")],
     {"a": (Code.UnschedulableAndUnresolvable, "node(s) were unschedulable"), "b": (Code.Success, "")}),
    ("cordoned tolerated", NodeUnschedulable(),
     pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]),
     [node("a", unschedulable=True)], {"a": (Code.Success, "")}),
    ("nodeName", NodeName(), pod(nodeName="b"), [node("a"), node("b")],
     {"a": (Code.UnschedulableAndUnresolvable, "node(s) didn't match the requested node name"), "b": (Code.Success, "")}),
    ("taint", TaintToleration(), pod(), [node("a", taints=[CP_TAINT]), node("b")],
     {"a": (Code.UnschedulableAndUnresolvable, "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
      "b": (Code.Success, "")}),
    ("taint tolerated", TaintToleration(), pod(tolerations=[{"operator": "Exists"}]), [node("a", taints=[CP_TAINT])],
     {"a": (Code.Success, "")}),
    ("prefer-no-schedule passes", TaintToleration(), pod(),
     [node("a", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])], {"a": (Code.Success, "")}),
    ("cpu and memory", NodeResourcesFit(), pod(cpu="1500m", memory="5Gi"),
     [place(node("a"), pod("x", cpu="1")), node("b", memory="8Gi")],
     {"a": (Code.Unschedulable, "Insufficient cpu, Insufficient memory"), "b": (Code.Success, "")}),
    ("pods count", NodeResourcesFit(), pod(cpu=None), [place(node("a", pods=1), pod("x"))],
     {"a": (Code.Unschedulable, "Too many pods")}),
    ("nodeSelector", NodeAffinity(), pod(nodeSelector={"disk": "ssd"}), [node("a"), node("b", labels={"disk": "ssd"})],
     {"a": (Code.UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector"), "b": (Code.Success, "")}),
    ("required affinity Gt", NodeAffinity(),
     pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
         {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["3"]}]}]}}}),
     [node("a", labels={"gen": "3"}), node("b", labels={"gen": "4"})],
     {"a": (Code.UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector"), "b": (Code.Success, "")}),
    ("pod anti-affinity", InterPodAffinity(),
     pod(labels={"app": "web"}, affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
         {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": ZONE}]}}),
     [place(node("a", labels={ZONE: "z1"}), pod("w", labels={"app": "web"})), node("b", labels={ZONE: "z1"}),
      node("c", labels={ZONE: "z2"})],
     {"a": (Code.Unschedulable, "node(s) didn't match pod anti-affinity rules"),
      "b": (Code.Unschedulable, "node(s) didn't match pod anti-affinity rules"), "c": (Code.Success, "")}),
    ("pod affinity", InterPodAffinity(),
     pod(affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
         {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}]}}),
     [place(node("a", labels={ZONE: "z1"}), pod("d", labels={"app": "db"})), node("b", labels={ZONE: "z1"}),
      node("c", labels={ZONE: "z2"})],
     {"a": (Code.Success, ""), "b": (Code.Success, ""),
      "c": (Code.UnschedulableAndUnresolvable, "node(s) didn't match pod affinity rules")}),
    ("existing pod's anti-affinity", InterPodAffinity(), pod(labels={"app": "web"}),
     [place(node("a"), pod("x", affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
         {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}})), node("b")],
     {"a": (Code.Unschedulable, "node(s) didn't satisfy existing pods anti-affinity rules"), "b": (Code.Success, "")}),
    ("topology spread", PodTopologySpread(),
     pod(labels={"app": "web"}, topologySpreadConstraints=[{"maxSkew": 1, "topologyKey": ZONE,
                                                            "whenUnsatisfiable": "DoNotSchedule",
                                                            "labelSelector": {"matchLabels": {"app": "web"}}}]),
     [place(node("a", labels={ZONE: "z1"}), pod("w1", labels={"app": "web"})), node("b", labels={ZONE: "z2"}),
      node("c")],
     {"a": (Code.Unschedulable, "node(s) didn't match pod topology spread constraints"), "b": (Code.Success, ""),
      "c": (Code.UnschedulableAndUnresolvable, "node(s) didn't match pod topology spread constraints (missing required label)")}),
]


@pytest.mark.parametrize("plugin,p,nodes,expected", [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter(plugin: Any, p: PodInfo, nodes: list[NodeInfo], expected: dict[str, tuple[Code, str]]) -> None:
    got = run_filter(plugin, p, nodes)
    assert {name: (s.code, s.message) for name, s in got.items()} == expected


def scores(plugin: Any, p: PodInfo, nodes: list[NodeInfo]) -> list[int]:
    fw = Framework([plugin], DEFAULT_WEIGHTS)
    state = CycleState()
    state.all_nodes = nodes
    fw.run_pre_score_plugins(state, p, nodes)
    out = fw.run_score_plugins(state, p, nodes)
    return out[plugin.name][1] if plugin.name in out else []


def test_scores() -> None:
    empty, half = node("a"), place(node("b"), pod("x", cpu="1", memory="2Gi"))
    assert scores(NodeResourcesFit(), pod(cpu="1", memory="1Gi"), [empty, half]) == [62, 12]
    assert scores(NodeResourcesFit(MOST_ALLOCATED), pod(cpu="1", memory="1Gi"), [empty, half]) == [37, 87]
    assert scores(NodeResourcesBalancedAllocation(), pod(cpu="1", memory="1Gi"), [empty, half]) == [87, 87]
    assert scores(NodeResourcesBalancedAllocation(), pod(cpu="1", memory="2Gi"), [empty, half]) == [100, 100]
    soft = {"key": "k", "effect": "PreferNoSchedule"}
    assert scores(TaintToleration(), pod(), [node("a", taints=[soft]), node("b")]) == [0, 100]
    preferred = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 20, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 80, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}}]}}
    assert scores(NodeAffinity(), pod(affinity=preferred),
                  [node("a", labels={"disk": "ssd"}), node("b", labels={"gpu": "1"}), node("c")]) == [25, 100, 0]
    big = [{"names": ["nginx:latest"], "sizeBytes": 500 * 1024 * 1024}]
    cache = Cache()  # the cache counts on how many nodes each image is
    with_image = [cache.add_node(n.node) for n in (node("a", images=big), node("b"))]
    assert scores(ImageLocality(), pod(), with_image) == [23, 0]  # 500MB on half the nodes
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    web = lambda n: pod(n, labels={"app": "web"})  # noqa: E731
    assert scores(PodTopologySpread(), pod(labels={"app": "web"}, topologySpreadConstraints=spread),
                  [place(node("a"), web("1"), web("2")), place(node("b"), web("3")), node("c")]) == [0, 33, 100]  # raw 3, 2, 0
    near = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}},
                                           "topologyKey": "kubernetes.io/hostname"}}]}}
    assert scores(InterPodAffinity(), pod(affinity=near), [node("a"), place(node("b"), pod("d", labels={"app": "db"}))]) == [0, 100]


def test_requests_follow_init_container_rule() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": "200m"}}}, {"resources": {"requests": {"cpu": "300m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "1"}}},
                               {"restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}],
            "overhead": {"cpu": "50m"}}
    assert pod_requests(spec).milli_cpu == 1000 + 50  # max(500 + 100 sidecar, 1000) + overhead
    spec["initContainers"].reverse()  # the sidecar starts first and runs beside the plain init container
    assert pod_requests(spec).milli_cpu == 1100 + 50
    assert pod_requests({"containers": [{}]}, non_zero=True).milli_cpu == 100


def test_fit_error_message_and_explanation() -> None:
    nodes = [node("n1"), node("n2", taints=[CP_TAINT]), node("n3", taints=[CP_TAINT])]
    fw = Profile().framework()
    attempt = Attempt("default/p", "default-scheduler", 1)
    with pytest.raises(FitError) as e:
        GenericScheduler().schedule_pod(fw, CycleState(), pod(cpu="3"), nodes, attempt)
    assert str(e.value) == ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
                            "{node-role.kubernetes.io/control-plane: }.")
    verdicts = {(v.node, v.plugin): v.verdict for v in attempt.filters()}
    assert verdicts[("n1", "NodeUnschedulable")] == "Success"
    assert verdicts[("n1", "NodeResourcesFit")] == "Unschedulable"
    assert verdicts[("n1", "PodTopologySpread")] == "Skip"
    assert verdicts[("n2", "NodeAffinity")] == "Skip"  # the pod has no node affinity
    assert verdicts[("n2", "NodeResourcesFit")] == "not run"  # TaintToleration already rejected n2
    assert "rejected by TaintToleration" in attempt.table()


def test_scoring_explanation_and_weights() -> None:
    nodes = [place(node("busy"), pod("x", cpu="1500m", memory="3Gi")), node("idle"),
             node("soft", taints=[{"key": "k", "effect": "PreferNoSchedule"}])]
    attempt = Attempt("default/p", "default-scheduler", 1)
    chosen = GenericScheduler(rng=random.Random(0)).schedule_pod(Profile().framework(), CycleState(), pod(), nodes, attempt)
    assert chosen == "idle"
    rows = {(s.node, s.plugin): s for s in attempt.plugin_scores()}
    taint = rows[("soft", "TaintToleration")]
    assert (taint.raw, taint.normalized, taint.weight, taint.weighted) == (1, 0, 3, 0)
    assert rows[("idle", "TaintToleration")].weighted == 300
    totals = attempt.totals()
    assert list(totals)[0] == "idle" and totals["idle"] == sum(s.weighted for s in rows.values() if s.node == "idle")
    assert "NodeAffinity" not in attempt.scores  # PreScore skipped it: the pod has no preferences


def test_custom_plugin_in_a_profile() -> None:
    class Even(Plugin):
        name = "Even"

        def filter(self, state: CycleState, p: PodInfo, n: NodeInfo) -> Status | None:
            return None if int(n.name[1:]) % 2 == 0 else Status.unschedulable("node(s) are odd")

        def score(self, state: CycleState, p: PodInfo, n: NodeInfo) -> int:
            return int(n.name[1:])

    profile = Profile("mine", plugins=[Even()], weights={"Even": 5})
    attempt = Attempt("default/p", "mine", 1)
    chosen = GenericScheduler().schedule_pod(profile.framework(), CycleState(), pod(), [node(f"n{i}") for i in range(1, 7)], attempt)
    assert chosen == "n6"
    assert attempt.totals() == {"n6": 30, "n4": 20, "n2": 10}


def test_percentage_of_nodes_to_score() -> None:
    assert num_feasible_nodes_to_find(0, 50) == 50
    assert num_feasible_nodes_to_find(0, 1000) == 420
    assert num_feasible_nodes_to_find(0, 5000) == 500
    assert num_feasible_nodes_to_find(0, 200) == 100
    nodes = [node(f"n{i}") for i in range(1000)]
    g = GenericScheduler()
    attempt = Attempt("default/p", "default-scheduler", 1)
    g.schedule_pod(Profile().framework(), CycleState(), pod(), nodes, attempt)
    assert len(attempt.evaluated) == 420 and g.next_start_node_index == 420


def test_preemption_victims() -> None:
    fw = Profile().framework()
    n = place(node("a"), pod("l1", cpu="800m", priority=1), pod("l2", cpu="800m", priority=5),
              pod("h", cpu="300m", priority=100))
    state, preemptor = CycleState(), pod("p", cpu="900m", priority=50)
    fw.run_pre_filter_plugins(state, preemptor, [n])  # as in the cycle that failed
    victims = select_victims_on_node(fw, state, preemptor, n)
    assert [v.name for v in victims or []] == ["l1"]  # l2 is reprieved: it has the higher priority
    assert len(n.pods) == 3  # the what-if did not touch the node
    assert select_victims_on_node(fw, state, pod("p", cpu="2", priority=50), n) is None
    assert pick_one_node({"x": [pod("a", priority=5)], "y": [pod("b", priority=1), pod("c", priority=1)]}) == "y"
