"""labkit.apimachinery.meta, .podutil and .nodeutil: owner references, conditions, readiness."""

from __future__ import annotations

import datetime as dt

import pytest

from labkit.apimachinery.meta import find_status_condition, get_controller_of, new_controller_ref
from labkit.apimachinery.nodeutil import get_node_condition
from labkit.apimachinery.podutil import containers_of, get_pod_ready_condition, is_pod_available, is_pod_ready
from labkit.apimachinery.timeutil import now_utc, rfc3339

RS = {"metadata": {"name": "web-7d9f8", "uid": "u-1"}}


def test_controller_ref_round_trip():
    ref = new_controller_ref(RS, kind="ReplicaSet", api_version="apps/v1")
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8", "uid": "u-1",
                   "controller": True, "blockOwnerDeletion": True}
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "u-2"}
    assert get_controller_of({"metadata": {"ownerReferences": [other, ref]}}) is ref
    assert get_controller_of({"metadata": {"ownerReferences": [other]}}) is None
    assert get_controller_of({"metadata": {}}) is None


def test_conditions_of_any_kind_even_malformed():
    ready = {"type": "Ready", "status": "True"}
    assert find_status_condition([{"type": "Initialized"}, ready], "Ready") is ready
    assert find_status_condition(["junk", ready], "Ready") is ready
    assert find_status_condition(None, "Ready") is None
    assert find_status_condition("Ready", "Ready") is None
    node = {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, ready]}}
    assert get_node_condition(node, "Ready") is ready
    assert get_node_condition({"status": None}, "Ready") is None


def _pod(status=None, since=None):
    conditions = [] if status is None else [{"type": "Ready", "status": status,
                                             **({"lastTransitionTime": since} if since else {})}]
    return {"metadata": {"name": "p"}, "status": {"conditions": conditions}}


@pytest.mark.parametrize(("pod", "ready"), [
    (_pod("True"), True), (_pod("False"), False), (_pod("Unknown"), False), (_pod(), False),
    ({"metadata": {}}, False), ({"metadata": {}, "status": None}, False),
])
def test_is_pod_ready(pod, ready):
    assert is_pod_ready(pod) is ready
    has_condition = bool((pod.get("status") or {}).get("conditions"))
    assert (get_pod_ready_condition(pod) is not None) is has_condition


def test_is_pod_available_after_min_ready_seconds():
    long_ago = rfc3339(now_utc() - dt.timedelta(seconds=30))
    just_now = rfc3339(now_utc())
    assert is_pod_available(_pod("True", long_ago), 10)
    assert not is_pod_available(_pod("True", just_now), 10)
    assert is_pod_available(_pod("True", just_now), 0)
    assert not is_pod_available(_pod("True"), 10)  # no transition time: never available with minReadySeconds
    assert not is_pod_available(_pod("False", long_ago), 0)


def test_containers_then_init_containers():
    spec = {"initContainers": [{"name": "init"}], "containers": [{"name": "a"}, "junk", {"name": "b"}]}
    assert [c["name"] for c in containers_of(spec)] == ["a", "b", "init"]
    assert containers_of({"containers": None}) == []
