"""PodTopologySpread, after kube's ``podtopologyspread`` tests: ``filtering_test.go``
(``TestSingleConstraint``, ``TestMultipleConstraints``, minDomains, the node inclusion policies,
``TestPreFilterStateAddPod``/``RemovePod``) and ``scoring_test.go`` (``TestPodTopologySpreadScore``).
Nodes are kube's node-a, node-b (zone1) and node-x, node-y (zone2), labelled ``zone`` and ``node``.
Left out with the plugin's features: the cluster-level default constraints."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.scheduler.framework import Code, CycleState, Framework
from labkit.scheduler.plugins import PodTopologySpread
from labkit.scheduler.types import NodeInfo, PodInfo

from .helpers import OK, UNRESOLVABLE, UNSCHEDULABLE, filter_statuses, node, place, pod, scores

Obj = dict[str, Any]
FAIL = (UNSCHEDULABLE, "node(s) didn't match pod topology spread constraints")
NO_LABEL = (UNRESOLVABLE, "node(s) didn't match pod topology spread constraints (missing required label)")
FOO = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}
BAR = {"matchExpressions": [{"key": "bar", "operator": "Exists"}]}


def spread(key: str, max_skew: int = 1, when: str = "DoNotSchedule", selector: Obj | None = None, **extra: Any) -> Obj:
    return {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": FOO if selector is None else selector, **extra}


def four_nodes(counts: dict[str, int] | None = None, *, labels: Obj | None = None, skip_zone: str = "",
               pod_labels: Obj | None = None, **node_kw: Any) -> list[NodeInfo]:
    """node-a, node-b in zone1 and node-x, node-y in zone2, each with ``counts[name]`` pods labelled foo."""
    out = []
    for name, zone in (("node-a", "zone1"), ("node-b", "zone1"), ("node-x", "zone2"), ("node-y", "zone2")):
        short = name[-1]
        node_labels = {"node": name, **({} if short == skip_zone else {"zone": zone}), **(labels or {}).get(short, {})}
        n = node(name, labels=node_labels, **node_kw.get(short, {}))
        out.append(place(n, *[pod(f"p-{short}{i}", labels=pod_labels or {"foo": ""})
                              for i in range((counts or {}).get(short, 0))]))
    return out


def incoming(*constraints: Obj, labels: Obj | None = None, **spec: Any) -> PodInfo:
    return pod("p", labels={"foo": ""} if labels is None else labels, topologySpreadConstraints=list(constraints),
               **spec)


def by_node(a: Any, b: Any, x: Any, y: Any) -> dict[str, Any]:
    return {"node-a": a, "node-b": b, "node-x": x, "node-y": y}


FILTER_CASES: list[tuple[str, PodInfo, list[NodeInfo], dict[str, tuple[Code, str]]]] = [
    ("no existing pods", incoming(spread("zone")), four_nodes(), by_node(OK, OK, OK, OK)),
    ("no existing pods, incoming pod doesn't match itself", incoming(spread("zone", selector=BAR)), four_nodes(),
     by_node(OK, OK, OK, OK)),
    ("existing pods in a different namespace do not count",
     incoming(spread("zone")),
     [place(node("node-a", labels={"zone": "zone1", "node": "node-a"}), pod("a1", namespace="ns1", labels={"foo": ""}),
            pod("a2", namespace="ns2", labels={"foo": ""})),
      place(node("node-x", labels={"zone": "zone2", "node": "node-x"}), pod("x1", labels={"foo": ""}),
            pod("x2", labels={"foo": ""}))],
     {"node-a": OK, "node-x": FAIL}),
    ("pods spread across zones as 3/3, all nodes fit", incoming(spread("zone")),
     four_nodes({"a": 2, "b": 1, "x": 1, "y": 2}), by_node(OK, OK, OK, OK)),
    ("pods spread across zones as 1/2 due to absence of label 'zone' on node-b", incoming(spread("zone")),
     four_nodes({"a": 1, "b": 1, "x": 2}, skip_zone="b"), by_node(OK, NO_LABEL, FAIL, FAIL)),
    ("pod cannot be scheduled as all nodes don't have label 'rack'", incoming(spread("rack")), four_nodes(),
     by_node(NO_LABEL, NO_LABEL, NO_LABEL, NO_LABEL)),
    ("pods spread across nodes as 2/1/0/3, only node-x fits", incoming(spread("node")),
     four_nodes({"a": 2, "b": 1, "y": 3}), by_node(FAIL, FAIL, OK, FAIL)),
    ("pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit", incoming(spread("node", 2)),
     four_nodes({"a": 2, "b": 1, "y": 3}), by_node(FAIL, OK, OK, FAIL)),
    ("pods spread across nodes as 2/1/0/3, but pod doesn't match itself", incoming(spread("node", selector=BAR)),
     four_nodes({"a": 2, "b": 1, "y": 3}, pod_labels={"bar": ""}), by_node(FAIL, OK, OK, FAIL)),
    ("incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits (b and x: the filter alone)",
     incoming(spread("node"), affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [{"key": "node", "operator": "In",
                                                      "values": ["node-a", "node-y"]}]}]}}}),
     four_nodes({"a": 2, "b": 1, "y": 3}), by_node(OK, OK, OK, FAIL)),
    ("terminating pods are not counted", incoming(spread("node")),
     [place(node("node-a", labels={"node": "node-a"}), pod("a1", labels={"foo": ""}, terminating=True)),
      place(node("node-b", labels={"node": "node-b"}), pod("b1", labels={"foo": ""}))],
     {"node-a": OK, "node-b": FAIL}),
    ("minDomains above the domain count makes the global minimum 0", incoming(spread("zone", minDomains=3)),
     four_nodes({"a": 1, "x": 2}), by_node(FAIL, FAIL, FAIL, FAIL)),
    ("minDomains reached: the global minimum counts", incoming(spread("zone", minDomains=2)),
     four_nodes({"a": 1, "x": 2}), by_node(OK, OK, FAIL, FAIL)),
    ("nodeAffinityPolicy Honor: a node the pod cannot go to is not a domain",
     incoming(spread("zone"), nodeSelector={"ssd": "yes"}),
     four_nodes({"a": 1, "b": 1}, labels={"a": {"ssd": "yes"}, "x": {"ssd": "yes"}}), by_node(FAIL, FAIL, OK, OK)),
    ("nodeAffinityPolicy Ignore: every node with the key is a domain",
     incoming(spread("zone", nodeAffinityPolicy="Ignore"), nodeSelector={"ssd": "yes"}),
     four_nodes({"a": 1, "b": 1, "y": 1}, labels={"a": {"ssd": "yes"}, "x": {"ssd": "yes"}}),
     by_node(FAIL, FAIL, OK, OK)),
    ("nodeTaintsPolicy Ignore (default): a tainted node's domain counts",
     incoming(spread("node")), four_nodes({"a": 1, "b": 1, "x": 1}, y={"taints": [{"key": "t", "effect": "NoSchedule"}]}),
     by_node(FAIL, FAIL, FAIL, OK)),
    ("nodeTaintsPolicy Honor: a node with an untolerated taint is not a domain",
     incoming(spread("node", nodeTaintsPolicy="Honor")),
     four_nodes({"a": 1, "b": 1, "x": 1}, y={"taints": [{"key": "t", "effect": "NoSchedule"}]}),
     by_node(OK, OK, OK, OK)),
    ("nodeTaintsPolicy Honor: a tolerated taint still counts",
     incoming(spread("node", nodeTaintsPolicy="Honor"), tolerations=[{"key": "t", "operator": "Exists"}]),
     four_nodes({"a": 1, "b": 1, "x": 1}, y={"taints": [{"key": "t", "effect": "NoSchedule"}]}),
     by_node(FAIL, FAIL, FAIL, OK)),
    ("matchLabelKeys narrows the selector to the pod's own value",
     incoming(spread("node", selector={}, matchLabelKeys=["rev"]), labels={"rev": "2"}),
     four_nodes({"a": 1, "b": 1, "x": 1, "y": 1}, pod_labels={"rev": "1"}), by_node(OK, OK, OK, OK)),
    ("ScheduleAnyway constraints do not filter", incoming(spread("node", when="ScheduleAnyway")),
     four_nodes({"a": 3}), by_node(OK, OK, OK, OK)),
    # TestMultipleConstraints
    ("two constraints on zone and node, spread as 2/0/0/1: only node-x fits",
     incoming(spread("zone"), spread("node")), four_nodes({"a": 2, "y": 1}), by_node(FAIL, FAIL, OK, FAIL)),
    ("two constraints on zone and node, spread as 1/1/2/1: node-a and node-b fit (zone), node-y too (node)",
     incoming(spread("zone"), spread("node")), four_nodes({"a": 1, "b": 1, "x": 2, "y": 1}),
     by_node(OK, OK, FAIL, FAIL)),
    ("two constraints, node-b lacks the zone label", incoming(spread("zone"), spread("node")),
     four_nodes({"a": 1, "x": 2, "y": 2}, skip_zone="b"), by_node(OK, NO_LABEL, FAIL, FAIL)),
]


@pytest.mark.parametrize("p,nodes,want", [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter(p: PodInfo, nodes: list[NodeInfo], want: dict[str, tuple[Code, str]]) -> None:
    assert filter_statuses(PodTopologySpread(), p, nodes) == want


def test_pre_filter_skips_a_pod_without_hard_constraints() -> None:
    assert PodTopologySpread().pre_filter(CycleState(), incoming(), four_nodes()).code == Code.Skip  # type: ignore[union-attr]


def pre_filtered(p: PodInfo, nodes: list[NodeInfo]) -> tuple[Framework, CycleState]:
    fw = Framework([PodTopologySpread()], {})
    state = CycleState()
    assert fw.run_pre_filter_plugins(state, p, nodes).is_success()
    return fw, state


def counts(state: CycleState) -> list[dict[str, int]]:
    return [c.counts for c in state.read("PodTopologySpread").constraints]


def test_remove_pod_lowers_the_count_and_lets_the_pod_in() -> None:
    """``TestPreFilterStateRemovePod``: preemption's what-if takes node-y's matching pods away."""
    nodes = four_nodes({"a": 2, "b": 1, "y": 3})
    p = incoming(spread("zone"), spread("node"))
    fw, state = pre_filtered(p, nodes)
    assert counts(state) == [{"zone1": 3, "zone2": 3}, {"node-a": 2, "node-b": 1, "node-x": 0, "node-y": 3}]
    what_if, cloned = nodes[3].clone(), state.clone()
    for victim in list(what_if.pods):
        what_if.remove_pod(victim.key)
        assert fw.run_pre_filter_extension_remove_pod(cloned, p, victim, what_if).is_success()
    assert counts(cloned) == [{"zone1": 3, "zone2": 0}, {"node-a": 2, "node-b": 1, "node-x": 0, "node-y": 0}]
    assert counts(state)[1]["node-y"] == 3  # the cycle's own state is untouched
    assert fw.run_filter_plugins(cloned, p, what_if).is_success()
    assert not fw.run_filter_plugins(state, p, nodes[3]).is_success()


@pytest.mark.parametrize("added,on,want", [
    (pod("new", labels={"foo": ""}), "node-x", {"node-x": 1}),
    (pod("other-ns", namespace="ns2", labels={"foo": ""}), "node-x", {"node-x": 0}),
    (pod("no-match", labels={"bar": ""}), "node-x", {"node-x": 0}),
], ids=["a matching pod counts", "another namespace does not", "a pod the selector does not match does not"])
def test_add_pod(added: PodInfo, on: str, want: dict[str, int]) -> None:
    """``TestPreFilterStateAddPod``."""
    nodes = four_nodes({"a": 1})
    p = incoming(spread("node"))
    fw, state = pre_filtered(p, nodes)
    target = next(n for n in nodes if n.name == on)
    assert fw.run_pre_filter_extension_add_pod(state, p, added, target).is_success()
    assert {k: v for k, v in counts(state)[0].items() if k in want} == want


def test_add_pod_on_a_node_the_pod_cannot_go_to_does_not_count() -> None:
    nodes = four_nodes(labels={"a": {"ssd": "yes"}})
    p = incoming(spread("node"), nodeSelector={"ssd": "yes"})
    fw, state = pre_filtered(p, nodes)
    assert fw.run_pre_filter_extension_add_pod(state, p, pod("n", labels={"foo": ""}), nodes[1]).is_success()
    assert counts(state) == [{"node-a": 0}]


def hostnames(*names: str) -> list[NodeInfo]:
    return [node(n, labels={"kubernetes.io/hostname": n}) for n in names]


def zones(pods: dict[str, int], **extra_labels: Obj) -> list[NodeInfo]:
    return four_nodes({k: v for k, v in pods.items()}, labels=extra_labels)


HOST = "kubernetes.io/hostname"
SOFT = dict(when="ScheduleAnyway")
SCORE_CASES: list[tuple[str, PodInfo, list[NodeInfo], list[str] | None, list[int] | None]] = [
    # name, pod, all nodes, the feasible ones (None: all), normalized scores (None: PreScore skipped)
    ("no ScheduleAnyway constraint: PreScore skips", incoming(spread(HOST)), hostnames("node-a", "node-b"), None, None),
    ("one constraint on node, no existing pods", incoming(spread(HOST, **SOFT)), hostnames("node-a", "node-b"), None,
     [100, 100]),
    ("one constraint on node, only one node is a candidate", incoming(spread(HOST, **SOFT)),
     [place(n, pod(f"e-{n.name}", labels={"foo": ""})) if n.name == "node-b" else n
      for n in hostnames("node-a", "node-b")], ["node-a"], [100]),
    ("one constraint on node, all nodes have the same number of matching pods", incoming(spread(HOST, **SOFT)),
     [place(n, pod(f"e-{n.name}", labels={"foo": ""})) for n in hostnames("node-a", "node-b")], None, [100, 100]),
    ("one constraint on node, all 4 nodes are candidates (counts 1/2/3/0, weight ln 6)", incoming(spread(HOST, **SOFT)),
     [place(n, *[pod(f"e-{n.name}-{i}", labels={"foo": ""}) for i in range(c)])
      for n, c in zip(hostnames("node-a", "node-b", "node-c", "node-d"), (1, 2, 3, 0), strict=True)], None,
     [60, 20, 0, 100]),
    ("one constraint on zone: zone1 3 pods, zone2 1 (weight ln 4)", incoming(spread("zone", **SOFT)),
     zones({"a": 2, "b": 1, "x": 1}), None, [25, 25, 100, 100]),
    ("maxSkew 2 adds 1 to every raw score", incoming(spread("zone", 2, **SOFT)), zones({"a": 2, "b": 1, "x": 1}), None,
     [40, 40, 100, 100]),
    ("a node without the topology key is ignored and scores 0", incoming(spread("zone", **SOFT)),
     [node("node-a", labels={"zone": "zone1"}), node("node-b")], None, [100, 0]),
    ("pods on nodes that are not feasible still count", incoming(spread("zone", **SOFT)),
     zones({"b": 2, "x": 1}), ["node-a", "node-x"], [33, 100]),
    ("nodeAffinityPolicy Honor: pods on nodes the pod cannot go to do not count",
     incoming(spread("zone", **SOFT), nodeSelector={"ssd": "yes"}),
     zones({"b": 2, "x": 1}, a={"ssd": "yes"}, x={"ssd": "yes"}), ["node-a", "node-x"], [100, 0]),
    ("nodeAffinityPolicy Ignore: they do", incoming(spread("zone", nodeAffinityPolicy="Ignore", **SOFT),
                                                   nodeSelector={"ssd": "yes"}),
     zones({"b": 2, "x": 1}, a={"ssd": "yes"}, x={"ssd": "yes"}), ["node-a", "node-x"], [33, 100]),
    ("two constraints: zone and node", incoming(spread("zone", **SOFT), spread("node", **SOFT)),
     zones({"a": 2, "x": 1}), None, [16, 66, 66, 100]),  # raw 2ln4+2ln6=6, 2ln4=3, ln4+ln6=3, ln4=1
    ("two constraints: a node without every key is no domain for either (node weight ln 5, not ln 6)",
     incoming(spread("zone", **SOFT), spread("node", **SOFT)), four_nodes({"a": 4, "x": 2}, skip_zone="b"), None,
     [25, 0, 75, 100]),  # raw 4ln4+4ln5=12, ignored, 2ln4+2ln5=6, 2ln4=3
]


@pytest.mark.parametrize("p,nodes,feasible,want", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
def test_score(p: PodInfo, nodes: list[NodeInfo], feasible: list[str] | None, want: list[int] | None) -> None:
    candidates = nodes if feasible is None else [n for n in nodes if n.name in feasible]
    assert scores(PodTopologySpread(), p, candidates, all_nodes=nodes) == want
