"""Server-side apply and Update tracking: what lands in metadata.managedFields, conflicts, pruning."""

from __future__ import annotations

import copy

import pytest

from labkit.apiserver.apply import (
    ApplyConflict, decode_fields, encode_fields, path_string, server_side_apply, track_update,
)
from labkit.apiserver.patch import PatchError, apply_merge_patch

T0, T1, T2, T3 = (f"2024-01-0{n}T00:00:00Z" for n in range(1, 5))


def manifest(*, replicas: int | None = 3, ports: tuple[int, ...] = (80,), labels: dict | None = None) -> dict:
    container = {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": p} for p in ports]}
    spec = {"selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [container]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx", "namespace": "default", "labels": labels or {"app": "nginx"}},
            "spec": spec}


def apply(live, applied, manager="kubectl", force=False, now=T0):
    return server_side_apply(live, applied, manager=manager, force=force, now=now)


def entries(obj: dict) -> dict[tuple[str, str], dict]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"]["managedFields"]}


CONTAINER_FIELDS = {
    ".": {}, "f:image": {}, "f:name": {},
    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
}


def test_apply_creates_with_the_kube_managed_fields_shape():
    obj = apply(None, manifest())
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"nginx"}': CONTAINER_FIELDS}}}},
        },
    }]


def test_reapply_is_idempotent():
    obj = apply(None, manifest())
    assert apply(obj, manifest(), now=T1) == obj


def test_apply_that_drops_fields_removes_them():
    obj = apply(None, manifest(ports=(80, 443), labels={"app": "nginx", "tier": "web"}))
    out = apply(obj, manifest(ports=(80,), replicas=None), now=T1)
    assert [p["containerPort"] for p in out["spec"]["template"]["spec"]["containers"][0]["ports"]] == [80]
    assert out["metadata"]["labels"] == {"app": "nginx"}
    assert "replicas" not in out["spec"]
    assert "f:replicas" not in entries(out)["kubectl", "Apply"]["fieldsV1"]["f:spec"]
    assert entries(out)["kubectl", "Apply"]["time"] == T1


def test_dropped_field_stays_while_another_manager_owns_it():
    obj = apply(None, manifest())
    obj = apply(obj, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
                      "spec": {"replicas": 3}}, manager="hpa")  # same value: shared, no conflict
    out = apply(obj, manifest(replicas=None), now=T1)
    assert out["spec"]["replicas"] == 3
    assert set(entries(out)) == {("kubectl", "Apply"), ("hpa", "Apply")}


def test_conflicting_managers_raise_with_the_field_paths():
    obj = apply(None, manifest())
    changed = copy.deepcopy(manifest())
    changed["spec"]["replicas"] = 5
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    with pytest.raises(ApplyConflict) as err:
        apply(obj, changed, manager="other")
    assert err.value.conflicts == [
        ("kubectl", ".spec.replicas"),
        ("kubectl", '.spec.template.spec.containers[name="nginx"].image'),
    ]


def test_force_moves_ownership_and_drops_emptied_managers():
    obj = apply(None, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}},
                manager="first")
    out = apply(obj, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}},
                manager="second", force=True, now=T1)
    assert out["data"] == {"a": "2"}
    assert [(e["manager"], e["fieldsV1"]) for e in out["metadata"]["managedFields"]] == [
        ("second", {"f:data": {"f:a": {}}})]


def test_update_then_apply_conflicts_with_the_update_manager():
    obj = apply(None, manifest())
    scaled = apply_merge_patch(obj, {"spec": {"replicas": 5}})
    track_update(obj, scaled, manager="kubectl-scale", now=T1)
    assert entries(scaled)["kubectl-scale", "Update"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries(scaled)["kubectl", "Apply"]["fieldsV1"]["f:spec"]
    with pytest.raises(ApplyConflict) as err:
        apply(scaled, manifest(), now=T2)
    assert err.value.conflicts == [("kubectl-scale", ".spec.replicas")]


def test_track_update_on_create_marks_new_maps_and_items_as_members():
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"run": "p"}},
           "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {}}]}}
    track_update(None, obj, manager="kubectl-run", now=T0)
    assert obj["metadata"]["managedFields"] == [{
        "manager": "kubectl-run", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:run": {}}},
                     "f:spec": {"f:containers": {'k:{"name":"c"}': {
                         ".": {}, "f:image": {}, "f:name": {}, "f:resources": {}}}}},
    }]


