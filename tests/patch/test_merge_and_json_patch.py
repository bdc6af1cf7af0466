"""JSON merge patch (kubectl label/annotate/scale, patch --type=merge) and JSON patch (rollout undo, --type=json)."""

from __future__ import annotations

import copy

import pytest

from labkit.apiserver.patch import PatchError, apply_json_patch, apply_merge_patch

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}, "annotations": {"a": "1"}},
          "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def test_merge_patch_null_deletes_and_maps_merge():
    out = apply_merge_patch(DEPLOY, {"metadata": {"labels": {"tier": None, "env": "prod"}, "annotations": None}})
    assert out["metadata"] == {"name": "web", "labels": {"app": "web", "env": "prod"}}


def test_merge_patch_replaces_lists_and_drops_nulls_in_new_maps():
    out = apply_merge_patch(DEPLOY, {"spec": {"replicas": 4, "template": {"spec": {"containers": [{"name": "d"}]}},
                                              "strategy": {"type": "Recreate", "rollingUpdate": None}}})
    assert out["spec"] == {"replicas": 4, "template": {"spec": {"containers": [{"name": "d"}]}},
                           "strategy": {"type": "Recreate"}}


def test_merge_patch_does_not_mutate_and_rejects_non_objects():
    before = copy.deepcopy(DEPLOY)
    apply_merge_patch(DEPLOY, {"metadata": {"labels": None}})
    assert DEPLOY == before
    with pytest.raises(PatchError) as err:
        apply_merge_patch(DEPLOY, ["not", "an", "object"])
    assert err.value.code == 400


def test_json_patch_rollout_undo_shape():
    template = {"spec": {"containers": [{"name": "c", "image": "nginx:old"}]}}
    ops = [{"op": "replace", "path": "/spec/template", "value": template},
           {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "1"}}]
    out = apply_json_patch(DEPLOY, ops)
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:old"
    assert out["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert DEPLOY["metadata"]["annotations"] == {"a": "1"}


def test_json_patch_add_remove_and_passing_test():
    ops = [{"op": "test", "path": "/spec/replicas", "value": 2},
           {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "d"}},
           {"op": "remove", "path": "/metadata/labels/tier"}]
    out = apply_json_patch(DEPLOY, ops)
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["c", "d"]
    assert out["metadata"]["labels"] == {"app": "web"}


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/spec/replicas", "value": 3}],          # failing test
    [{"op": "remove", "path": "/spec/nothing"}],                      # missing target
    [{"op": "add", "path": "/no/such/parent", "value": 1}],           # missing parent
    [{"op": "replace", "path": "/spec/template/spec/containers/7", "value": {}}],  # index out of range
    [{"op": "frobnicate", "path": "/spec"}],                          # unknown op
    [{"op": "add", "value": 1}],                                      # no path
    [{"op": "replace", "path": "", "value": [1]}],                    # result is not an object
])
def test_json_patch_that_cannot_apply_is_422(ops):
    with pytest.raises(PatchError) as err:
        apply_json_patch(DEPLOY, ops)
    assert err.value.code == 422


@pytest.mark.parametrize("doc", [{"op": "add"}, ["add"], "[]"])
def test_json_patch_that_is_not_a_list_of_objects_is_400(doc):
    with pytest.raises(PatchError) as err:
        apply_json_patch(DEPLOY, doc)
    assert err.value.code == 400
