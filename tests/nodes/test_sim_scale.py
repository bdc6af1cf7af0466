"""Many simulated nodes: every one registers, holds a lease and reports Ready, and pods spread over them.

The issue's thousand nodes (about 15-25 s to start here); ``benchmarks/kubelet.py`` times them."""

from __future__ import annotations

from labkit import Cluster
from labkit.client import resource_path

from .conftest import wait_for

NODES = 1000


def test_every_simulated_node_is_ready_and_runs_pods() -> None:
    with Cluster(nodes=NODES, runtime="sim", seed=1, set_kubeconfig_env=False).start(timeout=240) as cluster:
        admin = cluster.admin()

        def get(path: str) -> list[dict]:
            return cluster.run(admin.get(path))["items"]

        nodes = get(resource_path("v1", "nodes"))
        assert len(nodes) == NODES
        assert all(next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready") == "True" for n in nodes)
        leases = get(resource_path("coordination.k8s.io/v1", "leases", namespace="kube-node-lease"))
        assert sorted(lease["metadata"]["name"] for lease in leases) == sorted(n["metadata"]["name"] for n in nodes)

        def pod_cidrs() -> set[str] | None:
            cidrs = {n["spec"].get("podCIDR") for n in get(resource_path("v1", "nodes"))}
            return cidrs if None not in cidrs else None
        assert len(wait_for(pod_cidrs, timeout=60)) == NODES, "each node has a podCIDR of its own"

        cluster.run(admin.create(resource_path("apps/v1", "deployments", namespace="default"), {
            "metadata": {"name": "spread"}, "spec": {
                "replicas": 20, "selector": {"matchLabels": {"app": "spread"}},
                "template": {"metadata": {"labels": {"app": "spread"}},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}))

        def all_running() -> list[dict] | None:
            pods = [p for p in get(resource_path("v1", "pods", namespace="default"))
                    if p["status"].get("phase") == "Running"]
            return pods if len(pods) == 20 else None
        running = wait_for(all_running, timeout=60)
        assert len({p["spec"]["nodeName"] for p in running}) > 1
        # nodes run as KWOK's: the scheduler says where each pod went, no kubelet records events
        reasons = {(e["source"].get("component"), e["reason"])
                   for e in get(resource_path("v1", "events", namespace="default"))}
        assert ("default-scheduler", "Scheduled") in reasons
        assert not {r for r in reasons if r[0] == "kubelet"}

        # at this size one shared pod watch feeds every kubelet: deletions reach them too
        cluster.run(admin.patch(resource_path("apps/v1", "deployments", namespace="default", name="spread"),
                                {"spec": {"replicas": 0}}))
        assert wait_for(lambda: not get(resource_path("v1", "pods", namespace="default")) or None, timeout=60)
