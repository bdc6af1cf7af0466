"""Deleting a Deployment with each propagation policy end to end: the API server's finalizers, the garbage
collector, and the Deployment and ReplicaSet controllers together (the collector alone:
unit/test_garbagecollector.py)."""

from labkit.client import APIStatusError, resource_path

from .conftest import deploy_body, pods, replicasets, wait_for


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
