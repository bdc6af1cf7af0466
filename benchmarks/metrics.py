"""What the metrics pipeline costs per pod and per scrape interval. Not a test; run it and read the table:

    .venv/bin/python benchmarks/metrics.py [--quick]   (from the repository root)

For each runtime (sim always; process; docker when a daemon answers), one node running N pods of one
idle container each (``sleep``; the sim model needs nothing), it times, median of 5 rounds:

- kubelet: one ``/metrics/resource`` (the runtime's container stats, joined with its sandboxes, written
  as Prometheus text);
- metrics-server: one whole scrape of that node (the above, then decoding and storing the batch).

and prints each per pod, and as the share of one core it takes at the manifest's 15 s resolution.
The cluster's own metrics-server runs with a 1-hour resolution here, so it does not scrape meanwhile.

Then the issue's goal, "metrics add at most 5 % CPU to a 3-node cluster with 30 pods": for sim,
process (with cgroups as root, and without, as a user's machine has it) and docker, 3 nodes running
a Deployment of 30 idle pods. It measures the cluster's own CPU (this process's CPU seconds per wall
second over ``--window`` s, its metrics-server not scraping), then 20 scrape rounds back to back
(their CPU less the idle rate over their time), and prints a round's cost and what it adds at
labkit's default resolution and at the manifest's: per second, as a share of the idle cluster's CPU
and of one core.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from labkit import Cluster
from labkit.client import resource_path
from labkit.cluster import docker_available
from labkit.kubelet.runtime import proccgroups
from labkit.metricsserver.server import MANIFEST_METRIC_RESOLUTION, METRIC_RESOLUTION

RESOLUTION = MANIFEST_METRIC_RESOLUTION


def timed(cluster: Cluster, call: Callable[[], Awaitable[Any]], rounds: int = 5) -> float:
    """Median seconds of ``rounds`` calls, each run on the cluster's loop."""
    samples = []
    for _ in range(rounds):
        async def once() -> float:
            started = time.perf_counter()
            await call()
            return time.perf_counter() - started
        samples.append(cluster.run(once()))
    return statistics.median(samples)


def measure(runtime: str, pods: int) -> tuple[float, float]:
    with Cluster(nodes=1, runtime=runtime, metric_resolution=3600, set_kubeconfig_env=False) as cluster:
        admin = cluster.admin()
        for i in range(pods):
            cluster.run(admin.create(resource_path("v1", "pods", namespace="default"), {
                "metadata": {"name": f"p{i}"}, "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                    {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}}))
        deadline = time.monotonic() + 120
        server = cluster.metrics_server
        assert server is not None
        while len(cluster.run(cluster.kubelets["node-1"].runtime.list_container_stats())) < pods:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pods} pods did not start on {runtime}")
            time.sleep(0.2)
        kubelet = cluster._kubelet_apis["node-1"]  # what metrics-server reaches: the kubelet's API
        return timed(cluster, kubelet.metrics_resource), timed(cluster, server.scrape)


def cluster_cost(runtime: str, window: float, rounds: int = 20) -> tuple[float, float]:
    """The idle CPU of a 3-node cluster running 30 pods (cores), and one scrape round's CPU (seconds)."""
    with Cluster(nodes=3, runtime=runtime, metric_resolution=3600, set_kubeconfig_env=False) as cluster:
        cluster.run(cluster.admin().create(resource_path("apps/v1", "deployments", namespace="default"), {
            "metadata": {"name": "idle"}, "spec": {"replicas": 30, "selector": {"matchLabels": {"app": "idle"}},
                                                   "template": {"metadata": {"labels": {"app": "idle"}}, "spec": {
                                                       "terminationGracePeriodSeconds": 0, "containers": [{
                                                           "name": "main", "image": "busybox",
                                                           "command": ["sleep", "3600"]}]}}}}))
        deadline = time.monotonic() + 180
        while sum(len(cluster.run(k.runtime.list_container_stats())) for k in cluster.kubelets.values()) < 30:
            if time.monotonic() > deadline:
                raise TimeoutError(f"30 pods did not start on {runtime}")
            time.sleep(0.2)
        time.sleep(5)  # the start's own work settles
        wall, cpu = time.monotonic(), time.process_time()
        time.sleep(window)
        idle = (time.process_time() - cpu) / (time.monotonic() - wall)
        server = cluster.metrics_server
        assert server is not None

        async def scrapes() -> None:
            for _ in range(rounds):
                await server.scrape()
        wall, cpu = time.monotonic(), time.process_time()
        cluster.run(scrapes())
        spent = time.process_time() - cpu - idle * (time.monotonic() - wall)
        return idle, spent / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller runs")
    parser.add_argument("--window", type=float, default=60.0, help="seconds to measure the idle cluster over")
    parser.add_argument("--goal-only", action="store_true", help="only the 3-node, 30-pod table")
    args = parser.parse_args()
    if not args.goal_only:
        per_pod(args.quick)
    goal(args.window)


def goal(window: float) -> None:
    print(f"\n3 nodes, 30 idle pods: what metrics add at {METRIC_RESOLUTION:g} s (labkit's default) and "
          f"{RESOLUTION:g} s (the manifest's)")
    print(f"{'runtime':20} {'idle cores':>10} {'round ms':>9} {'added @default':>24} {'added @15s':>24}")
    variants = [("sim", "sim", True), ("process", "process", True), ("process (no cgroups)", "process", False)]
    variants += [("docker", "docker", True)] if docker_available() else []
    for label, runtime, cgroups in variants:
        real = proccgroups.unavailable
        if not cgroups:  # as on a machine where labkit is not root
            proccgroups.unavailable = lambda *_: "benchmark: as a user who is not root"  # type: ignore[assignment]
        try:
            idle, round_cpu = cluster_cost(runtime, window)
        finally:
            proccgroups.unavailable = real  # type: ignore[assignment]
        cells = [f"{round_cpu / r / idle:6.1%} ({round_cpu / r:7.3%} core)" for r in (METRIC_RESOLUTION, RESOLUTION)]
        print(f"{label:20} {idle:10.4f} {round_cpu * 1e3:9.2f} {cells[0]:>24} {cells[1]:>24}", flush=True)


def per_pod(quick: bool) -> None:
    sizes = {"sim": (10,) if quick else (10, 100), "process": (10,) if quick else (10, 50),
             "docker": (10,) if quick else (10, 30)}
    runtimes = ["sim", "process"] + (["docker"] if docker_available() else [])
    print(f"{'runtime':8} {'pods':>5} {'kubelet ms':>11} {'scrape ms':>10} {'per pod us':>11} "
          f"{'core share @15s':>16}")
    for runtime in runtimes:
        for pods in sizes[runtime]:
            kubelet, scrape = measure(runtime, pods)
            print(f"{runtime:8} {pods:5d} {kubelet * 1e3:11.2f} {scrape * 1e3:10.2f} {scrape / pods * 1e6:11.1f} "
                  f"{scrape / RESOLUTION:16.5%}", flush=True)


if __name__ == "__main__":
    main()
