"""Nodes and namespaces: status handling, defaults, validation and Table cells."""

from __future__ import annotations

import pytest

from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry import namespace, node

from .conftest import NOW
from .test_pod import causes_of

CREATED = "2025-12-29T12:00:00Z"  # three days before NOW


def update(reg, name, change, **kw):
    def mutate(obj):
        change(obj)
        return obj
    return reg.update("", name, mutate, **kw)[0]


# --- nodes ----------------------------------------------------------------------------------------


def kubelet_node(**status) -> dict:
    return {"metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
            "status": {"capacity": {"cpu": "4", "memory": "8192Mi", "pods": "110"}, **status}}


def test_node_create_keeps_status_and_defaults_allocatable(registry):
    created, _ = registry("nodes").create("", kubelet_node(nodeInfo={"kubeletVersion": "v1.33.0"}))
    assert created["status"]["capacity"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    assert created["status"]["allocatable"] == created["status"]["capacity"]
    assert created["status"]["nodeInfo"] == {"kubeletVersion": "v1.33.0"}


def test_node_updates_keep_status_and_status_updates_keep_spec(registry):
    reg = registry("nodes")
    reg.create("", kubelet_node())
    cordoned = update(reg, "node-1", lambda o: o.update(spec={"unschedulable": True}, status={}))
    assert cordoned["spec"] == {"unschedulable": True}
    assert cordoned["status"]["capacity"]["cpu"] == "4"
    ready = update(reg, "node-1", lambda o: o.update(spec={}, status={"conditions": [{"type": "Ready", "status": "True"}]}),
                   subresource="status")
    assert ready["spec"] == {"unschedulable": True}
    assert node.node_status_cell(ready) == "Ready,SchedulingDisabled"


def test_taint_validation(registry):
    body = kubelet_node()
    body["spec"] = {"taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"},
                               {"key": "gpu", "value": "no", "effect": "NoSchedule"},
                               {"key": "bad key", "effect": "Sometimes"}, {"key": "x"}]}
    with pytest.raises(ApiError) as err:
        registry("nodes").create("", body)
    assert [f for f, _ in causes_of(err.value)] == [
        "spec.taints[1]", "spec.taints[2].key", "spec.taints[2].effect", "spec.taints[3].effect"]
    messages = dict(causes_of(err.value))
    assert messages["spec.taints[1]"].endswith(": taints must be unique by key and effect pair")
    assert messages["spec.taints[2].effect"] == (
        'Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')
    assert messages["spec.taints[3].effect"] == "Required value"


@pytest.mark.parametrize(("conditions", "unschedulable", "want"), [
    ([{"type": "Ready", "status": "True"}], False, "Ready"),
    ([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "False"}], False, "NotReady"),
    ([{"type": "Ready", "status": "Unknown"}], True, "NotReady,SchedulingDisabled"),
    ([], False, "Unknown"),
    ([], True, "Unknown,SchedulingDisabled"),
])
def test_node_status_cell(conditions, unschedulable, want):
    assert node.node_status_cell({"spec": {"unschedulable": unschedulable}, "status": {"conditions": conditions}}) == want


def test_node_table_row():
    obj = {"metadata": {"name": "cp", "creationTimestamp": CREATED,
                        "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "",
                                   "kubernetes.io/role": "master", "node-role.kubernetes.io/": ""}},
           "spec": {},
           "status": {"conditions": [{"type": "Ready", "status": "True"}],
                      "addresses": [{"type": "Hostname", "address": "cp"}, {"type": "InternalIP", "address": "127.0.0.2"}],
                      "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "labkit", "containerRuntimeVersion": ""}}}
    assert [c.name for c in node.STRATEGY.columns] == [
        "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
        "Container-Runtime"]
    assert node.STRATEGY.cells(obj, NOW) == [
        "Ready", "control-plane,etcd,master", "3d", "v1.33.0", "127.0.0.2", "<none>", "labkit", "<unknown>", "<unknown>"]
    assert node.node_roles({"metadata": {}}) == []
    assert node.STRATEGY.field_labels(obj) == {"spec.unschedulable": "false"}


# --- namespaces -----------------------------------------------------------------------------------


def test_namespace_create(registry):
    created, _ = registry("namespaces").create("", {"metadata": {"name": "team-a", "labels": {"env": "dev"}},
                                                    "spec": {"finalizers": ["example.com/cleanup"]},
                                                    "status": {"phase": "Terminating"}})
    assert created["metadata"]["labels"] == {"env": "dev", "kubernetes.io/metadata.name": "team-a"}
    assert created["spec"] == {"finalizers": ["example.com/cleanup", "kubernetes"]}
    assert created["status"] == {"phase": "Active"}


def test_namespace_name_label_is_kept_and_finalizers_only_change_through_finalize(registry):
    reg = registry("namespaces")
    reg.create("", {"metadata": {"name": "team-a"}})

    def change(o):
        o["metadata"]["labels"] = {"kubernetes.io/metadata.name": "other", "env": "prod"}
        o["spec"]["finalizers"] = []

    updated = update(reg, "team-a", change)
    assert updated["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a", "env": "prod"}
    assert updated["spec"]["finalizers"] == ["kubernetes"]


def test_namespace_validation(registry):
    with pytest.raises(ApiError) as err:
        registry("namespaces").create("", {"metadata": {"name": "team-a"}, "spec": {"finalizers": ["cleanup"]}})
    assert causes_of(err.value) == [
        ("spec.finalizers[0]", 'Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified')]
    with pytest.raises(ApiError) as err:
        registry("namespaces").create("", {"metadata": {"name": "Team.A"}})
    assert [f for f, _ in causes_of(err.value)] == ["metadata.name"]  # the label value "Team.A" is fine


def test_namespace_cells_and_fields():
    obj = {"metadata": {"name": "default", "creationTimestamp": CREATED}, "status": {"phase": "Active"}}
    assert [c.name for c in namespace.STRATEGY.columns] == ["Status", "Age"]
    assert namespace.STRATEGY.cells(obj, NOW) == ["Active", "3d"]
    assert namespace.STRATEGY.field_labels(obj) == {"status.phase": "Active"}
