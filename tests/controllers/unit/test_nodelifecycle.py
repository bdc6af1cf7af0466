"""The node lifecycle controller alone (``pkg/controller/nodelifecycle``), on a fake clock: a node that
stops renewing its Lease turns Unknown after the grace period, is tainted, its pods marked not ready
and, once their tolerations run out, evicted."""

from __future__ import annotations

import pytest

from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.nodelifecycle import NodeLifecycleController

from .objects import NS, T0, lease, node, pod

NOW = "2026-01-01T12:00:00Z"  # where the fake clock starts
GRACE = ControllerManagerConfig().node_monitor_grace_period
UNREACHABLE, NOT_READY = "node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"


def healthy(name: str = "n1") -> list[dict]:
    """A node that posted Ready (and its pressure conditions) and renewed its Lease just now."""
    n = node(name, heartbeat=NOW)
    n["status"]["conditions"].append({"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                                      "lastHeartbeatTime": NOW, "lastTransitionTime": T0})
    return [n, lease(name, "2026-01-01T12:00:00.000000Z")]


def after(h, seconds: float) -> None:
    """Let ``seconds`` pass and run the monitor's pass over every node."""
    h.step(seconds)
    h.controller.monitor_node_health()
    h.drain(watch=True)


def taints_of(h, name: str = "n1") -> list[tuple[str, str, str]]:
    (n,) = [n for n in h.objects("v1", "nodes") if n["metadata"]["name"] == name]
    return [(t["key"], t["effect"], t.get("timeAdded", "")) for t in (n.get("spec") or {}).get("taints") or []]


def toleration(seconds: int | None) -> dict:
    t = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
    return t if seconds is None else {**t, "tolerationSeconds": seconds}


def test_a_silent_node_turns_unknown_after_the_grace_period_and_is_tainted(harness):
    h = harness(NodeLifecycleController, healthy())
    h.drain()
    assert h.actions() == [] and h.events() == ["Normal RegisteredNode Node n1 event: Registered Node n1 in Controller"]
    after(h, GRACE)
    assert h.actions() == [], "silent for exactly the grace period: still fine"
    after(h, 1)
    status, taints = h.writes()
    unknown_at = "2026-01-01T12:00:09Z"
    assert tuple(status)[:4] == ("update", "nodes/status", "", "n1")
    assert status.body["status"]["conditions"] == [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
         "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": NOW, "lastTransitionTime": unknown_at},
        {"type": "MemoryPressure", "status": "Unknown", "reason": "NodeStatusUnknown",
         "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": NOW, "lastTransitionTime": unknown_at}]
    assert taints == ("patch", "nodes", "", "n1", {"spec": {"taints": [
        {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": unknown_at},
        {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": unknown_at}]}})
    assert h.events()[-1] == "Normal NodeNotReady Node n1 status is now: NodeNotReady"


def test_a_renewed_lease_keeps_the_node_ready(harness):
    h = harness(NodeLifecycleController, healthy())
    h.drain()
    for _ in range(3):
        h.step(GRACE - 1)
        renewed = h.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        h.run(h.client.patch("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
                             {"spec": {"renewTime": renewed}}))
        h.controller.monitor_node_health()
        h.drain(watch=True)
    assert [a for a in h.writes() if a.resource != "leases"] == [], "the test's renewals only"


# (the node's conditions and cordon, the controller's taints on it): doNoScheduleTaintingPass and doNoExecuteTaintingPass
TAINTS = [
    ("ready", dict(ready="True"), []),
    ("not ready", dict(ready="False"), [(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]),
    ("unknown", dict(ready="Unknown"), [(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]),
    ("memory pressure", dict(ready="True", extra=("MemoryPressure", "True")),
     [("node.kubernetes.io/memory-pressure", "NoSchedule")]),
    ("network unavailable", dict(ready="True", extra=("NetworkUnavailable", "True")),
     [("node.kubernetes.io/network-unavailable", "NoSchedule")]),
    ("cordoned", dict(ready="True", unschedulable=True), [("node.kubernetes.io/unschedulable", "NoSchedule")]),
]


@pytest.mark.parametrize("why, state, want", TAINTS, ids=[t[0] for t in TAINTS])
def test_conditions_become_taints_each_stamped_with_the_time_it_was_added(harness, why, state, want):
    n = node("n1", ready=state["ready"], heartbeat=NOW, unschedulable=state.get("unschedulable", False))
    if "extra" in state:
        kind, status = state["extra"]
        n["status"]["conditions"].append({"type": kind, "status": status, "lastHeartbeatTime": NOW,
                                          "lastTransitionTime": T0})
    h = harness(NodeLifecycleController, [n, lease("n1", NOW)])
    h.drain()
    assert taints_of(h) == [(key, effect, NOW) for key, effect in want]


def test_a_node_back_to_ready_loses_the_controllers_taints_and_keeps_the_others(harness):
    n = node("n1", heartbeat=NOW, taints=[{"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": T0},
                                          {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": T0},
                                          {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    h = harness(NodeLifecycleController, [n, lease("n1", NOW)])
    h.drain()
    assert h.writes() == [("patch", "nodes", "", "n1", {"spec": {"taints": [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}})]


def test_the_pods_of_a_node_that_stops_being_ready_are_marked_not_ready(harness):
    """``MarkPodsNotReady``: Services stop sending them traffic before any eviction."""
    pods = [pod("a", node="n1", tolerations=[toleration(None)]), pod("b", node="n1", tolerations=[toleration(None)]),
            pod("elsewhere", node="n2")]
    h = harness(NodeLifecycleController, [*healthy(), *healthy("n2"), *pods])
    h.drain()
    h.run(h.client.patch("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2",
                         {"spec": {"renewTime": "2026-01-01T12:00:09.000000Z"}}))
    h.clear()
    after(h, GRACE + 1)
    marked = [a for a in h.writes() if a.resource == "pods/status"]
    assert [a.name for a in marked] == ["a", "b"]
    assert all(a.body["status"]["conditions"] == [{"type": "Ready", "status": "False",
                                                   "lastTransitionTime": "2026-01-01T12:00:09Z"}] for a in marked)
    assert h.events().count("Warning NodeNotReady Node is not ready") == 2
    assert not [a for a in h.writes() if a.resource == "pods"], "tolerated for ever: not evicted"


def test_a_node_the_kubelet_already_reported_not_ready_does_not_mark_its_pods(harness):
    n = node("n1", ready="False", heartbeat=NOW)
    h = harness(NodeLifecycleController, [n, lease("n1", "2026-01-01T12:00:00.000000Z"), pod("a", node="n1")])
    h.drain(watch=True)
    after(h, GRACE + 1)  # now Unknown, but it was not Ready
    assert not [a for a in h.writes() if a.resource == "pods/status"]
    assert "Normal NodeNotReady Node n1 status is now: NodeNotReady" not in h.events()


def test_pods_are_evicted_when_their_toleration_of_the_taint_runs_out(harness):
    tainted = node("n1", ready="Unknown", heartbeat=T0, taints=[
        {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": NOW},
        {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": NOW}])
    pods = [pod("intolerant", node="n1", tolerations=[]), pod("thirty", node="n1", tolerations=[toleration(30)]),
            pod("forever", node="n1", tolerations=[toleration(None)]), pod("away", node="n2", tolerations=[])]
    h = harness(NodeLifecycleController, [tainted, *pods])
    h.drain()
    assert h.writes() == [("delete", "pods", NS, "intolerant", None)]
    assert h.events()[-1] == f"Normal TaintManagerEviction Marking for deletion Pod {NS}/intolerant"
    assert h.waiting() == [("n1", 30)]
    h.clear()
    h.drain(watch=True, advance=30)
    assert h.writes() == [("delete", "pods", NS, "thirty", None)]
    assert [p["metadata"]["name"] for p in h.objects("v1", "pods")] == ["away", "forever"]


def test_a_deleted_node_gets_a_removing_event(harness):
    h = harness(NodeLifecycleController, healthy())
    h.drain()
    h.run(h.client.delete("/api/v1/nodes/n1"))
    h.drain(watch=True)
    assert h.events()[-1] == "Normal RemovingNode Node n1 event: Removing Node n1 from Controller"