def test_track_update_merges_entries_of_one_manager_and_keeps_time_when_nothing_changed():
    old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    track_update(None, old, manager="edit", now=T0)
    new = apply_merge_patch(old, {"data": {"b": "2"}})
    track_update(old, new, manager="edit", now=T1)
    assert new["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}, "f:b": {}}}
    assert new["metadata"]["managedFields"][0]["time"] == T1
    same = copy.deepcopy(new)
    track_update(new, same, manager="edit", now=T2)
    assert same["metadata"]["managedFields"] == new["metadata"]["managedFields"]


def test_track_update_removes_deleted_fields_from_every_manager():
    old = apply(None, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                       "data": {"a": "1", "b": "2"}})
    new = apply_merge_patch(old, {"data": {"a": None}})
    track_update(old, new, manager="kubectl-edit", now=T1)
    assert [(e["manager"], e["fieldsV1"]) for e in new["metadata"]["managedFields"]] == [
        ("kubectl", {"f:data": {"f:b": {}}})]


def test_status_is_owned_through_the_status_subresource_only():
    live = apply(None, manifest())
    applied = manifest()
    applied["status"] = {"replicas": 9}
    out = apply(live, applied, now=T1)
    assert "status" not in out and out == live  # status ignored by apply through the main resource

    updated = copy.deepcopy(live)
    updated["status"] = {"replicas": 3}
    track_update(live, updated, manager="kube-controller-manager", now=T1)  # through the main resource
    assert ("kube-controller-manager", "Update") not in entries(updated)
    track_update(live, updated, manager="kube-controller-manager", now=T1, subresource="status")
    status_entry = entries(updated)["kube-controller-manager", "Update"]
    assert status_entry["subresource"] == "status"
    assert status_entry["fieldsV1"] == {"f:status": {"f:replicas": {}}}  # a Go value struct: no "."
    assert "subresource" not in entries(updated)["kubectl", "Apply"]


def test_managed_fields_are_sorted_apply_first_then_by_time():
    obj = apply(None, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}, now=T2)
    new = apply_merge_patch(obj, {"metadata": {"labels": {"x": "y"}}})
    track_update(obj, new, manager="kubectl-label", now=T3)
    new2 = apply_merge_patch(new, {"data": {"z": "1"}})
    track_update(new, new2, manager="a-early", now=T1)
    assert [(e["manager"], e["operation"]) for e in new2["metadata"]["managedFields"]] == [
        ("kubectl", "Apply"), ("a-early", "Update"), ("kubectl-label", "Update")]


def test_apply_merges_keyed_lists_in_applied_order():
    live = apply(None, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]}},
                 manager="one")
    out = apply(live, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                       "spec": {"containers": [{"name": "c", "image": "y"}, {"name": "a", "image": "x"}]}},
                manager="two")
    assert [c["name"] for c in out["spec"]["containers"]] == ["c", "a", "b"]


def test_apply_reorders_shared_items_and_keeps_live_only_items_in_place():
    def pod(*names: str) -> dict:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": n} for n in names]}}
    out = apply(apply(None, pod("a", "x", "b"), manager="one"), pod("b", "a"), manager="two")
    assert [c["name"] for c in out["spec"]["containers"]] == ["x", "b", "a"]  # as structured-merge-diff orders them


def test_inputs_are_never_mutated():
    live = apply(None, manifest())
    applied = manifest(replicas=None)
    before = copy.deepcopy((live, applied))
    apply(live, applied, now=T1)
    assert (live, applied) == before


def test_missing_list_key_and_missing_kind_are_400():
    bad = manifest()
    del bad["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(PatchError) as err:
        apply(None, bad)
    assert err.value.code == 400 and 'omits key field "name"' in err.value.message
    with pytest.raises(PatchError):
        apply(None, {"apiVersion": "v1", "metadata": {"name": "x"}})


def test_fields_v1_round_trip_and_path_strings():
    fields = {
        (("f", "metadata"), ("f", "finalizers"), ("v", '"example.com/x"')),
        (("f", "spec"), ("f", "ports"), ("k", '{"port":80,"protocol":"TCP"}')),
        (("f", "spec"), ("f", "ports"), ("k", '{"port":80,"protocol":"TCP"}'), ("f", "port")),
    }
    encoded = encode_fields(fields)
    assert encoded == {"f:metadata": {"f:finalizers": {'v:"example.com/x"': {}}},
                       "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}
    assert decode_fields(encoded) == fields
    assert sorted(map(path_string, fields)) == [
        '.metadata.finalizers[="example.com/x"]', '.spec.ports[port=80,protocol="TCP"]',
        '.spec.ports[port=80,protocol="TCP"].port']
