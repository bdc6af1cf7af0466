"""The StatefulSet controller alone (``pkg/controller/statefulset``): stable names and claims, pods
made one at a time in order (OrderedReady) or all at once (Parallel), removed from the highest
ordinal, and rolled from the highest ordinal down to the partition."""

from __future__ import annotations

from typing import Any

from labkit.apiserver.registry.statefulset import STRATEGY
from labkit.controllers.statefulset import StatefulSetController

from .objects import NS, meta, ready_condition

KEY = f"{NS}/web"


def statefulset(replicas: int = 3, **spec: Any) -> dict:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("web", generation=1),
           "spec": {"replicas": replicas, "serviceName": "nginx", "selector": {"matchLabels": {"app": "nginx"}},
                    "template": {"metadata": {"labels": {"app": "nginx"}},
                                 "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
                        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
                    **spec}}
    STRATEGY.default(sts)
    return sts


def pods(h) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in h.objects("v1", "pods")}


def make_ready(h, *names: str) -> None:
    for name in names:
        h.run(h.client.patch(f"/api/v1/namespaces/{NS}/pods/{name}/status",
                             {"status": {"phase": "Running", "conditions": [ready_condition()]}}))


def created(h) -> list[str]:
    return [f"{a.plural} {a.body['metadata']['name']}" for a in h.writes() if a.verb == "create"]


def test_ordered_ready_makes_each_pod_after_the_previous_is_ready(harness):
    h = harness(StatefulSetController, [statefulset()])
    h.drain(watch=True)
    web0 = pods(h)["web-0"]
    revision = web0["metadata"]["labels"]["controller-revision-hash"]
    assert created(h) == [f"controllerrevisions {revision}", "persistentvolumeclaims www-web-0", "pods web-0"], \
        "the template's revision, then one pod, its claim first"
    assert web0["metadata"]["labels"] == {"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-0",
                                          "apps.kubernetes.io/pod-index": "0",
                                          "controller-revision-hash": web0["metadata"]["labels"][
                                              "controller-revision-hash"]}
    assert (web0["spec"]["hostname"], web0["spec"]["subdomain"]) == ("web-0", "nginx")
    assert web0["spec"]["volumes"] == [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}]
    claim = h.objects("v1", "persistentvolumeclaims")[0]
    assert claim["metadata"]["labels"] == {"app": "nginx"}
    events = h.events()
    h.clear()
    h.drain(watch=True)
    assert created(h) == [], "web-1 waits until web-0 is Running and Ready"
    make_ready(h, "web-0")
    h.drain(watch=True)
    assert created(h) == ["persistentvolumeclaims www-web-1", "pods web-1"]
    make_ready(h, "web-1")
    h.drain(watch=True)
    make_ready(h, "web-2")
    h.drain(watch=True)
    assert sorted(pods(h)) == ["web-0", "web-1", "web-2"]
    assert [e for e in events + h.events() if "Pod" in e and "Claim" not in e] == [
        f"Normal SuccessfulCreate create Pod web-{i} in StatefulSet web successful" for i in range(3)]
    status = h.objects("apps/v1", "statefulsets")[0]["status"]
    revision = status["updateRevision"]
    assert status == {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3,
                      "currentReplicas": 3, "updatedReplicas": 3, "currentRevision": revision,
                      "updateRevision": revision, "collisionCount": 0}


def test_parallel_makes_every_pod_at_once_and_scales_down_all_extra(harness):
    h = harness(StatefulSetController, [statefulset(podManagementPolicy="Parallel")])
    h.drain(watch=True)
    assert sorted(pods(h)) == ["web-0", "web-1", "web-2"]
    sts = h.objects("apps/v1", "statefulsets")[0]
    h.run(h.client.patch(f"/apis/apps/v1/namespaces/{NS}/statefulsets/web", {"spec": {"replicas": 1}}))
    h.clear()
    h.drain(watch=True)
    assert sorted(a.name for a in h.writes() if a.verb == "delete") == ["web-1", "web-2"]
    assert sts["metadata"]["uid"]


def test_ordered_scale_down_removes_the_highest_ordinal_first(harness):
    h = harness(StatefulSetController, [statefulset()])
    for name in ("web-0", "web-1", "web-2"):
        h.drain(watch=True)
        make_ready(h, name)
    h.drain(watch=True)
    h.run(h.client.patch(f"/apis/apps/v1/namespaces/{NS}/statefulsets/web", {"spec": {"replicas": 1}}))
    h.clear()
    h.drain(watch=True)
    deleted = [a.name for a in h.writes() if a.verb == "delete"]
    assert deleted[0] == "web-2" and "web-0" not in deleted
    assert "Normal SuccessfulDelete delete Pod web-2 in StatefulSet web successful" in h.events()
    assert [c["metadata"]["name"] for c in h.objects("v1", "persistentvolumeclaims")] == [
        "www-web-0", "www-web-1", "www-web-2"], "claims are retained (whenScaled: Retain)"


