"""The scheduler against a real cluster: binding, messages, preemption, profiles, step mode."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from labkit import Cluster
from labkit.client import resource_path
from labkit.scheduler import Code, FunctionScheduler, Plugin, Profile, Scheduler, Status, default_plugins
from testkit import wait_for

Obj = dict[str, Any]


def pod(name: str, *, cpu: str = "100m", priority_class: str = "", scheduler: str = "", **spec: Any) -> Obj:
    body: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                 "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}],
                          **spec}}
    if priority_class:
        body["spec"]["priorityClassName"] = priority_class
    if scheduler:
        body["spec"]["schedulerName"] = scheduler
    return body



@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster(nodes=3, seed=1, runtime="sim") as c:
        yield c


def admin(c: Cluster):
    return c.client_for("kubernetes-admin", ["system:masters"], agent="test")


def create(c: Cluster, obj: Obj) -> Obj:
    client = admin(c)
    plural = {"Pod": "pods", "PriorityClass": "priorityclasses"}[obj["kind"]]
    version = obj["apiVersion"]
    ns = obj["metadata"].get("namespace", "")
    return c.run(client.create(resource_path(version, plural, namespace=ns), obj))


def get_pod(c: Cluster, name: str) -> Obj:
    return c.run(admin(c).get(resource_path("v1", "pods", namespace="default", name=name)))


def events_for(c: Cluster, name: str) -> list[Obj]:
    items = c.run(admin(c).get(resource_path("v1", "events", namespace="default")))["items"]
    return [e for e in items if e["involvedObject"]["name"] == name]


def add_scheduler(c: Cluster, **kw: Any) -> Scheduler:
    """The cluster's own default scheduler, or a second one with other settings."""
    if not kw:
        assert c.scheduler is not None
        return c.scheduler
    return c.add(Scheduler(c.client_for("system:kube-scheduler", agent="kube-scheduler"), **kw))


def test_binds_and_records_scheduled_event(cluster: Cluster) -> None:
    s = add_scheduler(cluster)
    create(cluster, pod("web"))
    node = wait_for(lambda: get_pod(cluster, "web")["spec"].get("nodeName"))
    assert node in cluster.node_names
    event = wait_for(lambda: [e for e in events_for(cluster, "web") if e["reason"] == "Scheduled"])[0]
    assert event["type"] == "Normal" and event["message"] == f"Successfully assigned default/web to {node}"
    assert event["source"]["component"] == "default-scheduler"
    [attempt] = s.explain("default/web")
    assert attempt.node == node and sorted(attempt.feasible) == cluster.node_names
    assert set(attempt.totals()) == set(cluster.node_names)


