"""How fast a DaemonSet rolls out over many nodes. Not a test; run it and read the numbers:

    .venv/bin/python benchmarks/workloads.py [--nodes N]   (from the repository root)

A cluster of ``N`` simulated nodes (100 by default) starts and waits for every node to be Ready;
then a DaemonSet is created, measured from its POST:

1. rolled out: the DaemonSet's status says a daemon pod is scheduled, up to date and available on
   every node (``desiredNumberScheduled == numberAvailable == N``, what ``kubectl rollout status``
   waits for): the DaemonSet controller created the pods, the scheduler bound each one to its node
   (the pods name their node through a ``matchFields`` node affinity) and the node's kubelet (sim
   runtime) reported it Ready;
2. updated: a new image with ``maxUnavailable: 25%``, until every node runs the new pod again.

Goal (issue 16): 100 nodes rolled out within 5 s. Everything runs on the cluster's event loop, as in
a notebook.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from labkit import Cluster
from labkit.client import Client, resource_path

GOAL_SECONDS = 5.0


def daemonset(image: str) -> dict:
    labels = {"app": "agent"}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": labels},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "agent", "image": image}]}}}}


async def rolled_out(admin: Client, nodes: int, generation: int) -> None:
    path = resource_path("apps/v1", "daemonsets", namespace="default", name="agent")
    while True:
        status = (await admin.get(path)).get("status", {})
        if status.get("observedGeneration") == generation and status.get("desiredNumberScheduled") == nodes \
                and status.get("updatedNumberScheduled") == nodes and status.get("numberAvailable") == nodes:
            return
        await asyncio.sleep(0.05)


async def nodes_ready(admin: Client, nodes: int) -> None:
    while True:
        items = (await admin.get("/api/v1/nodes"))["items"]
        ready = [n for n in items if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in n.get("status", {}).get("conditions", []))
                 and not n.get("spec", {}).get("taints")]
        if len(ready) >= nodes:
            return
        await asyncio.sleep(0.1)


async def measure(admin: Client, nodes: int) -> tuple[float, float]:
    await nodes_ready(admin, nodes)
    t0 = time.monotonic()
    await admin.create(resource_path("apps/v1", "daemonsets", namespace="default"), daemonset("agent:1"))
    await rolled_out(admin, nodes, 1)
    t_created = time.monotonic() - t0
    t0 = time.monotonic()
    await admin.patch(resource_path("apps/v1", "daemonsets", namespace="default", name="agent"),
                      {"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}},
                      patch_type="application/strategic-merge-patch+json")
    await rolled_out(admin, nodes, 2)
    return t_created, time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    nodes = parser.parse_args().nodes
    with Cluster(nodes=nodes, runtime="sim", set_kubeconfig_env=False) as cluster:
        t_created, t_updated = cluster.run(measure(cluster.admin(), nodes), timeout=600)
    print(f"{'daemonset on':<28}{nodes} sim nodes")
    print(f"{'rolled out':<28}{t_created:6.2f} s   (goal <= {GOAL_SECONDS:.0f} s for 100)")
    print(f"{'updated (maxUnavailable 25%)':<28}{t_updated:6.2f} s")


if __name__ == "__main__":
    main()