def test_rolling_update_goes_from_the_highest_ordinal_down_to_the_partition(harness):
    h = harness(StatefulSetController, [statefulset(updateStrategy={"type": "RollingUpdate",
                                                                     "rollingUpdate": {"partition": 1}})])
    for name in ("web-0", "web-1", "web-2"):
        h.drain(watch=True)
        make_ready(h, name)
    h.drain(watch=True)
    old = h.objects("apps/v1", "statefulsets")[0]["status"]["updateRevision"]
    h.run(h.client.patch(f"/apis/apps/v1/namespaces/{NS}/statefulsets/web",
                         {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:2"}]}}}}))
    h.clear()
    h.drain(watch=True)
    assert [a.name for a in h.writes() if a.verb == "delete"] == ["web-2"], "one at a time, highest first"
    make_ready(h, "web-2")
    h.drain(watch=True)
    make_ready(h, "web-1")
    h.drain(watch=True)
    revisions = {n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in pods(h).items()}
    status = h.objects("apps/v1", "statefulsets")[0]["status"]
    assert revisions["web-0"] == old != status["updateRevision"] == revisions["web-1"] == revisions["web-2"]
    assert (status["currentRevision"], status["updatedReplicas"], status["currentReplicas"]) == (old, 2, 1)


def test_delete_retention_policies_hand_claims_to_their_owners(harness):
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    h = harness(StatefulSetController, [statefulset(2, podManagementPolicy="Parallel",
                                                    persistentVolumeClaimRetentionPolicy=policy)])
    h.drain(watch=True)
    make_ready(h, "web-0", "web-1")
    h.drain(watch=True)
    claims = {c["metadata"]["name"]: c for c in h.objects("v1", "persistentvolumeclaims")}
    assert claims["www-web-0"]["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "uid-web", "blockOwnerDeletion": True}]
    web1 = pods(h)["web-1"]
    h.run(h.client.patch(f"/apis/apps/v1/namespaces/{NS}/statefulsets/web", {"spec": {"replicas": 1}}))
    h.clear()
    h.drain(watch=True)
    assert [(a.verb, a.plural, a.name) for a in h.writes()][:2] == [
        ("patch", "persistentvolumeclaims", "www-web-1"), ("delete", "pods", "web-1")], "the claim first"
    refs = {c["metadata"]["name"]: c["metadata"]["ownerReferences"] for c in h.objects("v1", "persistentvolumeclaims")}
    assert refs["www-web-1"][-1] == {"apiVersion": "v1", "kind": "Pod", "name": "web-1",
                                     "uid": web1["metadata"]["uid"], "blockOwnerDeletion": True}
    assert len(refs["www-web-0"]) == 1


def revisions(h) -> list[tuple[int, str]]:
    return sorted((r["revision"], r["data"]["spec"]["template"]["spec"]["containers"][0]["image"])
                  for r in h.objects("apps/v1", "controllerrevisions"))


def test_revisions_are_kept_to_the_history_limit_and_a_rollback_renumbers_its_own(harness):
    h = harness(StatefulSetController, [statefulset(1, podManagementPolicy="Parallel", revisionHistoryLimit=1)])
    h.drain(watch=True)
    first = h.objects("apps/v1", "controllerrevisions")[0]
    assert first["metadata"]["labels"] == {"app": "nginx", "controller-revision-hash": first["metadata"]["name"]}
    assert first["data"]["spec"]["template"]["$patch"] == "replace"
    assert first["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"

    def roll_to(image: str) -> None:
        h.run(h.client.patch(f"/apis/apps/v1/namespaces/{NS}/statefulsets/web",
                             {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}}))
        for _ in range(3):  # the old pod goes, the new one comes and becomes ready
            h.drain(watch=True)
            if "web-0" in pods(h):
                make_ready(h, "web-0")
        h.drain(watch=True)

    roll_to("nginx:2")
    roll_to("nginx:3")
    assert revisions(h) == [(2, "nginx:2"), (3, "nginx:3")], "one old revision beyond the live one"
    roll_to("nginx:2")
    assert revisions(h) == [(3, "nginx:3"), (4, "nginx:2")], "nginx:2's revision came back as 4"
    status = h.objects("apps/v1", "statefulsets")[0]["status"]
    assert status["updateRevision"] == status["currentRevision"] == pods(h)["web-0"]["metadata"]["labels"][
        "controller-revision-hash"]
