"""The ReplicaSet controller alone (``pkg/controller/replicaset``'s ``replica_set_test.go``): objects in,
the exact requests out."""

from __future__ import annotations

import pytest

from labkit.client import resource_path
from labkit.controllers.replicaset import ReplicaSetController
from labkit.testing import fail, status_error

from .objects import NS, T0, owner, pod, replicaset, rs_status

KEY = f"{NS}/web"
T1 = "2026-01-01T12:00:00Z"  # the fake clock's start


def pod_body(rs: dict) -> dict:
    """What ``GetPodFromTemplate`` sends for ``rs``."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "web-", "namespace": NS, "labels": {"app": "web"}, "annotations": {},
                         "ownerReferences": [owner(rs)]},
            "spec": rs["spec"]["template"]["spec"]}


def status_of(h) -> dict:
    (rs,) = h.objects("apps/v1", "replicasets")
    return rs["status"]


def test_missing_pods_are_created_from_the_template_with_a_controller_reference(harness):
    rs = replicaset(replicas=3)
    h = harness(ReplicaSetController, [rs, pod("web-a", owned_by=rs)])
    assert h.drain() == [KEY]
    creates = [a for a in h.writes() if a.verb == "create"]
    assert creates == [("create", "pods", NS, "", pod_body(rs))] * 2
    names = [p["metadata"]["name"] for p in h.objects("v1", "pods") if p["metadata"]["name"] != "web-a"]
    assert len(names) == 2 and all(n.startswith("web-") for n in names)
    assert sorted(h.events()) == sorted(f"Normal SuccessfulCreate Created pod: {n}" for n in names)
    # the status counts what the cache held when the sync began: one pod (kube's calculateStatus)
    assert h.writes()[-1].resource == "replicasets/status"
    assert status_of(h) == {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                            "observedGeneration": 1}


def test_creates_go_out_in_slow_start_batches_and_stop_at_the_first_failure(harness):
    """``slowStartBatch``: 1, 2, 4 ...; a batch with a failure ends the sync, the rest are not tried."""
    rs = replicaset(replicas=10)
    h = harness(ReplicaSetController, [rs])
    calls = []

    def third_fails(action):
        calls.append(action)
        if len(calls) == 3:
            raise status_error(403, action, "exceeded quota")
        return None
    h.client.prepend_reactor("create", "pods", third_fails)
    h.drain()
    assert len(calls) == 3, "batches of 1 and 2; the batch of 2 had the failure, so no batch of 4"
    assert "Warning FailedCreate Error creating: exceeded quota" in h.events()
    assert h.waiting() == [(KEY, 0.005)], "retried with back-off, not at once"


def test_a_failed_create_still_writes_the_status_with_a_replica_failure_condition(harness):
    """``calculateStatus`` runs whatever ``manageReplicas`` returned: the pods that exist are counted
    (``kubectl get rs`` shows 2 of 3, not 0), and the error is the ``ReplicaFailure`` condition until a
    sync succeeds."""
    rs = replicaset(replicas=3)
    h = harness(ReplicaSetController, [rs, pod("web-a", owned_by=rs), pod("web-b", owned_by=rs)])
    quota = 'pods "web-x" is forbidden: exceeded quota: compute, requested: requests.cpu=300m, ' \
            'used: requests.cpu=900m, limited: requests.cpu=1'
    h.client.prepend_reactor("create", "pods", fail(403, times=1, message=quota))
    h.drain()
    status = status_of(h)
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (2, 2, 2)
    assert status["conditions"] == [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": T1,
                                     "reason": "FailedCreate", "message": quota}]
    assert h.waiting() == [(KEY, 0.005)], "and the error still brings the sync back with back-off"
    h.drain(watch=True, advance=1.0)
    assert len(h.objects("v1", "pods")) == 3 and "ReplicaFailure" not in str(status_of(h))


def test_a_failed_create_is_retried_after_the_back_off(harness):
    rs = replicaset(replicas=2)
    h = harness(ReplicaSetController, [rs])
    h.client.prepend_reactor("create", "pods", fail(500, times=1))
    h.drain()
    assert len(h.objects("v1", "pods")) == 0 and h.waiting() == [(KEY, 0.005)]
    h.drain(watch=True, advance=1.0)
    assert len(h.objects("v1", "pods")) == 2 and h.waiting() == []


def test_no_second_create_before_the_cache_has_seen_the_first(harness):
    """Expectations: a sync that runs again before the informer delivered the new pods creates nothing."""
    rs = replicaset(replicas=2, status=rs_status(0))
    h = harness(ReplicaSetController, [rs])
    h.drain()
    assert sum(a.verb == "create" for a in h.writes()) == 2
    h.clear()
    h.sync(KEY)  # the cache still shows no pods
    assert [a for a in h.writes() if a.verb == "create"] == []
    h.drain(watch=True)  # the pods arrive: expectations met, and there are enough pods
    assert [a for a in h.writes() if a.verb in ("create", "delete")] == []
    assert status_of(h)["replicas"] == 2


def test_a_deleted_pod_is_replaced(harness):
    rs = replicaset(replicas=2, status=rs_status(2))
    h = harness(ReplicaSetController, [rs, pod("web-a", owned_by=rs), pod("web-b", owned_by=rs)])
    h.drain()
    assert h.actions() == []
    h.run(h.client.delete(resource_path("v1", "pods", namespace=NS, name="web-a")))
    h.clear()
    h.drain(watch=True)
    # the sync after the deletion creates a pod and counts 1; the one after the new pod's arrival counts 2
    assert [a.resource for a in h.writes()] == ["pods", "replicasets/status", "replicasets/status"]
    assert h.writes()[0].verb == "create" and status_of(h)["replicas"] == 2


def test_an_orphan_that_matches_is_adopted_and_one_that_does_not_is_left(harness):
    rs = replicaset(replicas=1)
    h = harness(ReplicaSetController, [rs, pod("stray", labels={"app": "web"}), pod("other", labels={"app": "db"})])
    h.drain()
    (adopt,) = [a for a in h.writes() if a.verb == "patch"]
    assert adopt == ("patch", "pods", NS, "stray", {"metadata": {"ownerReferences": [owner(rs)], "uid": "uid-stray"}})
    assert not [a for a in h.writes() if a.verb == "create"], "the adopted pod counts"


def test_an_owned_pod_of_another_controller_is_not_adopted(harness):
    rs, other = replicaset(replicas=1), replicaset("other", replicas=1)
    h = harness(ReplicaSetController, [rs, pod("theirs", owned_by=other)])
    h.sync(KEY)
    assert [a.verb for a in h.writes() if a.resource == "pods"] == ["create"]


def test_terminating_and_finished_pods_do_not_count(harness):
    rs = replicaset(replicas=2)
    h = harness(ReplicaSetController, [rs, pod("going", owned_by=rs, deleting=True),
                                       pod("done", owned_by=rs, phase="Succeeded"),
                                       pod("failed", owned_by=rs, phase="Failed")])
    h.sync(KEY)
    assert sum(a.verb == "create" for a in h.writes()) == 2


# (why, the pod to go, the pod to stay): kube's ActivePodsWithRanks.Less, one rule at a time. Each pod is
# alone on its node unless the rule is about sharing one.
SCALE_DOWN = [
    ("unscheduled before scheduled", dict(node=""), dict(node="n2")),
    ("pending before running", dict(node="n1", phase="Pending"), dict(node="n2")),
    ("unknown before running", dict(node="n1", phase="Unknown", ready=True), dict(node="n2")),
    ("not ready before ready", dict(node="n1", ready=False), dict(node="n2")),
    ("lower deletion cost first", dict(node="n1", cost=-5), dict(node="n2", cost=10)),
    ("doubled up on a node before alone", dict(node="n0"), dict(node="n2")),
    ("ready for less time first", dict(node="n1", ready_since="2026-01-01T11:30:00Z"), dict(node="n2")),
    ("more restarts first", dict(node="n1", restarts=[3]), dict(node="n2", restarts=[1])),
    ("the most restarts of one container, not the sum (maxContainerRestarts)",
     dict(node="n1", restarts=[3]), dict(node="n2", restarts=[2, 2])),
    ("newer first", dict(node="n1", created="2026-01-01T11:10:00Z"), dict(node="n2")),
]


@pytest.mark.parametrize("why, goes, stays", SCALE_DOWN, ids=[c[0] for c in SCALE_DOWN])
def test_scale_down_deletes_the_pod_kube_would_delete_first(harness, why, goes, stays):
    rs = replicaset(replicas=2)
    doomed, kept = pod("doomed", owned_by=rs, **goes), pod("kept", owned_by=rs, **stays)
    # a third pod, on n0, that no rule would take first (its deletion cost is the highest)
    anchor = pod("anchor", owned_by=rs, node="n0", created="2025-01-01T00:00:00Z", cost=100)
    h = harness(ReplicaSetController, [rs, anchor, kept, doomed])
    h.sync(KEY)
    deletes = [a for a in h.writes() if a.verb == "delete"]
    assert deletes == [("delete", "pods", NS, "doomed", None)], why
    assert h.events()[-1] == "Normal SuccessfulDelete Deleted pod: doomed"


def test_scale_down_spreads_what_is_left_over_the_siblings_nodes():
    """The ranking counts the pods of every ReplicaSet of the same Deployment (``getIndirectlyRelatedPods``)."""
    from labkit.controllers.replicaset import pods_to_delete
    a = pod("a", node="n1", created="2026-01-01T11:59:00Z")
    b, c = pod("b", node="n2"), pod("c", node="n3")
    siblings = [pod("s1", node="n2"), pod("s2", node="n2")]
    assert pods_to_delete([a, b, c], 1) == [a], "alone, the newest goes"
    assert pods_to_delete([a, b, c], 1, [a, b, c, *siblings]) == [b], "with its siblings, n2 is crowded"


def test_a_pod_gone_before_its_delete_is_not_an_error(harness):
    rs = replicaset(replicas=0)
    h = harness(ReplicaSetController, [rs, pod("web-a", owned_by=rs)])
    h.client.prepend_reactor("delete", "pods", fail(404))
    h.drain()
    assert h.waiting() == [] and not any(e.startswith("Warning") for e in h.events())


def test_status_is_written_only_when_it_changes(harness):
    rs = replicaset(replicas=1, status=rs_status(1))
    h = harness(ReplicaSetController, [rs, pod("web-a", owned_by=rs)])
    assert h.drain() == [KEY]
    assert h.actions() == [], "in sync: not one request"


def test_a_new_generation_is_observed(harness):
    rs = replicaset(replicas=1, generation=4, status=rs_status(1, generation=3))
    h = harness(ReplicaSetController, [rs, pod("web-a", owned_by=rs)])
    h.drain()
    assert status_of(h)["observedGeneration"] == 4


def test_a_pod_not_yet_available_brings_the_replicaset_back_after_min_ready_seconds(harness):
    rs = replicaset(replicas=1, min_ready=30)
    ready_now = "2026-01-01T12:00:00Z"  # the fake clock's start: ready, but not for 30 s
    h = harness(ReplicaSetController, [rs, pod("web-a", owned_by=rs, ready_since=ready_now)])
    h.drain()
    assert (status_of(h)["readyReplicas"], status_of(h)["availableReplicas"]) == (1, 0)
    assert h.waiting() == [(KEY, 30)]
    h.drain(watch=True, advance=30)
    assert status_of(h)["availableReplicas"] == 1 and h.waiting() == []


def test_the_twelve_create_events_are_combined_as_client_go_does(harness):
    """Nine events, then one ``(combined from similar events)`` event whose count the rest bump."""
    rs = replicaset(replicas=12)
    h = harness(ReplicaSetController, [rs])
    h.drain()
    created = [a.body for a in h.client.actions() if a.resource == "events" and a.verb == "create"]
    patched = [a.body for a in h.client.actions() if a.resource == "events" and a.verb == "patch"]
    assert len(created) == 10 and len(patched) == 2
    assert created[-1]["message"].startswith("(combined from similar events): Created pod: web-")
    assert [p["count"] for p in patched] == [2, 3]


def test_a_deleted_replicaset_is_forgotten(harness):
    rs = replicaset(replicas=2)
    h = harness(ReplicaSetController, [rs])
    h.drain()
    h.informers.delete(rs)
    h.clear()
    assert h.drain() == [KEY] and h.actions() == []
    assert KEY not in h.controller.expectations._set_at


def test_a_replicaset_being_deleted_creates_nothing(harness):
    rs = replicaset(replicas=2)
    rs["metadata"]["deletionTimestamp"] = T0
    h = harness(ReplicaSetController, [rs])
    h.drain()
    assert [a.verb for a in h.writes()] == ["update"]
