"""The garbage collector alone (``pkg/controller/garbagecollector``): owners and dependents in, the
deletes and patches out."""

from __future__ import annotations

from labkit.controllers.garbagecollector import GarbageCollector

from .objects import NS, T0, deployment, lease, node, owner, pod, replicaset

STRATEGIC = "application/strategic-merge-patch+json"


def background_delete(uid: str) -> dict:
    return {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background",
            "preconditions": {"uid": uid}}


def gone_rs(name: str = "gone") -> dict:
    return replicaset(name)  # never given to the fakes: an owner that no longer exists


def deleting(obj: dict, finalizer: str) -> dict:
    obj["metadata"].update(deletionTimestamp=T0, finalizers=[finalizer])
    return obj


def test_a_dependent_whose_owner_is_gone_is_deleted_after_a_live_check(harness):
    h = harness(GarbageCollector, [pod("p", owned_by=gone_rs())])
    assert h.drain() == [f"pods|{NS}/p"]
    assert h.actions() == [("get", "replicasets", NS, "gone", None),
                           ("delete", "pods", NS, "p", background_delete("uid-p"))]


def test_a_dependent_whose_owner_exists_is_left(harness):
    rs = replicaset()
    h = harness(GarbageCollector, [rs, pod("p", owned_by=rs)])
    h.drain()
    assert h.actions() == []


def test_an_owner_the_cache_has_not_seen_yet_is_asked_for_and_kept(harness):
    rs = replicaset()
    h = harness(GarbageCollector, [pod("p", owned_by=rs)])
    h.start()
    h.client.tracker.add(rs)  # on the server, not yet in the informer
    h.drain()
    assert h.actions() == [("get", "replicasets", NS, "web", None)]


def test_an_owner_recreated_under_the_same_name_is_another_owner(harness):
    old = replicaset()
    new = replicaset()
    new["metadata"]["uid"] = "uid-web-2"
    h = harness(GarbageCollector, [pod("p", owned_by=old)])
    h.start()
    h.client.tracker.add(new)
    h.drain()
    assert [a.verb for a in h.actions()] == ["get", "delete"]


def test_a_cluster_scoped_owner_is_looked_for_outside_the_namespace(harness):
    """A kubelet's Lease is owned by its Node: the live check asks /api/v1/nodes/NAME."""
    n = node("n1")
    held = lease("n1", T0)
    held["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "uid-n1"}]
    h = harness(GarbageCollector, [held])
    h.start()
    h.client.tracker.add(n)  # the Node exists; the cache is behind
    h.drain()
    assert h.actions() == [("get", "nodes", "", "n1", None)], "kept: its Node exists"
    h.run(h.client.delete("/api/v1/nodes/n1"))
    h.clear()
    h.drain(watch=True)
    assert h.actions() == [("get", "nodes", "", "n1", None),
                           ("delete", "leases", "kube-node-lease", "n1", background_delete("uid-lease-n1"))]


def test_owners_of_kinds_the_collector_does_not_watch_are_assumed_to_exist(harness):
    p = pod("p")
    p["metadata"]["ownerReferences"] = [{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w",
                                         "uid": "uid-w"}]
    h = harness(GarbageCollector, [p])
    h.drain()
    assert h.actions() == []


def test_with_one_owner_left_only_the_references_to_the_gone_ones_are_removed(harness):
    """``attemptToDeleteItem``: solid and dangling owners: patch the dangling references away."""
    rs = replicaset()
    p = pod("p", owned_by=rs)
    p["metadata"]["ownerReferences"].append({**owner(gone_rs()), "controller": False})
    h = harness(GarbageCollector, [rs, p])
    h.drain()
    assert h.actions() == [("get", "replicasets", NS, "gone", None),
                           ("patch", "pods", NS, "p", {"metadata": {"ownerReferences": [
                               {"$patch": "delete", "uid": "uid-gone"}], "uid": "uid-p"}})]
    assert h.actions()[-1].patch_type == STRATEGIC
    (left,) = h.objects("v1", "pods")
    assert left["metadata"]["ownerReferences"] == [owner(rs)]


def test_orphan_deletion_removes_the_owner_reference_from_each_dependent_then_the_finalizer(harness):
    rs = deleting(replicaset(), "orphan")
    h = harness(GarbageCollector, [rs, pod("a", owned_by=rs), pod("b", owned_by=rs)])
    h.drain()
    patches = [a for a in h.writes() if a.verb == "patch"]
    assert sorted(patches, key=lambda a: a.name) == [
        ("patch", "pods", NS, name, {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "uid-web"}],
                                                  "uid": f"uid-{name}"}}) for name in ("a", "b")]
    assert all(a.patch_type == STRATEGIC for a in patches)
    last = h.writes()[-1]
    assert (last.verb, last.resource, last.name, last.body["metadata"]["finalizers"]) == (
        "update", "replicasets", "web", [])
    assert h.objects("apps/v1", "replicasets") == [], "no finalizer left: the API server removes it"
    assert all(not p["metadata"]["ownerReferences"] for p in h.objects("v1", "pods"))


def test_foreground_deletion_deletes_dependents_and_waits_for_them_before_the_finalizer(harness):
    rs = deleting(replicaset(), "foregroundDeletion")
    h = harness(GarbageCollector, [rs, pod("a", owned_by=rs), pod("b", owned_by=rs)])
    h.drain()
    assert sorted((a.verb, a.name, a.body["propagationPolicy"]) for a in h.writes()) == [
        ("delete", "a", "Background"), ("delete", "b", "Background")]
    assert h.objects("apps/v1", "replicasets") != [], "blocking dependents were still in the cache"
    h.clear()
    h.drain(watch=True)  # the pods' deletions arrive
    assert [(a.verb, a.resource, a.body["metadata"]["finalizers"]) for a in h.writes()] == [
        ("update", "replicasets", [])]
    assert h.objects("apps/v1", "replicasets") == []


def test_a_dependent_with_dependents_of_its_own_is_deleted_in_the_foreground_too(harness):
    d = deleting(deployment(), "foregroundDeletion")
    rs = replicaset(owned_by=d)
    h = harness(GarbageCollector, [d, rs, pod("p", owned_by=rs)])
    h.drain()
    (delete_rs,) = [a for a in h.writes() if a.resource == "replicasets" and a.verb == "delete"]
    assert delete_rs.body["propagationPolicy"] == "Foreground"


def test_a_status_change_is_not_the_collectors_business(harness):
    rs = replicaset()
    h = harness(GarbageCollector, [rs, pod("p", owned_by=rs)])
    h.drain()
    h.run(h.client.patch(f"/api/v1/namespaces/{NS}/pods/p/status", {"status": {"phase": "Succeeded"}}))
    assert h.drain(watch=True) == []
