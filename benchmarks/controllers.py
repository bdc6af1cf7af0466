"""How fast the controllers turn a Deployment into pods. Not a test; run it and read the numbers:

    .venv/bin/python benchmarks/controllers.py [--quick]   (from the repository root)

A Deployment of 1000 replicas (200 with ``--quick``) is created in a cluster with no nodes (its
controller manager and scheduler run as usual; the pods stay unscheduled). Measured from the POST of the Deployment:

1. all pods created (the fake kubelet's pod informer has seen every one);
2. all pods Running: a **fake kubelet** in this script (not labkit's kubelet) marks each pod it sees
   Running and Ready with a ``PATCH pods/NAME/status`` (16 concurrent writers, its own client and
   identity); done when the Deployment reports every replica available.

Then the whole path the goal names: the same Deployment on a cluster of ``SIM_NODES`` simulated
nodes, where labkit's scheduler binds every pod and each node's kubelet runs it (sim runtime) and
reports it Running and Ready; done when the Deployment reports every replica available.

Goal: within 10 s for 1000 replicas. Everything runs on the cluster's event loop, as in a notebook.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from labkit import Cluster
from labkit.client import Client, resource_path
from labkit.informer import Informer

WRITERS = 16
GOAL_SECONDS = 10.0
SIM_NODES = 200


async def fake_kubelet(client: Client, ns: str, replicas: int, created: asyncio.Event) -> None:
    """Mark every pod in ``ns`` Running and Ready; set ``created`` once ``replicas`` pods were seen."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    informer = Informer(client, "v1", "pods", namespace=ns)
    seen: set[str] = set()

    def on_add(pod: dict) -> None:
        seen.add(pod["metadata"]["name"])
        queue.put_nowait(pod["metadata"]["name"])
        if len(seen) >= replicas:
            created.set()
    informer.add_handlers(on_add=on_add)
    status = {"phase": "Running", "podIP": "10.244.0.2",
              "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}

    async def writer() -> None:
        while True:
            name = await queue.get()
            await client.patch(resource_path("v1", "pods", namespace=ns, name=name, subresource="status"),
                               {"status": status})
    tasks = [asyncio.create_task(informer.run()), *(asyncio.create_task(writer()) for _ in range(WRITERS))]
    try:
        await asyncio.Event().wait()
    finally:
        for t in tasks:
            t.cancel()


async def measure(admin: Client, kubelet: Client, replicas: int) -> tuple[float, float]:
    ns = "bench"
    await admin.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    created = asyncio.Event()
    kubelet_task = asyncio.create_task(fake_kubelet(kubelet, ns, replicas, created))
    await asyncio.sleep(0.2)  # the fake kubelet's informer has listed
    labels = {"app": "bench"}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    t0 = time.monotonic()
    await admin.create(resource_path("apps/v1", "deployments", namespace=ns), body)
    await created.wait()
    t_created = time.monotonic() - t0
    path = resource_path("apps/v1", "deployments", namespace=ns, name="bench")
    while (await admin.get(path)).get("status", {}).get("availableReplicas", 0) < replicas:
        await asyncio.sleep(0.05)
    t_running = time.monotonic() - t0
    kubelet_task.cancel()
    return t_created, t_running


async def until_available(admin: Client, ns: str, replicas: int) -> tuple[float, float]:
    """Seconds from the Deployment's POST to every pod created, and to every replica available."""
    labels = {"app": "bench"}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    path = resource_path("apps/v1", "deployments", namespace=ns, name="bench")
    t0 = time.monotonic()
    await admin.create(resource_path("apps/v1", "deployments", namespace=ns), body)
    t_created = 0.0
    while True:
        status = (await admin.get(path)).get("status", {})
        if not t_created and status.get("replicas", 0) >= replicas:
            t_created = time.monotonic() - t0
        if status.get("availableReplicas", 0) >= replicas:
            return t_created, time.monotonic() - t0
        await asyncio.sleep(0.1)


def on_sim_nodes(replicas: int) -> tuple[float, float]:
    with Cluster(nodes=SIM_NODES, runtime="sim", set_kubeconfig_env=False) as cluster:
        return cluster.run(until_available(cluster.admin(), "default", replicas), timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 replicas instead of 1000")
    replicas = 200 if parser.parse_args().quick else 1000
    with Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False) as cluster:
        admin = cluster.client_for("admin", ["system:masters"], agent="bench")
        kubelet = cluster.client_for("system:node:fake", ["system:nodes"], agent="fake-kubelet")
        t_created, t_running = cluster.run(measure(admin, kubelet, replicas), timeout=300)
    print(f"{'deployment of':<28}{replicas} replicas")
    print(f"{'all pods created':<28}{t_created:6.2f} s   (goal <= {GOAL_SECONDS:.0f} s for 1000)")
    print(f"{'all pods Running (fake)':<28}{t_running:6.2f} s   (goal <= {GOAL_SECONDS:.0f} s for 1000)")
    t_created, t_running = on_sim_nodes(replicas)
    print(f"{'on ' + str(SIM_NODES) + ' sim nodes: created':<28}{t_created:6.2f} s")
    print(f"{'  scheduled, all Running':<28}{t_running:6.2f} s   (goal <= {GOAL_SECONDS:.0f} s for 1000)")


if __name__ == "__main__":
    main()
