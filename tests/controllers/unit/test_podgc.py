"""Pod GC alone (``pkg/controller/podgc``), on a fake clock: pods of nodes that are gone, terminating pods
nothing will stop, and terminated pods beyond the threshold are force-deleted."""

from __future__ import annotations

import dataclasses

from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.podgc import PASS, PodGCController

from .objects import NS, node, pod

CONFIG = ControllerManagerConfig(pod_gc_period=2.0, pod_gc_quarantine=5.0, terminated_pod_gc_threshold=3)
STRATEGIC = "application/strategic-merge-patch+json"


def force_delete(uid: str) -> dict:
    return {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}


def gc(harness, objects, config=CONFIG):
    h = harness(PodGCController, objects, config=config)
    h.controller.queue.add(PASS)  # what run() does; every pass then brings the next one
    return h


def test_a_pass_with_nothing_to_collect_sends_nothing_and_comes_back_after_the_period(harness):
    h = gc(harness, [node("n1"), pod("a", node="n1")])
    assert h.drain() == [PASS]
    assert h.actions() == [] and h.waiting() == [(PASS, 2.0)]


def test_pods_of_a_node_gone_for_the_whole_quarantine_are_failed_then_deleted(harness):
    h = gc(harness, [node("alive"), pod("on-ghost", node="ghost"), pod("on-alive", node="alive")])
    h.drain(advance=4)
    assert h.actions() == [], "quarantined: the cache may just be behind"
    h.drain(advance=2)  # the pass at 6 s: the quarantine (5 s) is over
    get, patch, delete = h.actions()
    assert get == ("get", "nodes", "", "ghost", None)
    assert patch == ("patch", "pods/status", NS, "on-ghost", {"metadata": {"uid": "uid-on-ghost"}, "status": {
        "phase": "Failed", "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                                           "message": "PodGC: node no longer exists",
                                           "lastTransitionTime": "2026-01-01T12:00:06Z"}]}})
    assert patch.patch_type == STRATEGIC
    assert delete == ("delete", "pods", NS, "on-ghost", force_delete("uid-on-ghost"))
    assert [p["metadata"]["name"] for p in h.objects("v1", "pods")] == ["on-alive"]


def test_a_node_that_shows_up_during_the_quarantine_keeps_its_pods(harness):
    h = gc(harness, [pod("p", node="late")])
    h.drain(advance=2)
    h.run(h.client.create("/api/v1/nodes", node("late")))
    h.deliver()
    h.clear()
    h.drain(advance=10)
    assert [a for a in h.actions() if a.verb != "create"] == []


def test_a_node_missing_from_the_cache_but_known_to_the_server_keeps_its_pods(harness):
    h = gc(harness, [pod("p", node="n1")])
    h.start()
    h.client.tracker.add(node("n1"))  # the API server has it; the cache has not seen it
    h.drain(advance=6)
    assert h.actions() == [("get", "nodes", "", "n1", None)]


def test_terminated_pods_beyond_the_threshold_go_evicted_first_then_oldest(harness):
    pods = [pod(f"t-{i}", node="n1", phase="Succeeded", created=f"2026-01-01T10:0{i}:00Z") for i in range(4)]
    pods.append(pod("t-4", node="n1", phase="Failed", reason="Evicted", created="2026-01-01T10:09:00Z"))
    h = gc(harness, [node("n1"), *pods])
    h.drain()
    assert sorted(a.name for a in h.writes()) == ["t-0", "t-4"], "the evicted one, then the oldest"
    assert all(a.verb == "delete" for a in h.writes()), "already terminal: no status patch first"


def test_terminating_pods_nothing_will_stop_are_force_deleted(harness):
    out = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}
    dead = node("dead", ready="False", taints=[out])
    h = gc(harness, [node("n1"), dead, pod("unscheduled", deleting=True, phase="Pending"),
                     pod("out-of-service", node="dead", deleting=True),
                     pod("on-a-live-node", node="n1", deleting=True)])
    h.drain()
    deleted = [a.name for a in h.writes() if a.verb == "delete"]
    assert sorted(deleted) == ["out-of-service", "unscheduled"]
    assert sorted(a.name for a in h.writes() if a.verb == "patch") == ["out-of-service", "unscheduled"]


def test_no_threshold_keeps_every_terminated_pod(harness):
    pods = [pod(f"t-{i}", node="n1", phase="Succeeded") for i in range(5)]
    h = gc(harness, [node("n1"), *pods], config=dataclasses.replace(CONFIG, terminated_pod_gc_threshold=0))
    h.drain()
    assert h.actions() == []
