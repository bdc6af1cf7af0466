"""DefaultPreemption, after kube's ``defaultpreemption/default_preemption_test.go``: ``TestPostFilter``
(the messages), ``TestSelectNodesForPreemption`` / ``TestDryRunPreemption`` (which pods on a node are
victims, with the PreFilter extensions keeping PodTopologySpread and InterPodAffinity right),
``TestPickOneNodeForPreemption`` and ``TestPodEligibleToPreemptOthers``. Left out with the plugin's
features: PodDisruptionBudgets, candidate sampling, the start-time tie-break between nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from labkit.client import APIStatusError
from labkit.scheduler.explain import Attempt
from labkit.scheduler.framework import Code, CycleState, FitError, Framework, Handle, Status, WaitingPod
from labkit.scheduler.plugins import (DefaultPreemption, InterPodAffinity, NodeResourcesFit, NodeUnschedulable,
                                      PodTopologySpread, TaintToleration)
from labkit.scheduler.plugins.defaultpreemption import pick_one_node, select_victims_on_node
from labkit.scheduler.schedule_one import GenericScheduler
from labkit.scheduler.types import NodeInfo, PodInfo

from .helpers import node, place, pod

Obj = dict[str, Any]
LOW, MID, HIGH = 0, 100, 1000
SMALL, LARGE = {"cpu": "100m"}, {"cpu": "800m"}
NODE_RES = {"cpu": "1000m"}


def plugins() -> list[Any]:
    return [NodeUnschedulable(), TaintToleration(), NodeResourcesFit(), PodTopologySpread(), InterPodAffinity(),
            DefaultPreemption()]


def cycle(p: PodInfo, nodes: Sequence[NodeInfo]) -> tuple[Framework, CycleState, dict[str, Status]]:
    """A scheduling cycle that finds no node, as the one preemption follows."""
    fw = Framework(plugins(), {})
    state = CycleState()
    with pytest.raises(FitError) as e:
        GenericScheduler().schedule_pod(fw, state, p, nodes, Attempt(p.key, "default-scheduler", 1))
    return fw, state, e.value.diagnosis.node_to_status


def post_filter(p: PodInfo, nodes: Sequence[NodeInfo]) -> tuple[Code, str, str]:
    fw, state, statuses = cycle(p, nodes)
    spawned: list[Any] = []
    handle = Handle(client=None, framework=fw, nodes=nodes, spawn=spawned.append, recorder=None)
    status, nominated = fw.run_post_filter_plugins(state, p, statuses, handle)
    for coro in spawned:
        coro.close()
    return status.code, status.message, nominated


def n(name: str, *pods: PodInfo, **kw: Any) -> NodeInfo:
    return place(node(name, allocatable=NODE_RES, **kw), *pods)


CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
POST_FILTER_CASES: list[tuple[str, PodInfo, list[NodeInfo], tuple[Code, str, str]]] = [
    ("a pod with higher priority can be made schedulable", pod(priority=HIGH, requests=LARGE),
     [n("node1", pod("p1", priority=LOW, requests=LARGE))], (Code.Success, "", "node1")),
    ("no preemption when the pod's preemptionPolicy is Never",
     pod(priority=HIGH, requests=LARGE, preemptionPolicy="Never"), [n("node1", pod("p1", priority=LOW, requests=LARGE))],
     (Code.Unschedulable, "preemption: not eligible due to preemptionPolicy=Never.", "")),
    ("preemption respects the filters' UnschedulableAndUnresolvable", pod(priority=HIGH, requests=LARGE),
     [n("node1", pod("p1", priority=LOW, requests=LARGE), taints=[CP_TAINT])],
     (Code.Unschedulable, "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.", "")),
    ("the pod can be made schedulable on one node", pod(priority=MID, requests=LARGE),
     [n("node1", pod("p1", priority=HIGH, requests=LARGE)), n("node2", pod("p2", priority=LOW, requests=LARGE))],
     (Code.Success, "", "node2")),
    ("no candidate: not enough cpu even after removing the lower-priority pods", pod(priority=HIGH, requests={"cpu": "2"}),
     [n("node1", pod("p1", priority=LOW, requests=SMALL)), n("node2", pod("p2", priority=LOW, requests=SMALL))],
     (Code.Unschedulable, "preemption: 0/2 nodes are available: 2 Insufficient cpu.", "")),
    ("no candidate, mixed reasons: no lower-priority pod, not enough cpu", pod(priority=MID, requests={"cpu": "2"}),
     [n("node1", pod("p1", priority=HIGH, requests=SMALL)), n("node2", pod("p2", priority=LOW, requests=SMALL))],
     (Code.Unschedulable, "preemption: 0/2 nodes are available: 1 Insufficient cpu, "
                          "1 No preemption victims found for incoming pod.", "")),
    ("no candidate, mixed reasons: two unresolvable nodes, two without enough cpu", pod(priority=HIGH, requests={"cpu": "2"}),
     [n("node1", pod("p1", priority=LOW, requests=SMALL)), n("node2", pod("p2", priority=LOW, requests=SMALL)),
      n("node3", taints=[CP_TAINT]), n("node4", unschedulable=True)],
     (Code.Unschedulable, "preemption: 0/4 nodes are available: 2 Insufficient cpu, "
                          "2 Preemption is not helpful for scheduling.", "")),
]


@pytest.mark.parametrize("p,nodes,want", [c[1:] for c in POST_FILTER_CASES], ids=[c[0] for c in POST_FILTER_CASES])
def test_post_filter(p: PodInfo, nodes: list[NodeInfo], want: tuple[Code, str, str]) -> None:
    assert post_filter(p, nodes) == want


PREEMPTED = [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]


def nominated_pod(**kw: Any) -> PodInfo:
    p = pod(priority=HIGH, requests=LARGE, **kw)
    p.pod["status"] = {"nominatedNodeName": "node1"}
    return p


def victim(name: str, *, preempted: bool = True, **kw: Any) -> PodInfo:
    v = pod(name, priority=LOW, requests=LARGE, terminating=True, **kw)
    if preempted:
        v.pod["status"] = {"conditions": PREEMPTED}
    return v


ELIGIBLE_CASES: list[tuple[str, PodInfo, list[NodeInfo], tuple[Code, str, str]]] = [
    ("a victim of the last preemption still terminates on the nominated node", nominated_pod(),
     [n("node1", victim("v")), n("node2", pod("p2", priority=LOW, requests=LARGE))],
     (Code.Unschedulable, "preemption: not eligible due to a terminating pod on the nominated node.", "")),
    ("a pod terminating for another reason does not hold it back (and is a victim like any other)", nominated_pod(),
     [n("node1", victim("v", preempted=False)), n("node2", pod("p2", priority=LOW, requests=LARGE))],
     (Code.Success, "", "node1")),
    ("a terminating pod of higher priority does not hold it back", nominated_pod(),
     [n("node1", pod("v", priority=HIGH + 1, requests=LARGE, terminating=True)),
      n("node2", pod("p2", priority=LOW, requests=LARGE))], (Code.Success, "", "node2")),
    ("the nominated node is now unresolvable: preempt elsewhere", nominated_pod(),
     [n("node1", victim("v"), taints=[CP_TAINT]), n("node2", pod("p2", priority=LOW, requests=LARGE))],
     (Code.Success, "", "node2")),
]


@pytest.mark.parametrize("p,nodes,want", [c[1:] for c in ELIGIBLE_CASES], ids=[c[0] for c in ELIGIBLE_CASES])
def test_pod_eligible_to_preempt_others(p: PodInfo, nodes: list[NodeInfo], want: tuple[Code, str, str]) -> None:
    """(A PostFilter that does not succeed nominates nothing: the pod keeps the node it had.)"""
    assert post_filter(p, nodes) == want


def victims_by_node(p: PodInfo, nodes: Sequence[NodeInfo]) -> dict[str, list[str] | str]:
    """Each node's victims (names), or why it is no candidate."""
    fw, state, statuses = cycle(p, nodes)
    out: dict[str, list[str] | str] = {}
    for x in nodes:
        if statuses[x.name].code == Code.UnschedulableAndUnresolvable:
            continue
        victims, status = select_victims_on_node(fw, state, p, x)
        out[x.name] = [v.name for v in victims] if status.is_success() else status.message
    return out


