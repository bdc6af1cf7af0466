"""The Deployment controller alone (``pkg/controller/deployment``): from a Deployment and its ReplicaSets
to the exact ReplicaSet and status writes of each step of a rollout."""

from __future__ import annotations

import pytest

from labkit.controllers.deployment import DeploymentController, compute_hash, fenceposts
from labkit.testing import fail

from .objects import NS, owner, replicaset, rs_status, template
from .objects import deployment as make_deployment

KEY = f"{NS}/web"
REVISION = "deployment.kubernetes.io/revision"


def old_rs(d: dict, image: str, *, revision: int, replicas: int, available: int | None = None,
           created: str = "2026-01-01T10:00:00Z") -> dict:
    """A ReplicaSet the controller made earlier for ``image``: its hash, its revision, and the
    desired/max annotations of ``d`` (maxSurge 1, or 0 for Recreate)."""
    tmpl = template({"app": "web"}, image)
    h = compute_hash(tmpl)
    labeled = template({"app": "web", "pod-template-hash": h}, image)
    want = d["spec"]["replicas"]
    surge = 0 if d["spec"]["strategy"]["type"] == "Recreate" else fenceposts(d)[0]
    rs = replicaset(f"web-{h}", replicas, labels={"app": "web", "pod-template-hash": h}, owned_by=d, tmpl=labeled,
                    annotations={REVISION: str(revision), "deployment.kubernetes.io/desired-replicas": str(want),
                                 "deployment.kubernetes.io/max-replicas": str(want + surge)},
                    created=created, status=rs_status(replicas if available is None else available))
    rs["status"]["replicas"] = replicas
    return rs


def conditions(d: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in d["status"].get("conditions") or []}


def stored(h) -> dict:
    (d,) = h.objects("apps/v1", "deployments")
    return d


def test_a_new_deployment_gets_a_replicaset_named_and_labelled_with_the_pod_template_hash(harness):
    d = make_deployment(replicas=3)
    h = harness(DeploymentController, [d])
    h.sync(KEY)
    pod_hash = compute_hash(d["spec"]["template"])
    labels = {"app": "web", "pod-template-hash": pod_hash}
    create, revision, *status_writes = h.writes()
    assert create == ("create", "replicasets", NS, "", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"web-{pod_hash}", "namespace": NS, "labels": labels,
                     "annotations": {REVISION: "1", "deployment.kubernetes.io/desired-replicas": "3",
                                     "deployment.kubernetes.io/max-replicas": "4"},
                     "ownerReferences": [owner(d)]},
        "spec": {"replicas": 3, "minReadySeconds": 0, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": d["spec"]["template"]["spec"]}}})
    assert revision == ("patch", "deployments", NS, "web", {"metadata": {"annotations": {REVISION: "1"}}})
    assert {a.resource for a in status_writes} == {"deployments/status"}
    assert h.events() == [f"Normal ScalingReplicaSet Scaled up replica set web-{pod_hash} from 0 to 3"]
    assert conditions(stored(h)) == {"Progressing": ("True", "NewReplicaSetCreated"),
                                     "Available": ("False", "MinimumReplicasUnavailable")}


@pytest.mark.parametrize("max_surge, max_unavailable, new, old", [
    (1, 0, 1, 3),  # one extra pod first; no old one goes before a new one is available
    (0, 1, 0, 2),  # no extra pod: one old one goes first
    ("25%", "25%", 1, 3),  # of 3 replicas: surge rounds up to 1, unavailable down to 0
    (2, 1, 2, 2),  # two extra pods, and one old one may go at once
])
def test_a_rolling_update_first_step_follows_max_surge_and_max_unavailable(harness, max_surge, max_unavailable,
                                                                           new, old):
    d = make_deployment(replicas=3, image="nginx:1.26", generation=2, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}})
    rs1 = old_rs(d, "nginx:1.25", revision=1, replicas=3)
    h = harness(DeploymentController, [d, rs1])
    h.sync(KEY)
    by_image = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in h.objects("apps/v1", "replicasets")}
    assert (by_image["nginx:1.26"]["spec"]["replicas"], by_image["nginx:1.25"]["spec"]["replicas"]) == (new, old)
    assert by_image["nginx:1.26"]["metadata"]["annotations"][REVISION] == "2"


