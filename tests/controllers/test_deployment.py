"""A rollout end to end: the Deployment and ReplicaSet controllers together, pods made ready by the test
playing the kubelet, and an undo sent as kubectl sends it (each step alone: unit/test_deployment.py)."""

from labkit.client import resource_path

from .conftest import deploy_body, mark_ready, pods, replicasets, wait_for

def kubelet_loop(api, ns):
    """Mark every not-yet-ready pod Ready; True once nothing was left to mark."""
    todo = [p for p in pods(api, ns) if p.get("status", {}).get("phase") != "Running"
            and not p["metadata"].get("deletionTimestamp")]
    for p in todo:
        mark_ready(api, p)
    return not todo


def rollout_done(api, ns, name, image=""):
    """Play the kubelet, then: is the rollout complete (and every pod on ``image``, if given)?"""
    kubelet_loop(api, ns)
    d = api("GET", resource_path("apps/v1", "deployments", namespace=ns, name=name))
    s = d.get("status", {})
    want = d["spec"]["replicas"]
    done = (s.get("observedGeneration", 0) >= d["metadata"]["generation"] and s.get("updatedReplicas") == want
            and s.get("availableReplicas") == want and s.get("replicas") == want)
    live = [p for p in pods(api, ns) if not p["metadata"].get("deletionTimestamp")]
    if image and (len(live) != want or any(p["spec"]["containers"][0]["image"] != image for p in live)):
        return None
    return d if done else None


def test_rollout_and_undo(api, ns):
    api("POST", resource_path("apps/v1", "deployments", namespace=ns), deploy_body("web", 3, "nginx:1.25"))
    d = wait_for(lambda: rollout_done(api, ns, "web"), what="first rollout")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    (rs1,) = replicasets(api, ns)
    pod_hash = rs1["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
    assert rs1["metadata"]["name"] == f"web-{pod_hash}"
    assert rs1["spec"]["selector"]["matchLabels"]["pod-template-hash"] == pod_hash
    assert all(p["metadata"]["labels"]["pod-template-hash"] == pod_hash for p in pods(api, ns))

    api("PATCH", resource_path("apps/v1", "deployments", namespace=ns, name="web"),
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.26"}]}}}},
        content_type="application/strategic-merge-patch+json")
    d = wait_for(lambda: rollout_done(api, ns, "web", "nginx:1.26"), what="second rollout")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    by_rev = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r for r in replicasets(api, ns)}
    assert by_rev["1"]["spec"]["replicas"] == 0 and by_rev["2"]["spec"]["replicas"] == 3
    msgs = [e["message"] for e in api("GET", resource_path("v1", "events", namespace=ns))["items"]
            if e["reason"] == "ScalingReplicaSet"]
    assert f"Scaled up replica set {rs1['metadata']['name']} from 0 to 3" in msgs

    # undo as kubectl does: the old ReplicaSet's template (hash label removed) as a JSON patch
    template = dict(by_rev["1"]["spec"]["template"])
    template["metadata"] = {**template["metadata"], "creationTimestamp": None,
                            "labels": {k: v for k, v in template["metadata"]["labels"].items() if k != "pod-template-hash"}}
    api("PATCH", resource_path("apps/v1", "deployments", namespace=ns, name="web"),
        [{"op": "replace", "path": "/spec/template", "value": template}], content_type="application/json-patch+json")
    wait_for(lambda: rollout_done(api, ns, "web", "nginx:1.25"), what="undo")
    rss = replicasets(api, ns)
    assert len(rss) == 2, "undo must reuse the old ReplicaSet"
    reused = next(r for r in rss if r["metadata"]["uid"] == rs1["metadata"]["uid"])
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert reused["spec"]["replicas"] == 3