FOO = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}
HOST = "kubernetes.io/hostname"


def host(name: str, *pods: PodInfo, **kw: Any) -> NodeInfo:
    return place(node(name, labels={HOST: name}, allocatable=NODE_RES, **kw), *pods)


VICTIM_CASES: list[tuple[str, PodInfo, list[NodeInfo], dict[str, list[str] | str]]] = [
    ("a pod that fits on both nodes when lower-priority pods are preempted", pod(priority=HIGH, requests=LARGE),
     [n("node1", pod("p1", priority=MID, requests=LARGE)), n("node2", pod("p2", priority=LOW, requests=LARGE))],
     {"node1": ["p1"], "node2": ["p2"]}),
    ("other pods running are of higher priority: no preemption", pod(priority=LOW, requests=LARGE),
     [n("node1", pod("p1", priority=MID, requests=LARGE)), n("node2", pod("p2", priority=HIGH, requests=LARGE))],
     {"node1": "No preemption victims found for incoming pod", "node2": "No preemption victims found for incoming pod"}),
    ("the medium-priority pod is preempted, the lower-priority one stays as it is small",
     pod(priority=HIGH, requests={"cpu": "900m"}),
     [n("node1", pod("low", priority=LOW, requests=SMALL), pod("mid", priority=MID, requests=LARGE))],
     {"node1": ["mid"]}),
    ("mixed priorities: victims most important first", pod(priority=HIGH, requests={"cpu": "1000m"}),
     [n("node1", pod("low", priority=LOW, requests={"cpu": "300m"}), pod("mid", priority=MID, requests={"cpu": "300m"}),
        pod("mid2", priority=MID + 1, requests={"cpu": "300m"}))], {"node1": ["mid2", "mid", "low"]}),
    ("equal priorities: the pod that started later is the victim", pod(priority=HIGH, requests={"cpu": "500m"}),
     [n("node1", pod("later", priority=LOW, requests={"cpu": "500m"}, start_time="2025-01-02T00:00:00Z"),
        pod("earlier", priority=LOW, requests={"cpu": "500m"}, start_time="2025-01-01T00:00:00Z"))],
     {"node1": ["later"]}),
    ("a pod whose anti-affinity keeps the preemptor out is preempted (InterPodAffinity RemovePod)",
     pod(priority=HIGH, labels={"app": "web"}, requests=SMALL),
     [host("node1", pod("anti", priority=LOW, requests=SMALL, affinity={"podAntiAffinity": {
         "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": "web"}},
                                                              "topologyKey": HOST}]}}),
           pod("bystander", priority=LOW, requests=SMALL))], {"node1": ["anti"]}),
    ("preemption resolves a topology spread failure (PodTopologySpread RemovePod)",
     pod(priority=HIGH, labels={"foo": ""}, topologySpreadConstraints=[
         {"maxSkew": 1, "topologyKey": HOST, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": FOO}]),
     [host("node-a", pod("a1", priority=LOW, labels={"foo": ""}, start_time="2025-01-01T00:00:00Z"),
           pod("a2", priority=LOW, labels={"foo": ""}, start_time="2025-01-02T00:00:00Z")),
      host("node-b", pod("b1", priority=HIGH, labels={"foo": ""}), pod("b2", priority=HIGH, labels={"foo": ""})),
      host("node-c", pod("c1", priority=HIGH, labels={"foo": ""})), host("node-d", unschedulable=True)],
     {"node-a": ["a1", "a2"], "node-b": "No preemption victims found for incoming pod",
      "node-c": "No preemption victims found for incoming pod"}),
]


@pytest.mark.parametrize("p,nodes,want", [c[1:] for c in VICTIM_CASES], ids=[c[0] for c in VICTIM_CASES])
def test_select_victims_on_node(p: PodInfo, nodes: list[NodeInfo], want: dict[str, list[str] | str]) -> None:
    before = {x.name: [q.name for q in x.pods] for x in nodes}
    assert victims_by_node(p, nodes) == want
    assert {x.name: [q.name for q in x.pods] for x in nodes} == before  # the what-ifs did not touch the nodes


def pods(*priorities: int) -> list[PodInfo]:
    return [pod(f"v{i}", priority=prio) for i, prio in enumerate(priorities)]


PICK_CASES: list[tuple[str, dict[str, list[PodInfo]], str]] = [
    ("a node that needs no preemption is picked", {"node1": pods(LOW), "node2": []}, "node2"),
    ("the node with the lowest highest-priority victim", {"node1": pods(HIGH), "node2": pods(MID), "node3": pods(LOW, LOW)},
     "node3"),
    ("same highest priority: the lowest sum of priorities", {"node1": pods(MID, MID), "node2": pods(MID, LOW)}, "node2"),
    ("the sum adjusts each priority by 2^31, so negative priorities count as fewer", {"node1": pods(MID, -5, -5),
                                                                                      "node2": pods(MID, LOW)}, "node2"),
    ("same highest priority and sum: the fewest victims", {"node1": pods(MID, LOW), "node2": pods(MID, LOW)}, "node1"),
]


@pytest.mark.parametrize("candidates,want", [c[1:] for c in PICK_CASES], ids=[c[0] for c in PICK_CASES])
def test_pick_one_node(candidates: dict[str, list[PodInfo]], want: str) -> None:
    assert pick_one_node(candidates) == want


class FakeClient:
    def __init__(self, missing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.calls: list[tuple[str, str, Any]] = []
        self.missing = missing

    async def patch(self, path: str, body: Obj, *, patch_type: str = "") -> Obj:
        self.calls.append(("patch", path, body["status"]["conditions"][0]))
        if path.split("/")[-2] in self.missing:
            raise APIStatusError(404, {"reason": "NotFound", "message": "gone"})
        return body

    async def delete(self, path: str) -> Obj:
        self.calls.append(("delete", path, None))
        return {}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def event(self, obj: Obj, kind: str, reason: str, message: str) -> None:
        self.events.append((obj["metadata"]["name"], kind, reason, message))


def test_victims_get_the_disruption_condition_then_are_deleted_with_an_event() -> None:
    """``PreemptPod``: DisruptionTarget (PreemptionByScheduler), delete, ``Preempted`` event; a victim
    already terminating is left alone, one gone meanwhile is skipped."""
    client, recorder = FakeClient(missing={"gone"}), Recorder()
    fw = Framework(plugins(), {})
    handle = Handle(client=client, framework=fw, nodes=[], spawn=None, recorder=recorder)  # type: ignore[arg-type]
    preemptor = pod("p", uid="u-p", priority=HIGH)
    victims = [pod("v1"), pod("v2", terminating=True), pod("gone")]
    asyncio.run(DefaultPreemption()._evict(handle, preemptor, "node1", victims))
    assert [(c[0], c[1]) for c in client.calls] == [
        ("patch", "/api/v1/namespaces/default/pods/v1/status"), ("delete", "/api/v1/namespaces/default/pods/v1"),
        ("patch", "/api/v1/namespaces/default/pods/gone/status")]
    condition = client.calls[0][2]
    assert {k: condition[k] for k in ("type", "status", "reason", "message")} == {
        "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
        "message": "default-scheduler: preempting to accommodate a higher priority pod"}
    assert recorder.events == [("v1", "Normal", "Preempted", "Preempted by pod u-p on node node1")]


def test_a_victim_held_by_permit_is_rejected_not_deleted() -> None:
    client, recorder = FakeClient(), Recorder()
    fw = Framework(plugins(), {})
    handle = Handle(client=client, framework=fw, nodes=[], spawn=None, recorder=recorder)  # type: ignore[arg-type]
    held = pod("held", uid="u-held")
    fw.waiting_pods[held.uid] = waiting = WaitingPod(held, {"Gate": 60.0})
    asyncio.run(DefaultPreemption()._evict(handle, pod("p", uid="u-p", priority=HIGH), "node1", [held]))
    assert client.calls == []
    assert waiting.result is not None and (waiting.result.code, waiting.result.message) == (Code.Unschedulable, "preempted")
    assert waiting.result.plugin == "DefaultPreemption"
    assert recorder.events == [("held", "Normal", "Preempted", "Preempted by pod u-p on node node1")]
