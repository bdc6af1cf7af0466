"""``describe pod/node``, ``get events``, ``cordon``/``uncordon`` and ``drain`` (eviction through
``pods/eviction``; the kubelet finishes the pods), and server-side dry runs that must not delete."""

import json
from collections.abc import Iterator

import pytest

from labkit.client import APIStatusError, resource_path

from .conftest import live_pods, wait_for

pytestmark = pytest.mark.kubectl


def running(api, ns: str, count: int) -> list[dict]:
    """Wait until ``count`` pods of ``ns`` run (and no other is still there)."""
    return wait_for(lambda: len(p := live_pods(api, ns)) == count
                    and all(x.get("status", {}).get("phase") == "Running" for x in p) and p, what=f"{count} running pods")


def nodes_of(pods: list[dict]) -> set[str]:
    return {p["spec"]["nodeName"] for p in pods}


@pytest.fixture
def uncordon(api) -> Iterator[None]:
    """Leave both nodes schedulable for the next test."""
    yield
    for node in ("node-1", "node-2"):
        api("PATCH", resource_path("v1", "nodes", name=node), {"spec": {"unschedulable": None}},
            content_type="application/merge-patch+json")


def test_describe_pod_and_get_events(kubectl, api):
    k = kubectl
    k("create", "deployment", "web", "--image=nginx:1.25", "--replicas=1")
    (pod,) = running(api, k.namespace, 1)
    name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
    described = wait_for(lambda: "Started container nginx" in (out := k("describe", "pod", name)) and out,
                         what="the Started event")
    for needle in (f"Node:             {node}/", "Status:           Running",
                   f"Controlled By:  ReplicaSet/{pod['metadata']['ownerReferences'][0]['name']}",
                   f"Successfully assigned {k.namespace}/{name} to {node}", "Created container: nginx"):
        assert needle in described, f"{needle!r} not in\n{described}"
    reasons = [line.split()[:2] for line in described[described.index("Events:"):].splitlines()[3:]]
    assert ["Normal", "Scheduled"] in reasons and ["Normal", "Started"] in reasons, reasons

    table = k("get", "events")
    assert table.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    got = {tuple(line.split()[2:4]) for line in table.splitlines()[1:]}
    for reason, obj in (("ScalingReplicaSet", "deployment/web"), ("Scheduled", f"pod/{name}"),
                        ("Started", f"pod/{name}")):
        assert (reason, obj) in got, f"{reason} on {obj} not in\n{table}"
    assert any(r == "SuccessfulCreate" and o.startswith("replicaset/web-") for r, o in got), table
    only = k("get", "events", "--field-selector", "reason=ScalingReplicaSet,involvedObject.kind=Deployment")
    assert [line.split()[2] for line in only.splitlines()[1:]] == ["ScalingReplicaSet"], only


def test_describe_node(kubectl, api):
    k = kubectl
    k("create", "deployment", "web", "--image=nginx:1.25", "--replicas=1")
    (pod,) = running(api, k.namespace, 1)
    node = pod["spec"]["nodeName"]
    described = k("describe", "node", node)
    for needle in (f"Name:               {node}", "Taints:             <none>", "Unschedulable:      false",
                   f"  HolderIdentity:  {node}", "  Ready            True ", "KubeletReady",
                   "Capacity:\n  cpu:                2\n", "Allocatable:\n  cpu:                2\n",
                   "Non-terminated Pods:", f"  {k.namespace}", pod["metadata"]["name"],
                   f"Node {node} event: Registered Node {node} in Controller", "Starting kubelet.",
                   f"Node {node} status is now: NodeReady"):
        assert needle in described, f"{needle!r} not in\n{described}"


def test_cordon_and_uncordon(kubectl, api, uncordon):
    k = kubectl
    assert k("cordon", "node-1") == "node/node-1 cordoned\n"
    node = api("GET", resource_path("v1", "nodes", name="node-1"))
    assert node["spec"]["unschedulable"] is True
    rows = {line.split()[0]: line.split()[1] for line in k("get", "nodes", "--no-headers").splitlines()}
    assert rows == {"node-1": "Ready,SchedulingDisabled", "node-2": "Ready"}
    described = wait_for(lambda: "NodeNotSchedulable" in (out := k("describe", "node", "node-1")) and out,
                         what="the kubelet's NodeNotSchedulable event")
    assert "Taints:             node.kubernetes.io/unschedulable:NoSchedule" in described, described
    assert "Unschedulable:      true" in described

    k("create", "deployment", "web", "--image=nginx:1.25", "--replicas=3")
    assert nodes_of(running(api, k.namespace, 3)) == {"node-2"}

    assert k("uncordon", "node-1") == "node/node-1 uncordoned\n"
    assert "SchedulingDisabled" not in k("get", "nodes")
    wait_for(lambda: not api("GET", resource_path("v1", "nodes", name="node-1"))["spec"].get("taints"),
             what="the unschedulable taint to go")


def test_drain_evicts_and_pods_come_back_elsewhere(kubectl, api, uncordon):
    k = kubectl
    k("create", "deployment", "web", "--image=nginx:1.25", "--replicas=4")
    k("run", "bare", "--image=busybox", "--overrides", json.dumps({"spec": {"nodeName": "node-1"}}))
    pods = running(api, k.namespace, 5)
    on_node_1 = sorted(p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == "node-1")
    assert len(on_node_1) >= 2, "the scheduler spreads the Deployment over both nodes"

    refused = k.run("drain", "node-1", "--ignore-daemonsets", "--timeout=20s", check=False)
    assert refused.returncode == 1
    assert f"declare no controller (use --force to override): {k.namespace}/bare" in refused.stderr

    out = k("drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=30s")
    assert "node/node-1 already cordoned" in out and out.endswith("node/node-1 drained\n"), out
    for name in on_node_1:  # through pods/eviction, and the pods are gone for good
        assert f"evicting pod {k.namespace}/{name}\n" in out and f"pod/{name} evicted\n" in out, out
        with pytest.raises(APIStatusError) as gone:
            api("GET", resource_path("v1", "pods", namespace=k.namespace, name=name))
        assert gone.value.code == 404
    assert nodes_of(running(api, k.namespace, 4)) == {"node-2"}  # the Deployment's pods, back on node-2
    kubelet_events = k("get", "events", "--field-selector", "reason=Killing", "-o", "json")
    killed = {e["involvedObject"]["name"] for e in json.loads(kubelet_events)["items"]}
    assert set(on_node_1) <= killed


def test_server_dry_runs_change_nothing(kubectl, api, uncordon):
    k = kubectl
    k("create", "deployment", "web", "--image=nginx:1.25", "--replicas=4")
    before = sorted(p["metadata"]["name"] for p in running(api, k.namespace, 4))
    assert k("delete", "pod", before[0], "--dry-run=server") == f'pod "{before[0]}" deleted (server dry run)\n'
    out = k("drain", "node-1", "--ignore-daemonsets", "--dry-run=server", "--timeout=20s")
    assert out.startswith("node/node-1 cordoned (server dry run)\n") and "(server dry run)\nnode/node-1 drained" in out
    assert sorted(p["metadata"]["name"] for p in live_pods(api, k.namespace)) == before
    assert not api("GET", resource_path("v1", "nodes", name="node-1"))["spec"].get("unschedulable")
