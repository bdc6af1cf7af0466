"""Strategic merge patches as kubectl sends them, applied the way kube-apiserver applies them."""

from __future__ import annotations

import copy

import pytest

from labkit.apiserver.merge_schema import field, root
from labkit.apiserver.patch import PatchError, apply_strategic_merge_patch as smp


def deployment(*containers: dict, strategy: dict | None = None) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": strategy or {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": list(containers)}},
        },
    }


NGINX = {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                          {"containerPort": 443, "protocol": "TCP"}],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
SIDECAR = {"name": "sidecar", "image": "busybox", "command": ["sleep", "inf"]}


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_set_image_with_set_element_order_keeps_order_and_other_fields():
    live = deployment(NGINX, SIDECAR)
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{"image": "busybox:1.36", "name": "sidecar"}]}}}}
    out = smp(live, patch, kind="Deployment")
    assert [c["name"] for c in containers(out)] == ["nginx", "sidecar"]
    assert containers(out)[1] == {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "inf"]}
    assert containers(out)[0] == NGINX


def test_set_element_order_reorders_items():
    live = deployment(NGINX, SIDECAR)
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}]}}}}
    assert [c["name"] for c in containers(smp(live, patch, kind="Deployment"))] == ["sidecar", "nginx"]


def test_rollout_restart_adds_template_annotation():
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}}
    out = smp(deployment(NGINX), patch, kind="Deployment")
    assert out["spec"]["template"]["metadata"] == {
        "labels": {"app": "nginx"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}


def test_cordon_and_uncordon():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.0.0.0/24"}}
    cordoned = smp(node, {"spec": {"unschedulable": True}}, kind="Node")
    assert cordoned["spec"] == {"podCIDR": "10.0.0.0/24", "unschedulable": True}
    assert smp(cordoned, {"spec": {"unschedulable": None}}, kind="Node")["spec"] == {"podCIDR": "10.0.0.0/24"}


def test_client_side_apply_three_way_patch_removes_a_container_port():
    # what kubectl apply sends after port 443 is deleted from the manifest
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"$setElementOrder/ports": [{"containerPort": 80}], "name": "nginx",
                            "ports": [{"$patch": "delete", "containerPort": 443}]}]}}},
    }
    out = smp(deployment(NGINX), patch, kind="Deployment")
    assert containers(out)[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert out["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": "{}"}


def test_patch_delete_removes_a_container():
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    assert containers(smp(deployment(NGINX, SIDECAR), patch, kind="Deployment")) == [NGINX]


def test_retain_keys_switches_strategy_rolling_update_to_recreate():
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}}
    assert smp(deployment(NGINX), patch, kind="Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_clears_old_volume_source():
    pod = {"kind": "Pod", "spec": {"containers": [SIDECAR], "volumes": [{"name": "data", "emptyDir": {}},
                                                                      {"name": "tmp", "emptyDir": {}}]}}
    patch = {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "data",
                                   "configMap": {"name": "cfg"}}]}}
    assert smp(pod, patch, kind="Pod")["spec"]["volumes"] == [
        {"name": "data", "configMap": {"name": "cfg"}}, {"name": "tmp", "emptyDir": {}}]


def test_retain_keys_rejects_patch_keys_outside_the_list():
    with pytest.raises(PatchError) as err:
        smp(deployment(NGINX), {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}},
            kind="Deployment")
    assert err.value.code == 400 and "retainKeys" in err.value.message


def test_merge_by_key_updates_in_place_and_puts_new_items_first():
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
         "ports": [{"containerPort": 8080}]}]}}}}
    out = containers(smp(deployment(NGINX), patch, kind="Deployment"))[0]
    # patch items keep the patch's order; server-only items keep theirs and follow, as in kube
    assert out["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}]
    assert [p["containerPort"] for p in out["ports"]] == [8080, 80, 443]


def test_adding_a_container_without_order_directive_puts_it_first():
    # the "patch-demo" example of the Kubernetes docs
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "redis", "image": "redis"}]}}}}
    assert [c["name"] for c in containers(smp(deployment(NGINX), patch, kind="Deployment"))] == ["redis", "nginx"]


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list():
    obj = {"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a", "b"]}}
    out = smp(obj, {"metadata": {"finalizers": ["c", "a"]}}, kind="ConfigMap")
    assert out["metadata"]["finalizers"] == ["c", "a", "b"]
    out = smp(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, kind="ConfigMap")
    assert out["metadata"] == {"name": "c", "finalizers": ["b"]}


