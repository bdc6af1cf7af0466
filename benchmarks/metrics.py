"""What the metrics pipeline costs per pod and per scrape interval. Not a test; run it and read the table:

    .venv/bin/python benchmarks/metrics.py [--quick]   (from the repository root)

For each runtime (sim always; process; docker when a daemon answers), one node running N pods of one
idle container each (``sleep``; the sim model needs nothing), it times, median of 5 rounds:

- kubelet: one ``/metrics/resource`` (the runtime's container stats, joined with its sandboxes, written
  as Prometheus text);
- metrics-server: one whole scrape of that node (the above, then decoding and storing the batch).

and prints each per pod, and as the share of one core it takes at the manifest's 15 s resolution.
The cluster's own metrics-server runs with a 1-hour resolution here, so it does not scrape meanwhile.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from labkit import Cluster
from labkit.cluster import docker_available
from labkit.client import resource_path

RESOLUTION = 15.0


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller runs")
    args = parser.parse_args()
    sizes = {"sim": (10,) if args.quick else (10, 100), "process": (10,) if args.quick else (10, 50),
             "docker": (10,) if args.quick else (10, 30)}
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
