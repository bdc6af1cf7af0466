"""How fast labkit's kubelets start pods and nodes. Not a test; run it and read the numbers:

    .venv/bin/python benchmarks/kubelet.py [--quick]   (from the repository root)

1. process runtime: pod create -> Running (Ready) latency, p50/p99 over 50 pods (goal p50 <= 200 ms),
   created one after another, timed from just before the create request to the first Ready status
   seen by a watch;
2. sim runtime: ``Cluster(nodes=N, runtime="sim")`` from creation until every Node is Ready with a Lease
   (goals: 1000 nodes <= 5 s, 5000 nodes <= 30 s; ``--quick`` runs 200 and 1000);
3. resident memory of a 3-node process cluster with one pod per node (goal <= 150 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit import Cluster
from labkit.client import resource_path
from labkit.kubelet import Kubelet, KubeletConfig
from labkit.kubelet.runtime.process import ProcessRuntime

CONFIG = dict(pod_cidr_timeout=0.1, cluster_cidr="127.244.0.0/16", pleg_period=0.2)


def add_kubelet(c: Cluster, node: str, runtime, **config) -> Kubelet:  # type: ignore[no-untyped-def]
    client = c.client_for(f"system:node:{node}", ["system:nodes"], agent="kubelet")
    return c.add(Kubelet(client, node_name=node, runtime=runtime, config=KubeletConfig(**{**CONFIG, **config})))  # type: ignore[return-value]


def pod(name: str, node: str, image: str = "labkit/hello:1") -> dict:
    return {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": image}]}}


def process_latency(n: int) -> list[float]:
    with Cluster(nodes=0, set_kubeconfig_env=False) as c, tempfile.TemporaryDirectory() as tmp:
        runtime = ProcessRuntime(root_dir=tmp, node="p1")
        add_kubelet(c, "p1", runtime)
        admin = c.client_for("admin", ["system:masters"], agent="bench")

        async def measure() -> list[float]:
            path = resource_path("v1", "pods", namespace="default")
            ready: dict[str, float] = {}

            async def watch() -> None:
                async for _, p in admin.watch(path):
                    conds = {x["type"]: x["status"] for x in p.get("status", {}).get("conditions") or []}
                    if conds.get("Ready") == "True":
                        ready.setdefault(p["metadata"]["name"], time.perf_counter())
            task = asyncio.get_running_loop().create_task(watch())
            await asyncio.sleep(0.2)
            out = []
            for i in range(n):
                name = f"b{i}"
                t0 = time.perf_counter()
                await admin.create(path, pod(name, "p1"))
                while name not in ready:
                    await asyncio.sleep(0.002)
                out.append(ready[name] - t0)
            task.cancel()
            return out
        try:
            return c.run(measure(), timeout=300)
        finally:
            c.run(runtime.cleanup())


def sim_nodes(n: int) -> float:
    """Seconds from ``Cluster(nodes=n, runtime="sim")`` being created to every Node Ready with a Lease."""
    t0 = time.perf_counter()
    with Cluster(nodes=n, runtime="sim", set_kubeconfig_env=False) as c:
        admin = c.admin()

        async def count() -> tuple[int, int]:
            nodes = (await admin.get(resource_path("v1", "nodes")))["items"]
            leases = (await admin.get(resource_path("coordination.k8s.io/v1", "leases",
                                                    namespace="kube-node-lease")))["items"]
            ready = sum(any(x["type"] == "Ready" and x["status"] == "True" for x in nd["status"]["conditions"])
                        for nd in nodes)
            return ready, len(leases)
        ready, leases = c.run(count(), timeout=600)
        took = time.perf_counter() - t0
        assert ready == n and leases == n, (ready, leases)
        return took


def rss_process_cluster() -> float:
    with Cluster(nodes=0, set_kubeconfig_env=False) as c, tempfile.TemporaryDirectory() as tmp:
        runtimes = [ProcessRuntime(root_dir=f"{tmp}/{i}", node=f"n{i}") for i in range(3)]
        admin = c.client_for("admin", ["system:masters"], agent="bench")
        for i, rt in enumerate(runtimes):
            add_kubelet(c, f"n{i}", rt)
            c.run(admin.create(resource_path("v1", "pods", namespace="default"), pod(f"r{i}", f"n{i}")))
        time.sleep(2)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for rt in runtimes:
            c.run(rt.cleanup())
        return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer pods and nodes")
    args = parser.parse_args()
    rows = []
    rss = rss_process_cluster()  # first: ru_maxrss is the peak of the whole process
    lat = sorted(process_latency(20 if args.quick else 50))
    p50, p99 = statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    rows.append((f"process pod create->Ready p50 ({len(lat)} pods)", f"{p50 * 1000:.0f} ms", "<= 200 ms"))
    rows.append((f"process pod create->Ready p99 ({len(lat)} pods)", f"{p99 * 1000:.0f} ms", "report"))
    for n, goal in ((200, "report"), (1000, "<= 5 s")) if args.quick else ((1000, "<= 5 s"), (5000, "<= 30 s")):
        rows.append((f"sim: {n} nodes registered, Ready, with Leases", f"{sim_nodes(n):.1f} s", goal))
    rows.append(("peak RSS, 3-node process cluster + 3 pods (this process)", f"{rss:.0f} MiB", "<= 150 MB (143 MiB)"))
    width = max(len(r[0]) for r in rows)
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:>10}  goal {goal}")


if __name__ == "__main__":
    main()