def test_lists_without_merge_key_are_replaced():
    pod = {"kind": "Pod", "spec": {"tolerations": [{"key": "a", "operator": "Exists"}],
                                   "containers": [{"name": "c", "args": ["x", "y"]}]}}
    patch = {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}],
                      "containers": [{"name": "c", "args": ["z"]}]}}
    out = smp(pod, patch, kind="Pod")
    assert out["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert out["spec"]["containers"] == [{"name": "c", "args": ["z"]}]


def test_owner_references_merge_by_uid_and_service_ports_by_port():
    svc = {"kind": "Service", "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]},
           "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    out = smp(svc, {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]},
                    "spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, kind="Service")
    assert [r["uid"] for r in out["metadata"]["ownerReferences"]] == ["2", "1"]
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}]


def test_node_status_conditions_merge_by_type():
    node = {"kind": "Node", "status": {"conditions": [{"type": "Ready", "status": "False"},
                                                       {"type": "MemoryPressure", "status": "False"}]}}
    out = smp(node, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, kind="Node")
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "MemoryPressure", "status": "False"}]


def test_patch_replace_directive_on_map_and_list():
    live = deployment(NGINX, SIDECAR)
    out = smp(live, {"metadata": {"labels": {"$patch": "replace", "tier": "web"}},
                     "spec": {"template": {"spec": {"containers": [{"$patch": "replace"},
                                                                   {"name": "only", "image": "x"}]}}}},
              kind="Deployment")
    assert out["metadata"]["labels"] == {"tier": "web"}
    assert containers(out) == [{"name": "only", "image": "x"}]


def test_unknown_kind_replaces_lists():
    obj = {"kind": "Widget", "spec": {"items": [{"name": "a"}], "m": {"x": 1}}}
    out = smp(obj, {"spec": {"items": [{"name": "b"}], "m": {"y": 2}}}, kind="Widget")
    assert out["spec"] == {"items": [{"name": "b"}], "m": {"x": 1, "y": 2}}


def test_directives_never_reach_the_result():
    live = {"kind": "Deployment", "spec": {}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                      "template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                                            "containers": [{"name": "a", "$setElementOrder/env": [{"name": "X"}],
                                                            "env": [{"name": "X", "value": "1"}]}]}}}}
    out = smp(live, patch, kind="Deployment")
    assert out == {"kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}, "template": {"spec": {
        "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}}}


def test_inputs_are_not_mutated():
    live = deployment(NGINX, SIDECAR)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    before = copy.deepcopy((live, patch))
    smp(live, patch, kind="Deployment")
    assert (live, patch) == before


@pytest.mark.parametrize("patch, fragment", [
    ([{"op": "add"}], "invalid JSON document"),
    ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, "does not contain declared merge key: name"),
    ({"spec": {"strategy": {"$retainKeys": "type"}}}, "retainKeys"),
    ({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                                     "containers": [{"name": "b", "image": "x"}]}}}}, "$setElementOrder"),
    ({"metadata": {"labels": {"$patch": "explode"}}}, "unknown patch type"),
    ({"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}}, "merging lists cannot yet be specified"),
])
def test_malformed_patches_are_400(patch, fragment):
    with pytest.raises(PatchError) as err:
        smp(deployment(NGINX), patch, kind="Deployment")
    assert err.value.code == 400
    assert fragment in err.value.message


def test_schema_holds_the_real_merge_keys():
    pod_spec = field(field(root("Pod"), "spec").type, "containers").type
    assert field("PodSpec", "containers").patch_merge_key == "name"
    assert pod_spec == "Container"
    ports = field("Container", "ports")
    assert (ports.patch_merge_key, ports.list_map_keys, dict(ports.key_defaults)) == (
        "containerPort", ("containerPort", "protocol"), {"protocol": "TCP"})
    assert field("Container", "volumeMounts").patch_merge_key == "mountPath"
    assert field("PodSpec", "volumes").patch_strategy == "merge,retainKeys"
    assert field("PodSpec", "tolerations").patch_merge_key == ""
    assert field("ObjectMeta", "ownerReferences").patch_merge_key == "uid"
    assert field("NodeStatus", "addresses").patch_merge_key == "type"
    assert field("DeploymentSpec", "strategy").patch_strategy == "retainKeys"
    assert field("ServiceSpec", "ports").list_map_keys == ("port", "protocol")
    assert field("PodStatus", "hostIPs").list_type == "atomic" and field("PodStatus", "hostIPs").merges_list
    assert root("Widget") is None