def test_unschedulable_message_condition_and_preemption_suffix(cluster: Cluster) -> None:
    client = admin(cluster)
    taint = {"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}
    for name in ("node-2", "node-3"):
        cluster.run(client.patch(resource_path("v1", "nodes", name=name), taint))
    s = add_scheduler(cluster)
    create(cluster, pod("big", cpu="3"))
    expected = ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
                "{node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: "
                "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.")
    cond = wait_for(lambda: [c for c in get_pod(cluster, "big")["status"].get("conditions", [])
                             if c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"])[0]
    assert cond["status"] == "False" and cond["message"] == expected
    event = wait_for(lambda: [e for e in events_for(cluster, "big") if e["reason"] == "FailedScheduling"])[0]
    assert event["type"] == "Warning" and event["message"] == expected
    attempt = s.explain("default/big")[0]
    verdicts = {(v.node, v.plugin): v for v in attempt.filters()}
    assert verdicts[("node-1", "NodeResourcesFit")].reason == "Insufficient cpu"
    assert verdicts[("node-2", "TaintToleration")].verdict == "UnschedulableAndUnresolvable"
    assert verdicts[("node-2", "NodeResourcesFit")].verdict == "not run"
    # a node update that makes room moves the pod back and it binds
    cluster.run(client.patch(resource_path("v1", "nodes", name="node-1", subresource="status"),
                             {"status": {"allocatable": {"cpu": "4"}}}))
    assert wait_for(lambda: get_pod(cluster, "big")["spec"].get("nodeName"), timeout=15) == "node-1"


def test_preemption_evicts_a_low_priority_pod(cluster: Cluster) -> None:
    create(cluster, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"},
                     "value": 1000})
    s = add_scheduler(cluster)
    for i in range(3):
        create(cluster, pod(f"low-{i}", cpu="1500m"))
    node_of = {f"low-{i}": wait_for(lambda i=i: get_pod(cluster, f"low-{i}")["spec"].get("nodeName")) for i in range(3)}
    create(cluster, pod("vip", cpu="1", priority_class="high"))
    nominated = wait_for(lambda: get_pod(cluster, "vip")["status"].get("nominatedNodeName"))

    def victims() -> list[str]:  # terminating, or already gone: the sim kubelet may finish within a poll
        live = {p["metadata"]["name"]: p for p in list_pods(cluster)}
        return [n for n in node_of if n not in live or live[n]["metadata"].get("deletionTimestamp")]
    [victim] = wait_for(victims)
    assert node_of[victim] == nominated  # one victim, on the nominated node
    # the sim kubelet finishes the victim's graceful deletion; then the pod binds where room was made
    assert wait_for(lambda: get_pod(cluster, "vip")["spec"].get("nodeName"), timeout=20) == nominated
    assert s.explain("default/vip")[0].nominated_node == nominated
    assert [e["message"] for e in events_for(cluster, victim) if e["reason"] == "Preempted"] == [
        f"Preempted by pod {get_pod(cluster, 'vip')['metadata']['uid']} on node {nominated}"]


def list_pods(c: Cluster) -> list[Obj]:
    return c.run(admin(c).get(resource_path("v1", "pods", namespace="default")))["items"]


class OnlyNode3(Plugin):
    name = "OnlyNode3"

    def filter(self, state, pod, node_info):  # type: ignore[no-untyped-def]
        from labkit.scheduler import Status
        return None if node_info.name == "node-3" else Status.unschedulable("node(s) are not node-3")


def test_custom_plugin_and_second_scheduler(cluster: Cluster) -> None:
    add_scheduler(cluster)
    add_scheduler(cluster, profiles=[Profile("my-scheduler", plugins=default_plugins() + [OnlyNode3()])])
    fn = cluster.add(FunctionScheduler(cluster.client_for("system:kube-scheduler", agent="fn"), "fn-scheduler",
                                       pick=lambda pod, nodes: sorted(n.name for n in nodes)[0]))
    for i in range(3):
        create(cluster, pod(f"mine-{i}", scheduler="my-scheduler"))
    create(cluster, pod("fn", scheduler="fn-scheduler"))
    create(cluster, pod("nobody", scheduler="unknown-scheduler"))
    for i in range(3):
        assert wait_for(lambda i=i: get_pod(cluster, f"mine-{i}")["spec"].get("nodeName")) == "node-3"
    assert wait_for(lambda: get_pod(cluster, "fn")["spec"].get("nodeName")) == "node-1"
    assert fn.explain("default/fn")[0].node == "node-1"  # type: ignore[attr-defined]
    assert not get_pod(cluster, "nobody")["spec"].get("nodeName")


class Gate(Plugin):
    """Permit: every pod waits until the test lets it through."""

    name = "Gate"

    def permit(self, state, pod, node_name, handle):  # type: ignore[no-untyped-def]
        return Status(Code.Wait), 30


class Full(Plugin):
    """Reserve: every node is full."""

    name = "Full"

    def reserve(self, state, pod, node_name):  # type: ignore[no-untyped-def]
        return Status.unschedulable("node(s) were full for Full")

    def unreserve(self, state, pod, node_name):  # type: ignore[no-untyped-def]
        pass


def test_permit_holds_a_pod_and_reserve_rejects_one(cluster: Cluster) -> None:
    add_scheduler(cluster)
    s = add_scheduler(cluster, profiles=[Profile("gated", plugins=[*default_plugins(), Gate()]),
                                         Profile("full", plugins=[*default_plugins(), Full()])])
    create(cluster, pod("held", scheduler="gated"))
    fw = s.profiles["gated"][1]
    [waiting] = wait_for(lambda: list(fw.waiting_pods.values()))
    time.sleep(0.3)
    assert not get_pod(cluster, "held")["spec"].get("nodeName")

    async def allow() -> None:
        waiting.allow("Gate")
    cluster.run(allow())
    assert wait_for(lambda: get_pod(cluster, "held")["spec"].get("nodeName")) in cluster.node_names

    create(cluster, pod("refused", scheduler="full"))
    event = wait_for(lambda: [e for e in events_for(cluster, "refused") if e["reason"] == "FailedScheduling"])[0]
    assert event["message"] == "0/1 nodes are available: 1 node(s) were full for Full."
    cond = wait_for(lambda: [c for c in get_pod(cluster, "refused")["status"].get("conditions", [])
                             if c["type"] == "PodScheduled"])[0]
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")


def test_step_mode(cluster: Cluster) -> None:
    add_scheduler(cluster)
    cluster.pause()
    create(cluster, pod("a"))
    create(cluster, pod("b"))
    time.sleep(0.5)
    assert not get_pod(cluster, "a")["spec"].get("nodeName") and not get_pod(cluster, "b")["spec"].get("nodeName")
    assert cluster.step("scheduler") == "scheduler"
    wait_for(lambda: get_pod(cluster, "a")["spec"].get("nodeName"))
    time.sleep(0.3)
    assert not get_pod(cluster, "b")["spec"].get("nodeName")
    cluster.resume()
    wait_for(lambda: get_pod(cluster, "b")["spec"].get("nodeName"))
