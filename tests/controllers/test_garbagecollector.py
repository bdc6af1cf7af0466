from labkit.client import APIStatusError, resource_path

from .conftest import pods, wait_for
from .test_deployment import deploy_body, replicasets
from .test_replicaset import rs_body


def delete(api, ns, name, policy):
    api("DELETE", resource_path("apps/v1", "deployments", namespace=ns, name=name),
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy})


def gone(api, path):
    try:
        api("GET", path)
    except APIStatusError as e:
        return e.code == 404
    return False


def start(api, ns, name):
    api("POST", resource_path("apps/v1", "deployments", namespace=ns), deploy_body(name, 2, "nginx"))
    wait_for(lambda: len(pods(api, ns)) == 2 and len(replicasets(api, ns)) == 1, what="deployment up")


def test_background_deletes_dependents_after_the_owner(api, ns):
    start(api, ns, "bg")
    delete(api, ns, "bg", "Background")
    assert gone(api, resource_path("apps/v1", "deployments", namespace=ns, name="bg")), "owner goes first"
    wait_for(lambda: not replicasets(api, ns) and not pods(api, ns), what="ReplicaSet and pods collected")


def test_foreground_keeps_the_owner_until_dependents_are_gone(api, ns):
    start(api, ns, "fg")
    delete(api, ns, "fg", "Foreground")
    d = api("GET", resource_path("apps/v1", "deployments", namespace=ns, name="fg"))
    assert d["metadata"]["deletionTimestamp"] and "foregroundDeletion" in d["metadata"]["finalizers"]
    wait_for(lambda: gone(api, resource_path("apps/v1", "deployments", namespace=ns, name="fg")), what="owner gone")
    assert not replicasets(api, ns) and not pods(api, ns), "dependents are deleted before the owner"


def test_orphan_deployment_leaves_its_replicaset(api, ns):
    start(api, ns, "or")
    delete(api, ns, "or", "Orphan")
    wait_for(lambda: gone(api, resource_path("apps/v1", "deployments", namespace=ns, name="or")), what="owner gone")
    (rs,) = replicasets(api, ns)
    assert not rs["metadata"].get("ownerReferences") and not rs["metadata"].get("finalizers")
    assert len(pods(api, ns)) == 2


def test_orphan_replicaset_leaves_its_pods(api, ns):
    api("POST", resource_path("apps/v1", "replicasets", namespace=ns), rs_body("solo", 2))
    wait_for(lambda: len(pods(api, ns)) == 2, what="pods")
    api("DELETE", resource_path("apps/v1", "replicasets", namespace=ns, name="solo"),
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"})
    wait_for(lambda: gone(api, resource_path("apps/v1", "replicasets", namespace=ns, name="solo")), what="owner gone")
    survivors = pods(api, ns)
    assert len(survivors) == 2 and all(not p["metadata"].get("ownerReferences") for p in survivors)


def test_a_deleted_nodes_lease_is_collected(api):
    """The kubelet's Lease names its Node as owner: deleting the Node removes the Lease too."""
    node = api("POST", "/api/v1/nodes", {"metadata": {"name": "gone-soon"}})
    leases = resource_path("coordination.k8s.io/v1", "leases", namespace="kube-node-lease")
    api("POST", leases, {"metadata": {"name": "gone-soon", "ownerReferences": [
        {"apiVersion": "v1", "kind": "Node", "name": "gone-soon", "uid": node["metadata"]["uid"]}]},
        "spec": {"holderIdentity": "gone-soon", "leaseDurationSeconds": 40}})
    api("DELETE", "/api/v1/nodes/gone-soon")
    wait_for(lambda: gone(api, f"{leases}/gone-soon"), what="the Lease collected")
