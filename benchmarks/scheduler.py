"""How fast labkit's scheduler places pods. Not a test; run it and read the numbers:

    .venv/bin/python benchmarks/scheduler.py [--quick]   (from the repository root)

For 1000 and for 5000 nodes (Node objects created through the API, each 32 cpu / 64Gi / 110 pods),
10 000 pods (100m cpu, 128Mi) are created with 64 concurrent requests while the cluster's own
scheduler runs (a sim cluster: no kubelet backs those Nodes, so the node lifecycle controller is
given a grace period longer than the run, or it would taint them unreachable). Reported: pods
bound per second (first create sent to last binding seen), and each pod's latency from its create
request to the watch event that shows it bound (p50, p99). The API server, the scheduler and the
pod-creating client share this process and its event loop, as in a notebook.
Goal: ≥ 500 pods/s at 1000 nodes.

First, the floor under that figure: what each API request a scheduled pod needs (its create, its
binding, its Scheduled event) costs the event loop with its watch deliveries, measured one kind at a
time (16 concurrent, pods no scheduler picks up), and one scheduling cycle over the run's nodes.
500 pods/s leaves 2 ms per pod for all of it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from labkit import Cluster
from labkit.client import Client, resource_path
from labkit.controllers.config import ControllerManagerConfig
from labkit.kubelet.registration import node_object
from labkit.scheduler import Attempt, CycleState, PodInfo, Scheduler

CONCURRENCY = 64


async def gather_limited(coros: list[Any], limit: int = CONCURRENCY) -> None:
    sem = asyncio.Semaphore(limit)

    async def one(coro: Any) -> None:
        async with sem:
            await coro

    await asyncio.gather(*(one(c) for c in coros))


async def create_nodes(client: Client, n: int) -> None:
    async def one(i: int) -> None:
        node = node_object(f"bench-{i}", address=f"127.2.{i // 250}.{i % 250 + 1}", cpu="32", memory="64Gi",
                           now="2025-01-01T00:00:00Z")
        created = await client.create(resource_path("v1", "nodes"), node)
        created["status"] = node["status"]
        await client.update(resource_path("v1", "nodes", name=f"bench-{i}", subresource="status"), created)

    await gather_limited([one(i) for i in range(n)])


async def run_pods(client: Client, watcher: Client, n: int, namespace: str) -> tuple[float, list[float]]:
    sent: dict[str, float] = {}
    bound: dict[str, float] = {}
    done = asyncio.Event()
    listed = await watcher.get(resource_path("v1", "pods", namespace=namespace))

    async def watch() -> None:
        async for kind, obj in watcher.watch(resource_path("v1", "pods", namespace=namespace),
                                             resource_version=listed["metadata"]["resourceVersion"]):
            name = obj["metadata"]["name"]
            if kind == "MODIFIED" and obj["spec"].get("nodeName") and name not in bound:
                bound[name] = time.monotonic()
                if len(bound) == n:
                    done.set()
                    return

    watch_task = asyncio.create_task(watch())

    async def one(i: int) -> None:
        name = f"p-{i}"
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                "spec": {"containers": [{"name": "c", "image": "nginx",
                                         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}
        sent[name] = time.monotonic()
        await client.create(resource_path("v1", "pods", namespace=namespace), body)

    start = time.monotonic()
    await gather_limited([one(i) for i in range(n)])
    await asyncio.wait_for(done.wait(), timeout=max(120, n / 20))
    watch_task.cancel()
    end = max(bound.values())
    return n / (end - start), sorted(bound[k] - sent[k] for k in bound)


async def request_costs(client: Client, n: int = 2000) -> dict[str, float]:
    """Milliseconds of the loop per request, for each kind of request a scheduled pod needs."""
    await client.create(resource_path("v1", "namespaces"), {"metadata": {"name": "costs"}})
    pods = resource_path("v1", "pods", namespace="costs")
    kinds = {
        "create": lambda i: client.create(pods, {"metadata": {"name": f"c-{i}"}, "spec": {
            "schedulerName": "none", "containers": [{"name": "c", "image": "nginx"}]}}),
        "binding": lambda i: client.create(resource_path("v1", "pods", namespace="costs", name=f"c-{i}",
                                                         subresource="binding"),
                                           {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": f"c-{i}"},
                                            "target": {"kind": "Node", "name": "bench-0"}}),
        "event": lambda i: client.create(resource_path("v1", "events", namespace="costs"), {
            "metadata": {"name": f"e-{i}"}, "type": "Normal", "reason": "Scheduled", "message": "assigned",
            "involvedObject": {"kind": "Pod", "namespace": "costs", "name": f"c-{i}"},
            "source": {"component": "default-scheduler"}}),
    }
    out = {}
    for kind, make in kinds.items():
        t = time.monotonic()
        await gather_limited([make(i) for i in range(n)], limit=16)
        out[kind] = (time.monotonic() - t) / n * 1000
    return out


def floor(nodes: int) -> dict[str, float]:
    quiet_nodes = ControllerManagerConfig(node_monitor_grace_period=3600)
    with Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False, controllers=quiet_nodes) as c:
        admin = c.client_for("kubernetes-admin", ["system:masters"], agent="bench")
        c.run(create_nodes(admin, nodes), timeout=600)
        costs = c.run(request_costs(admin), timeout=600)
        costs["cycle"] = c.run(cycle_time(c.scheduler), timeout=120)
    return costs


async def cycle_time(scheduler: Scheduler, n: int = 200) -> float:
    """Milliseconds of one scheduling cycle (filter and score, no binding) over the scheduler's own
    cache, for a pod like the benchmark's; run on the loop, between its other work."""
    _, fw = scheduler.profiles["default-scheduler"]
    pod = PodInfo({"metadata": {"name": "probe", "namespace": "costs", "uid": "probe"},
                   "spec": {"schedulerName": "default-scheduler", "containers": [
                       {"name": "c", "image": "nginx",
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}})
    t = time.perf_counter()
    for _ in range(n):
        scheduler.algorithm.schedule_pod(fw, CycleState(), pod, scheduler.cache.node_list, Attempt(pod.key, "bench", 0))
    return (time.perf_counter() - t) / n * 1000


def bench(nodes: int, pods: int) -> dict[str, float]:
    quiet_nodes = ControllerManagerConfig(node_monitor_grace_period=3600)
    with Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False, controllers=quiet_nodes) as c:
        admin = c.client_for("kubernetes-admin", ["system:masters"], agent="bench")
        watcher = c.client_for("kubernetes-admin", ["system:masters"], agent="bench-watch")
        t = time.monotonic()
        c.run(create_nodes(admin, nodes), timeout=600)
        node_seconds = time.monotonic() - t
        rate, latencies = c.run(run_pods(admin, watcher, pods, "default"), timeout=1800)
    q = statistics.quantiles(latencies, n=100)
    return {"nodes": nodes, "pods": pods, "node_create_s": node_seconds, "pods_per_s": rate,
            "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 500 nodes, 1000 pods")
    args = parser.parse_args()
    runs = [(100, 1000), (500, 1000)] if args.quick else [(1000, 10_000), (5000, 10_000)]
    costs = floor(runs[-1][0] if args.quick else 1000)
    print(f"loop time per request, with its watch deliveries: create {costs['create']:.2f} ms, binding "
          f"{costs['binding']:.2f} ms, event {costs['event']:.2f} ms; one scheduling cycle {costs['cycle']:.2f} ms; "
          f"sum {sum(costs.values()):.2f} ms per pod (500 pods/s allows 2 ms)", flush=True)
    print(f"{'nodes':>6} {'pods':>6} {'nodes created in':>17} {'pods/s':>8} {'p50 ms':>8} {'p99 ms':>8}  goal")
    for nodes, pods in runs:
        r = bench(nodes, pods)
        goal = ">= 500 pods/s" if nodes == 1000 else ""
        print(f"{r['nodes']:>6} {r['pods']:>6} {r['node_create_s']:>16.1f}s {r['pods_per_s']:>8.0f} "
              f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f}  {goal}", flush=True)


if __name__ == "__main__":
    main()
