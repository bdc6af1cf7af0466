"""How soon a StatefulSet of three is Ready on sim nodes. Not a test; run it and read the table:

    .venv/bin/python benchmarks/statefulset.py [--runs N]   (from the repository root)

The issue's goal: a StatefulSet of 3 on sim nodes Ready in at most 3 s. One cluster of three sim nodes;
for each case, N StatefulSets of three replicas created one after another (each deleted before the
next), and the seconds from the create request until ``status.readyReplicas`` is 3 (polled every
10 ms). Cases: ``OrderedReady`` (kube's default: each pod Running and Ready before the next), the same
with a claim per pod from ``volumeClaimTemplates`` (bound through the local-path provisioner), and
``Parallel``. An ordered set waits for each pod's readiness in turn; the kubelet hears of each
container's start from the sim runtime's container events (kube's Evented PLEG), not at a relist.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from labkit import Cluster
from labkit.client import resource_path

CASES = {"OrderedReady": {}, "OrderedReady + claims": {"claims": True}, "Parallel": {"parallel": True}}


def body(name: str, *, claims: bool = False, parallel: bool = False) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {"replicas": 3, "serviceName": name, "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels},
                                         "spec": {"terminationGracePeriodSeconds": 0,
                                                  "containers": [{"name": "c", "image": "nginx"}]}}}
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    if parallel:
        spec["podManagementPolicy"] = "Parallel"
    return {"metadata": {"name": name}, "spec": spec}


def time_to_ready(cluster: Cluster, name: str, **case: bool) -> float:
    admin = cluster.admin()
    path = resource_path("apps/v1", "statefulsets", namespace="default")
    started = time.perf_counter()
    cluster.run(admin.create(path, body(name, **case)))
    while (cluster.run(admin.get(f"{path}/{name}")).get("status") or {}).get("readyReplicas") != 3:
        if time.perf_counter() - started > 60:
            raise TimeoutError(f"StatefulSet {name} not Ready in 60 s")
        time.sleep(0.01)
    took = time.perf_counter() - started
    cluster.run(admin.delete(f"{path}/{name}"))
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"StatefulSet of 3 on 3 sim nodes, {args.runs} runs per case: seconds from create to readyReplicas 3")
    print(f"{'case':24} {'median':>7} {'min':>6} {'max':>6}")
    with Cluster(nodes=3, runtime="sim", set_kubeconfig_env=False, metrics_server=False) as cluster:
        for i, (case, flags) in enumerate(CASES.items()):
            times = [time_to_ready(cluster, f"set{i}-{run}", **flags) for run in range(args.runs)]
            print(f"{case:24} {statistics.median(times):7.2f} {min(times):6.2f} {max(times):6.2f}", flush=True)


if __name__ == "__main__":
    main()