def test_old_pods_go_as_new_ones_become_available(harness):
    d = make_deployment(replicas=3, image="nginx:1.26", generation=2)
    rs1 = old_rs(d, "nginx:1.25", revision=1, replicas=3)
    rs2 = old_rs(d, "nginx:1.26", revision=2, replicas=1, created="2026-01-01T11:00:00Z")
    h = harness(DeploymentController, [d, rs1, rs2])
    h.sync(KEY)
    scale_downs = [a for a in h.writes() if a.resource == "replicasets"]
    assert [(a.name, a.body["spec"]["replicas"]) for a in scale_downs] == [(rs1["metadata"]["name"], 2)]
    assert h.events() == [f"Normal ScalingReplicaSet Scaled down replica set {rs1['metadata']['name']} from 3 to 2"]


def test_an_unavailable_old_replicaset_is_scaled_down_first(harness):
    """``cleanupUnhealthyReplicas``: of what maxUnavailable allows, unavailable old pods go first."""
    d = make_deployment(replicas=3, image="nginx:1.27", generation=3,
                        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    rs1 = old_rs(d, "nginx:1.25", revision=1, replicas=2, available=2, created="2026-01-01T09:00:00Z")
    rs2 = old_rs(d, "nginx:1.26", revision=2, replicas=1, available=0, created="2026-01-01T10:00:00Z")
    rs3 = old_rs(d, "nginx:1.27", revision=3, replicas=1, available=0, created="2026-01-01T11:00:00Z")
    h = harness(DeploymentController, [d, rs1, rs2, rs3])
    h.sync(KEY)
    scaled = {a.name: a.body["spec"]["replicas"] for a in h.writes() if a.resource == "replicasets"}
    assert scaled == {rs2["metadata"]["name"]: 0}, "the broken revision 2 goes; revision 1 still serves"


def test_recreate_scales_every_old_replicaset_to_zero_before_creating_the_new_one(harness):
    d = make_deployment(replicas=2, image="nginx:1.26", generation=2, strategy={"type": "Recreate"})
    rs1 = old_rs(d, "nginx:1.25", revision=1, replicas=2)
    h = harness(DeploymentController, [d, rs1])
    h.sync(KEY)
    assert [(a.verb, a.resource, a.body["spec"]["replicas"]) for a in h.writes() if a.resource == "replicasets"] == [
        ("update", "replicasets", 0)]
    h.deliver()
    h.clear()
    h.sync(KEY)  # its pods are still there (status.replicas 2): wait
    assert [a for a in h.writes() if a.resource == "replicasets"] == []
    h.informers.update({**h.objects("apps/v1", "replicasets")[0], "status": rs_status(0)})
    h.sync(KEY)
    (create,) = [a for a in h.writes() if a.resource == "replicasets"]
    assert create.verb == "create" and create.body["spec"]["replicas"] == 2


def test_a_paused_deployment_rolls_nothing_out_and_says_so(harness):
    d = make_deployment(replicas=3, image="nginx:1.26", generation=2, paused=True)
    rs1 = old_rs(d, "nginx:1.25", revision=1, replicas=3)
    h = harness(DeploymentController, [d, rs1])
    h.drain(watch=True)
    assert [a for a in h.writes() if a.resource == "replicasets"] == []
    assert conditions(stored(h))["Progressing"] == ("Unknown", "DeploymentPaused")


def test_undo_brings_the_old_replicaset_back_with_the_next_revision(harness):
    """``kubectl rollout undo`` sets the template back: the old ReplicaSet is found (not a new one made)
    and gets revision 3."""
    d = make_deployment(replicas=3, image="nginx:1.25", generation=3)
    rs1 = old_rs(d, "nginx:1.25", revision=1, replicas=0, created="2026-01-01T09:00:00Z")
    rs2 = old_rs(d, "nginx:1.26", revision=2, replicas=3, created="2026-01-01T10:00:00Z")
    h = harness(DeploymentController, [d, rs1, rs2])
    h.sync(KEY)
    first = h.writes()[0]
    assert (first.verb, first.resource, first.name) == ("update", "replicasets", rs1["metadata"]["name"])
    assert first.body["metadata"]["annotations"][REVISION] == "3"
    assert not [a for a in h.writes() if a.verb == "create"]


def test_a_template_sent_back_with_nulls_and_empty_maps_is_the_same_template(harness):
    d = make_deployment(replicas=3, image="nginx:1.25")
    d["spec"]["template"]["metadata"]["creationTimestamp"] = None
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    rs1 = old_rs(d, "nginx:1.25", revision=1, replicas=3)
    h = harness(DeploymentController, [d, rs1])
    h.sync(KEY)
    assert not [a for a in h.writes() if a.resource == "replicasets"]


def test_old_replicasets_beyond_the_history_limit_are_deleted_oldest_first(harness):
    complete = {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                "readyReplicas": 3}
    d = make_deployment(replicas=3, image="nginx:1.28", generation=4, revisionHistoryLimit=1, status=complete)
    rss = [old_rs(d, f"nginx:1.2{5 + i}", revision=i + 1, replicas=0, created=f"2026-01-01T0{i}:00:00Z")
           for i in range(3)]
    rss.append(old_rs(d, "nginx:1.28", revision=4, replicas=3, created="2026-01-01T08:00:00Z"))
    h = harness(DeploymentController, [d, *rss])
    h.sync(KEY)
    deleted = [a.name for a in h.writes() if a.verb == "delete"]
    assert deleted == [rss[0]["metadata"]["name"], rss[1]["metadata"]["name"]]


def test_a_hash_collision_bumps_the_collision_count(harness):
    d = make_deployment(replicas=1)
    h = harness(DeploymentController, [d])
    h.client.prepend_reactor("create", "replicasets", fail(409, times=1))
    h.drain()
    assert stored(h)["status"]["collisionCount"] == 1
    assert len(h.waiting()) == 1, "tried again, with another name"
    h.drain(watch=True, advance=1)
    (rs,) = h.objects("apps/v1", "replicasets")
    assert rs["metadata"]["name"] == f"web-{compute_hash(d['spec']['template'], 1)}"


def test_the_progress_deadline_is_watched_on_the_clock_and_exceeding_it_is_a_condition(harness):
    d = make_deployment(replicas=3, progressDeadlineSeconds=30)
    h = harness(DeploymentController, [d])
    h.drain(watch=True)
    (rs,) = h.objects("apps/v1", "replicasets")
    assert conditions(stored(h))["Progressing"] == ("True", "NewReplicaSetCreated")
    assert h.waiting() == [(KEY, 31)], "looked at again once the deadline has passed, once"
    h.clear()
    h.drain(watch=True, advance=31)
    progressing = next(c for c in stored(h)["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.')
    assert h.events() == [], "kube's syncRolloutStatus sets the condition and records no event"
    assert h.waiting() == [], "a timed-out rollout is not looked at again until something changes"


def test_a_complete_rollout_says_so(harness):
    d = make_deployment(replicas=3)
    rs = old_rs(d, "nginx:1.25", revision=1, replicas=3)
    d["metadata"]["annotations"] = {REVISION: "1"}
    h = harness(DeploymentController, [d, rs])
    h.sync(KEY)
    s = stored(h)["status"]
    assert (s["replicas"], s["updatedReplicas"], s["availableReplicas"], s["observedGeneration"]) == (3, 3, 3, 1)
    assert conditions(stored(h)) == {"Available": ("True", "MinimumReplicasAvailable"),
                                     "Progressing": ("True", "NewReplicaSetAvailable")}
    assert h.waiting() == []


def test_a_replicaset_found_again_keeps_a_timed_out_condition(harness):
    """``getNewReplicaSet`` records ``FoundNewReplicaSet`` only when no Progressing condition exists."""
    timed_out = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": "ReplicaSet has timed out progressing.", "lastUpdateTime": "2026-01-01T11:00:00Z",
                 "lastTransitionTime": "2026-01-01T11:00:00Z"}
    d = make_deployment(replicas=3, annotations={REVISION: "1"},
                        status={"observedGeneration": 1, "conditions": [timed_out]})
    rs = old_rs(d, "nginx:1.25", revision=1, replicas=3, available=0)
    h = harness(DeploymentController, [d, rs])
    h.drain(watch=True)
    assert conditions(stored(h))["Progressing"] == ("False", "ProgressDeadlineExceeded")
    assert h.waiting() == []


def test_a_new_min_ready_seconds_reaches_the_replicaset(harness):
    d = make_deployment(replicas=3, annotations={REVISION: "1"}, minReadySeconds=10)
    rs = old_rs(d, "nginx:1.25", revision=1, replicas=3)
    h = harness(DeploymentController, [d, rs])
    h.sync(KEY)
    (update,) = [a for a in h.writes() if a.resource == "replicasets"]
    assert update.body["spec"]["minReadySeconds"] == 10
