"""Pod GC: pods of nodes that are gone, and terminated pods beyond the threshold, are force-deleted."""

import asyncio
import dataclasses

import pytest

from labkit import Cluster
from labkit.client import resource_path

from .conftest import FAST, wait_for
from .test_nodes import pod_on, register_node

GC = dataclasses.replace(FAST, pod_gc_period=0.3, pod_gc_quarantine=1.0, terminated_pod_gc_threshold=3)


@pytest.fixture(scope="module")
def kcm_cluster():
    with Cluster(nodes=0, runtime="sim", seed=12, set_kubeconfig_env=False, controllers=dataclasses.replace(GC)) as c:
        yield c


def names(api, ns):
    return sorted(p["metadata"]["name"] for p in api("GET", resource_path("v1", "pods", namespace=ns))["items"])


def test_pods_of_a_deleted_node_are_failed_then_deleted(kcm_cluster, api, ns):
    register_node(api, "doomed")
    register_node(api, "alive")
    pod_on(api, ns, "on-doomed", "doomed")
    pod_on(api, ns, "on-ghost", "ghost")  # bound to a node that never existed
    pod_on(api, ns, "on-alive", "alive")
    admin = kcm_cluster.client_for("admin", ["system:masters"], agent="watcher")
    listed = api("GET", resource_path("v1", "pods", namespace=ns))

    async def until_deleted() -> list[tuple[str, dict]]:
        seen, gone = [], set()
        async for kind, pod in admin.watch(resource_path("v1", "pods", namespace=ns),
                                           resource_version=listed["metadata"]["resourceVersion"]):
            seen.append((kind, pod))
            if kind == "DELETED":
                gone.add(pod["metadata"]["name"])
            if gone == {"on-doomed", "on-ghost"}:
                return seen
        return seen

    api("DELETE", "/api/v1/nodes/doomed")
    events = kcm_cluster.run(asyncio.wait_for(until_deleted(), timeout=GC.pod_gc_quarantine + 10))
    for name in ("on-doomed", "on-ghost"):
        mine = [(kind, pod) for kind, pod in events if pod["metadata"]["name"] == name]
        failed = next(pod for kind, pod in mine if pod["status"].get("phase") == "Failed")
        condition = next(c for c in failed["status"]["conditions"] if c["type"] == "DisruptionTarget")
        assert (condition["status"], condition["reason"], condition["message"]) == (
            "True", "DeletionByPodGC", "PodGC: node no longer exists")
        assert mine[-1][0] == "DELETED", "marked Failed first, then deleted"
    assert names(api, ns) == ["on-alive"], "a pod on an existing node stays"


def test_terminated_pods_beyond_the_threshold_go_evicted_first_then_oldest(api, ns):
    register_node(api, "busy")
    for i in range(5):
        pod_on(api, ns, f"t-{i}", "busy")

    def finish(name, **status):
        api("PATCH", resource_path("v1", "pods", namespace=ns, name=name, subresource="status"), {"status": status},
            content_type="application/merge-patch+json")

    finish("t-4", phase="Failed", reason="Evicted", message="The node was low on resource: memory.")
    for i in range(4):
        finish(f"t-{i}", phase="Succeeded")
    wait_for(lambda: names(api, ns) == ["t-1", "t-2", "t-3"], timeout=10, what="two terminated pods collected")
