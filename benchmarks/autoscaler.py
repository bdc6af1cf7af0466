"""How fast the autoscaler answers a load step. Not a test; run it and read the table (what the
metrics pipeline costs is benchmarks/metrics.py):

    .venv/bin/python benchmarks/autoscaler.py [--quick]   (from the repository root)

Sim nodes: a Deployment of 2 replicas requesting 200m, an HPA at 50 % (2 to 10), then 579m of load
(``set_sim_load``) at a random moment of the scrape cycle. Kube's algorithm asks for 6 replicas,
reached in two steps (the legacy rule allows 4 first). For each metric resolution and HPA sync
period: seconds from the load's start to the first scale-up (the Deployment's ``spec.replicas``
raised) and to 6, against the issue's bound of two scrape intervals and one sync.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from labkit import Cluster
from labkit.client import resource_path
from labkit.controllers import ControllerManagerConfig

TARGET = 6


def deployment(replicas: int, cpu: str = "200m") -> dict:
    """``web``: idle pods (``sleep`` where they really run) requesting ``cpu`` each."""
    return {"metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                    "name": "web", "image": "busybox", "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}}}}


def replicas(cluster: Cluster) -> int:
    d = cluster.run(cluster.admin().get(resource_path("apps/v1", "deployments", namespace="default", name="web")))
    return d["spec"]["replicas"]


def reaction(resolution: float, sync: float) -> tuple[float, float]:
    """Seconds from the load step to the first scale-up and to TARGET replicas."""
    config = ControllerManagerConfig(horizontal_pod_autoscaler_sync_period=sync)
    with Cluster(nodes=2, runtime="sim", metric_resolution=resolution, controllers=config,
                 set_kubeconfig_env=False) as cluster:
        admin = cluster.admin()
        cluster.run(admin.create(resource_path("apps/v1", "deployments", namespace="default"), deployment(2)))
        cluster.run(admin.create(resource_path("autoscaling/v2", "horizontalpodautoscalers", namespace="default"), {
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 2, "maxReplicas": 10, "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}))
        path = resource_path("autoscaling/v2", "horizontalpodautoscalers", namespace="default", name="web")
        while not (cluster.run(admin.get(path)).get("status") or {}).get("currentMetrics"):  # measured idle
            time.sleep(0.05)
        time.sleep(random.uniform(0, resolution))  # any moment of the scrape cycle
        started = time.monotonic()
        cluster.set_sim_load("shop", selector="app=web", cpu="579m")
        first = None
        while (n := replicas(cluster)) < TARGET:
            if n > 2 and first is None:
                first = time.monotonic() - started
            if time.monotonic() - started > 10 * (resolution + sync) + 30:
                raise TimeoutError(f"no {TARGET} replicas after {time.monotonic() - started:.0f}s ({n})")
            time.sleep(0.02)
        done = time.monotonic() - started
        return first if first is not None else done, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    args = parser.parse_args()
    configs = [(0.5, 1.0), (1.0, 3.0)] if args.quick else [(0.5, 1.0), (1.0, 3.0), (5.0, 5.0), (15.0, 15.0)]
    rounds = 2 if args.quick else 3
    print(f"{'resolution s':>12} {'sync s':>7} {'bound 2r+s':>10} {'first scale-up s (median, max)':>31} "
          f"{'6 replicas s (median, max)':>27}")
    for resolution, sync in configs:
        runs = [reaction(resolution, sync) for _ in range(rounds if resolution < 15 else 1)]
        firsts, dones = [r[0] for r in runs], [r[1] for r in runs]
        print(f"{resolution:12.1f} {sync:7.1f} {2 * resolution + sync:10.1f} "
              f"{statistics.median(firsts):23.1f}, {max(firsts):5.1f} {statistics.median(dones):19.1f}, "
              f"{max(dones):5.1f}", flush=True)


if __name__ == "__main__":
    main()
