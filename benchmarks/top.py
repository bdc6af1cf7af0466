"""How soon ``kubectl top pod`` shows a new pod. Not a test; run it and read the table:

    .venv/bin/python benchmarks/top.py [--runs N] [--resolution S]   (from the repository root)

The issue's goal: ``kubectl top pod/node`` output within 15 s of a pod starting, on every runtime.
For each runtime (sim, process; docker when a daemon answers), one node at the given metric
resolution (labkit's default unless told): N pods created one at a time, each at a random moment of
the scrape cycle; for each, the seconds from its creation, and from its container's start, until
kubectl 1.33's ``top pod`` prints its row (polled every 0.2 s). metrics-server's algorithm bounds it
by two scrapes after the start (one when the container is 10 s to one resolution old), plus the scrape
and the poll.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import time
from pathlib import Path

from labkit import Cluster
from labkit.client import resource_path
from labkit.cluster import docker_available
from labkit.metricsserver.server import METRIC_RESOLUTION

KUBECTL = Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.33")


def shown(kubeconfig: Path, name: str) -> bool:
    out = subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfig), "top", "pod", name, "--no-headers"],
                         capture_output=True, text=True, timeout=10)
    return out.returncode == 0 and out.stdout.startswith(name)


def latencies(runtime: str, runs: int, resolution: float) -> list[tuple[float, float]]:
    """(from creation, from the container's start) for each of ``runs`` pods."""
    out = []
    with Cluster(nodes=1, runtime=runtime, metric_resolution=resolution, set_kubeconfig_env=False) as cluster:
        assert cluster.kubeconfig is not None
        admin = cluster.admin()
        for i in range(runs):
            time.sleep(random.uniform(0, resolution))
            name = f"top-{i}"
            created = time.time()
            cluster.run(admin.create(resource_path("v1", "pods", namespace="default"), {
                "metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                    {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}}))
            while not shown(cluster.kubeconfig, name):
                if time.time() - created > 120:
                    raise TimeoutError(f"kubectl top pod {name} showed nothing in 120 s on {runtime}")
                time.sleep(0.2)
            seen = time.time()
            pod = cluster.run(admin.get(resource_path("v1", "pods", namespace="default", name=name)))
            started = dt.datetime.fromisoformat(
                pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]).timestamp()
            out.append((seen - created, seen - started))
            cluster.run(admin.delete(resource_path("v1", "pods", namespace="default", name=name)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--resolution", type=float, default=METRIC_RESOLUTION)
    args = parser.parse_args()
    print(f"metric resolution {args.resolution:g} s, {args.runs} pods per runtime; seconds until `kubectl top pod` "
          "shows the pod")
    print(f"{'runtime':8} {'from creation: median':>22} {'max':>6} {'from start: median':>19} {'max':>6}")
    for runtime in ["sim", "process"] + (["docker"] if docker_available() else []):
        runs = latencies(runtime, args.runs, args.resolution)
        created, started = [r[0] for r in runs], [r[1] for r in runs]
        print(f"{runtime:8} {statistics.median(created):22.1f} {max(created):6.1f} {statistics.median(started):19.1f} "
              f"{max(started):6.1f}", flush=True)


if __name__ == "__main__":
    main()
