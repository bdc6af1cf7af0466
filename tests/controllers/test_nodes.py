import datetime as dt

from labkit.client import APIStatusError, resource_path

from .conftest import FAST, wait_for


def now():
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def register_node(api, name):
    """What a kubelet does: a Ready node and a fresh Lease (which then is never renewed)."""
    api("POST", "/api/v1/nodes", {"metadata": {"name": name}})
    api("PATCH", f"/api/v1/nodes/{name}/status", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now(),
         "lastTransitionTime": now()}]}}, content_type="application/merge-patch+json")
    api("POST", resource_path("coordination.k8s.io/v1", "leases", namespace="kube-node-lease"),
        {"metadata": {"name": name}, "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now()}})


def pod_on(api, ns, name, node, toleration_seconds=None):
    tolerations = [] if toleration_seconds is None else [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": toleration_seconds}]
    api("POST", resource_path("v1", "pods", namespace=ns),
        {"metadata": {"name": name}, "spec": {"nodeName": node, "tolerations": tolerations,
                                              "containers": [{"name": "c", "image": "nginx"}]}})


def test_silent_node_turns_unknown_is_tainted_and_evicts(api, ns):
    register_node(api, "quiet")
    pod_on(api, ns, "short", "quiet", toleration_seconds=1)
    pod_on(api, ns, "default", "quiet")  # the API server adds 300 s tolerations
    node = wait_for(lambda: (n := api("GET", "/api/v1/nodes/quiet")) and len((n.get("spec") or {}).get("taints") or []) == 2 and n,
                    timeout=FAST.node_monitor_grace_period + 5, what="taints")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
    assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")}

    def evicted():
        try:
            return api("GET", resource_path("v1", "pods", namespace=ns, name="short"))["metadata"].get("deletionTimestamp")
        except APIStatusError as e:
            return e.code == 404
    wait_for(evicted, timeout=5, what="eviction after tolerationSeconds")
    assert not api("GET", resource_path("v1", "pods", namespace=ns, name="default"))["metadata"].get("deletionTimestamp")
    reasons = {e["reason"] for e in api("GET", resource_path("v1", "events", namespace=ns))["items"]}
    assert "TaintManagerEviction" in reasons

    # the kubelet comes back: Ready=True removes the taints
    api("PATCH", "/api/v1/nodes/quiet/status", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now(),
         "lastTransitionTime": now()}]}}, content_type="application/merge-patch+json")
    wait_for(lambda: not (api("GET", "/api/v1/nodes/quiet").get("spec") or {}).get("taints"), what="taints removed")
    api("DELETE", "/api/v1/nodes/quiet")


def test_node_ipam_assigns_distinct_pod_cidrs(api):
    for name in ("ipam-a", "ipam-b", "ipam-c"):
        api("POST", "/api/v1/nodes", {"metadata": {"name": name}})
    cidrs = wait_for(lambda: all((api("GET", f"/api/v1/nodes/{name}").get("spec") or {}).get("podCIDR")
                                 for name in ("ipam-a", "ipam-b", "ipam-c"))
                     and [api("GET", f"/api/v1/nodes/{name}")["spec"] for name in ("ipam-a", "ipam-b", "ipam-c")],
                     what="podCIDRs")
    assert len({s["podCIDR"] for s in cidrs}) == 3
    assert all(s["podCIDR"].startswith("10.244.") and s["podCIDR"].endswith("/24") and s["podCIDRs"] == [s["podCIDR"]]
               for s in cidrs)
    for name in ("ipam-a", "ipam-b", "ipam-c"):
        api("DELETE", f"/api/v1/nodes/{name}")


def test_registered_and_removed_nodes_get_events(api):
    register_node(api, "comes-and-goes")

    def reasons():
        return {e["reason"] for e in api("GET", resource_path("v1", "events", namespace="default"))["items"]
                if e["involvedObject"].get("name") == "comes-and-goes"}
    wait_for(lambda: "RegisteredNode" in reasons(), what="RegisteredNode")
    api("DELETE", "/api/v1/nodes/comes-and-goes")
    wait_for(lambda: "RemovingNode" in reasons(), what="RemovingNode")
