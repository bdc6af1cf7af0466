"""The official ``kubernetes`` client: CRUD, watch streams, conflicts, Status errors."""

from __future__ import annotations

import json
import threading
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from labkit import Cluster


@pytest.fixture
def v1(cluster: Cluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))


def pod(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_version_endpoint(cluster: Cluster) -> None:
    info = client.VersionApi(config.new_client_from_config(str(cluster.kubeconfig))).get_code()
    assert (info.major, info.minor) == ("1", "33")


def test_watch_stream_sees_existing_then_new_objects(v1: client.CoreV1Api, namespace: str) -> None:
    v1.create_namespaced_pod(namespace, pod("first"))
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def later() -> None:
        v1.create_namespaced_pod(namespace, pod("second"))
        v1.delete_namespaced_pod("first", namespace)

    timer = threading.Timer(0.5, later)
    timer.start()
    for event in w.stream(v1.list_namespaced_pod, namespace, timeout_seconds=3):
        if event["type"] != "MODIFIED":  # the scheduler and the kubelet update the pods meanwhile
            seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    timer.join()
    assert seen == [("ADDED", "first"), ("ADDED", "second"), ("DELETED", "first")]


def test_watch_from_resource_version_replays_only_later_events(v1: client.CoreV1Api, namespace: str) -> None:
    v1.create_namespaced_pod(namespace, pod("a"))
    rv = v1.list_namespaced_pod(namespace).metadata.resource_version
    v1.create_namespaced_pod(namespace, pod("b"))
    w = watch.Watch()
    names = []
    for event in w.stream(v1.list_namespaced_pod, namespace, resource_version=rv, timeout_seconds=2):
        names.append((event["type"], event["object"].metadata.name))
        if event["type"] == "ADDED":
            w.stop()
    assert [n for n in names if n[0] == "ADDED"] == [("ADDED", "b")]  # nothing from before rv


def test_two_writers_racing_one_gets_409(v1: client.CoreV1Api, namespace: str) -> None:
    v1.create_namespaced_config_map(namespace, {"metadata": {"name": "race"}, "data": {"n": "0"}})
    first = v1.read_namespaced_config_map("race", namespace)
    second = v1.read_namespaced_config_map("race", namespace)
    first.data = {"n": "1"}
    second.data = {"n": "2"}
    v1.replace_namespaced_config_map("race", namespace, first)
    with pytest.raises(ApiException) as err:
        v1.replace_namespaced_config_map("race", namespace, second)
    assert err.value.status == 409
    assert "the object has been modified" in err.value.body
    assert v1.read_namespaced_config_map("race", namespace).data == {"n": "1"}


def test_label_selectors_equality_and_set_based(v1: client.CoreV1Api, namespace: str) -> None:
    for name, tier in (("web-1", "front"), ("web-2", "front"), ("db-1", "back")):
        v1.create_namespaced_pod(namespace, pod(name, tier=tier))
    names = lambda sel: sorted(p.metadata.name for p in v1.list_namespaced_pod(namespace, label_selector=sel).items)  # noqa: E731
    assert names("tier=front") == ["web-1", "web-2"]
    assert names("tier!=front") == ["db-1"]
    assert names("tier in (back,other)") == ["db-1"]
    assert names("tier notin (back)") == ["web-1", "web-2"]
    assert names("!tier") == []


def test_limit_and_continue_page_through_a_consistent_snapshot(v1: client.CoreV1Api, namespace: str) -> None:
    for i in range(5):
        v1.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{i}", "labels": {"page": "me"}}})
    page = v1.list_namespaced_config_map(namespace, limit=2, label_selector="page=me")
    names = [c.metadata.name for c in page.items]
    v1.create_namespaced_config_map(namespace, {"metadata": {"name": "cm-9", "labels": {"page": "me"}}})  # after
    while page.metadata._continue:
        page = v1.list_namespaced_config_map(namespace, limit=2, label_selector="page=me",
                                             _continue=page.metadata._continue)
        names += [c.metadata.name for c in page.items]
    assert names == [f"cm-{i}" for i in range(5)]


def test_generate_name_and_uid_and_generation(v1: client.CoreV1Api, namespace: str) -> None:
    created = v1.create_namespaced_pod(namespace, {"metadata": {"generateName": "web-"},
                                                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert created.metadata.name.startswith("web-") and len(created.metadata.name) == len("web-") + 5
    assert len(created.metadata.uid) == 36
    assert created.metadata.creation_timestamp is not None
    apps = client.AppsV1Api(v1.api_client)
    dep = apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    assert dep.metadata.generation == 1
    for _ in range(100):  # the deployment controller annotates the revision, which bumps generation once
        dep = apps.read_namespaced_deployment("d", namespace)
        if (dep.metadata.annotations or {}).get("deployment.kubernetes.io/revision"):
            break
        time.sleep(0.05)
    generation = dep.metadata.generation
    dep = apps.patch_namespaced_deployment("d", namespace, {"metadata": {"labels": {"x": "y"}}})
    assert dep.metadata.generation == generation  # label changes do not bump generation
    dep = apps.patch_namespaced_deployment("d", namespace, {"spec": {"replicas": 3}})
    assert dep.metadata.generation == generation + 1


def test_dry_run_writes_nothing(v1: client.CoreV1Api, namespace: str) -> None:
    v1.create_namespaced_config_map(namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_config_map("dry", namespace)
    assert err.value.status == 404
    v1.create_namespaced_config_map(namespace, {"metadata": {"name": "real"}, "data": {"a": "1"}})
    rv = v1.read_namespaced_config_map("real", namespace).metadata.resource_version
    patched = v1.patch_namespaced_config_map("real", namespace, {"data": {"a": "2"}}, dry_run="All")
    assert patched.data == {"a": "2"}
    v1.delete_namespaced_config_map("real", namespace, dry_run="All")
    live = v1.read_namespaced_config_map("real", namespace)
    assert (live.data, live.metadata.resource_version) == ({"a": "1"}, rv)


def test_finalizers_hold_deletion_until_removed(v1: client.CoreV1Api, namespace: str) -> None:
    v1.create_namespaced_config_map(namespace, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    v1.delete_namespaced_config_map("held", namespace)
    held = v1.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    v1.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_config_map("held", namespace)
    assert err.value.status == 404


def test_namespace_lifecycle(v1: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map("does-not-exist", {"metadata": {"name": "x"}})
    assert err.value.status == 404
    assert json.loads(err.value.body)["message"] == 'namespaces "does-not-exist" not found'
    v1.create_namespace({"metadata": {"name": "doomed"}})
    ns = v1.read_namespace("doomed")
    assert ns.status.phase == "Active" and ns.metadata.labels["kubernetes.io/metadata.name"] == "doomed"
    v1.delete_namespace("doomed")
    assert v1.read_namespace("doomed").status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map("doomed", {"metadata": {"name": "x"}})
    assert err.value.status == 403 and "being terminated" in err.value.body
    with pytest.raises(ApiException) as err:
        v1.delete_namespace("kube-system")
    assert err.value.status == 403


def test_self_subject_access_review(cluster: Cluster) -> None:
    api = client.AuthorizationV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    review = api.create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}})
    assert review.status.allowed is True
