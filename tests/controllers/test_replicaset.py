from labkit.client import resource_path

from .conftest import pods, wait_for


def rs_body(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def test_replicaset_scales_up_and_down(api, ns):
    api("POST", resource_path("apps/v1", "replicasets", namespace=ns), rs_body("web", 3))
    created = wait_for(lambda: len(pods(api, ns)) == 3 and pods(api, ns), what="3 pods")
    rs = api("GET", resource_path("apps/v1", "replicasets", namespace=ns, name="web"))
    for p in created:
        assert p["metadata"]["name"].startswith("web-")
        ref = p["metadata"]["ownerReferences"][0]
        assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": rs["metadata"]["uid"],
                       "controller": True, "blockOwnerDeletion": True}
    status = wait_for(lambda: (s := api("GET", resource_path("apps/v1", "replicasets", namespace=ns, name="web"))["status"])
                      .get("replicas") == 3 and s, what="status")
    assert status["fullyLabeledReplicas"] == 3 and status["observedGeneration"] == 1
    wait_for(lambda: sum(e["reason"] == "SuccessfulCreate" for e in api("GET", resource_path("v1", "events", namespace=ns))["items"]) == 3)
    api("PATCH", resource_path("apps/v1", "replicasets", namespace=ns, name="web"), {"spec": {"replicas": 1}},
        content_type="application/merge-patch+json")
    wait_for(lambda: len(pods(api, ns)) == 1, what="scale down to 1")
    msgs = [e["message"] for e in api("GET", resource_path("v1", "events", namespace=ns))["items"]]
    assert any(m.startswith("Created pod: web-") for m in msgs)


def test_replicaset_replaces_a_deleted_pod(api, ns):
    api("POST", resource_path("apps/v1", "replicasets", namespace=ns), rs_body("db", 2))
    first = wait_for(lambda: len(pods(api, ns)) == 2 and pods(api, ns))
    api("DELETE", resource_path("v1", "pods", namespace=ns, name=first[0]["metadata"]["name"]))
    after = wait_for(lambda: (ps := pods(api, ns)) and len(ps) == 2 and
                     first[0]["metadata"]["name"] not in {p["metadata"]["name"] for p in ps} and ps)
    assert len(after) == 2


def _running(name: str, node: str, *, created: str = "2024-01-01T00:00:00Z", ready_since: str = "2024-01-01T00:01:00Z",
             cost: int | None = None) -> dict:
    meta = {"name": name, "creationTimestamp": created}
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": ready_since}]}}


def test_scale_down_takes_from_the_node_with_most_replicas_first():
    from labkit.controllers.replicaset import pods_to_delete
    pods = [_running("a", "node-1", created="2024-01-01T00:09:00Z"),  # the newest, alone on its node
            _running("b", "node-2"), _running("c", "node-2"), _running("d", "node-3")]
    assert {p["metadata"]["name"] for p in pods_to_delete(pods, 1)} <= {"b", "c"}
    assert pods_to_delete(pods + [_running("e", "node-3", cost=-5)], 1)[0]["metadata"]["name"] == "e", \
        "a lower pod-deletion-cost goes first"
    later = _running("f", "node-4", ready_since="2024-01-01T00:05:00Z")
    assert pods_to_delete([_running("g", "node-5"), later], 1) == [later], "ready for less time goes first"


def test_a_large_replicaset_combines_its_create_events(api, ns):
    """As client-go's correlator does: nine events, then one combined event that counts the rest."""
    api("POST", resource_path("apps/v1", "replicasets", namespace=ns), rs_body("big", 12))
    wait_for(lambda: len(pods(api, ns)) == 12, what="12 pods")

    def creates() -> list[dict]:
        return [e for e in api("GET", resource_path("v1", "events", namespace=ns))["items"]
                if e["reason"] == "SuccessfulCreate"]
    events = wait_for(lambda: (es := creates()) and sum(e["count"] for e in es) == 12 and es, what="12 counted")
    combined = [e for e in events if e["message"].startswith("(combined from similar events): Created pod: big-")]
    assert len(events) == 10 and len(combined) == 1 and combined[0]["count"] == 3
