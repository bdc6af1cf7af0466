"""Pod start latency of the Docker runtime (sandbox + one container, create -> running) against a
raw ``docker run -d`` of the same image, measured in the same run: first at the runtime level (the
CRI calls a kubelet makes, nothing else), then the whole path: a Pod POSTed to a one-node docker
cluster, scheduled, started by the kubelet, until a watch shows it Running. Not a test; run it and
read the numbers (goal: pod p50 <= 1.5x raw p50, pod p99 <= 2 s):

    .venv/bin/python benchmarks/docker_pods.py [--quick] [--pods N]   (from the repository root)
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import secrets
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from labkit import Cluster, images
from labkit.client import resource_path
from labkit.kubelet.runtime import ContainerConfig, PodSandboxConfig
from labkit.kubelet.runtime.docker import DockerNetwork, DockerRuntime, docker_client

COMMAND = ["sleep", "inf"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: Sequence[float]) -> str:
    return "  ".join(f"{k} {percentile(values, q) * 1e3:7.1f} ms" for k, q in (("p50", 50), ("p90", 90), ("p99", 99)))


async def start_pod(runtime: DockerRuntime, config: PodSandboxConfig) -> float:
    started = time.perf_counter()
    sandbox_id = await runtime.run_pod_sandbox(config)
    container_id = await runtime.create_container(
        sandbox_id, ContainerConfig(name="main", image=images.BUSYBOX.tag, command=COMMAND), config)
    await runtime.start_container(container_id)
    assert (await runtime.container_status(container_id)).state == "running"
    return time.perf_counter() - started


def raw_sdk(api: Any, label: str, network: str | None = None) -> float:
    """``docker run -d [--network N]`` as the SDK does it (create + start), without the CLI's process start."""
    started = time.perf_counter()
    cid = api.create_container(images.BUSYBOX.tag, COMMAND, detach=True, labels={label: "1"},
                               host_config=api.create_host_config(network_mode=network))["Id"]
    api.start(cid)
    return time.perf_counter() - started


def raw_cli(label: str) -> float:
    started = time.perf_counter()
    subprocess.run(["docker", "run", "-d", "--label", f"{label}=1", images.BUSYBOX.tag, *COMMAND],
                   check=True, capture_output=True)
    return time.perf_counter() - started


async def main(pods: int, concurrent: int) -> None:
    cluster_id = f"bench-{secrets.token_hex(3)}"
    network = DockerNetwork(cluster_id)
    await network.ensure()
    runtime = DockerRuntime(cluster_id, "node-1", network=network)
    # the same pods attached by docker, as where labkit cannot wire them (rootless Docker, Docker Desktop)
    docker_wired = DockerNetwork(f"{cluster_id}-d", wire_pods=False)
    await docker_wired.ensure()
    fallback = DockerRuntime(docker_wired.cluster_id, "node-1", network=docker_wired)
    addresses = {n: iter(ipaddress.ip_network(n.cluster_cidr).hosts()) for n in (network, docker_wired)}
    label = f"labkit.bench-{cluster_id}"

    def pod(i: int, on: DockerNetwork = network) -> PodSandboxConfig:
        return PodSandboxConfig(name=f"pod-{i}", namespace="bench", uid=secrets.token_hex(8), node="node-1",
                                ip=str(next(addresses[on])), hostname=f"pod-{i}")

    try:
        await runtime.pull_image(images.BUSYBOX.tag)
        await runtime.pull_image(images.PAUSE.tag)
        await start_pod(runtime, pod(-1))  # warm-up
        pod_times, fallback_times, sdk_times, cli_times, bridge_times = [], [], [], [], []
        for i in range(pods):  # interleaved, so drift in the daemon hits all alike
            pod_times.append(await start_pod(runtime, pod(i)))
            fallback_times.append(await start_pod(fallback, pod(i, docker_wired)))
            sdk_times.append(await asyncio.to_thread(raw_sdk, runtime.api, label))
            cli_times.append(await asyncio.to_thread(raw_cli, label))
            bridge_times.append(await asyncio.to_thread(raw_sdk, runtime.api, label, network.name))
        started = time.perf_counter()
        burst = await asyncio.gather(*(start_pod(runtime, pod(pods + i)) for i in range(concurrent)))
        burst_wall = time.perf_counter() - started
        print(f"{pods} pods one at a time (sandbox + container, create -> running):")
        print(f"  pod ({network.pod_wiring} wiring{': ' + network.wiring_note if network.wiring_note else ''})")
        print(f"                  {summary(pod_times)}")
        print(f"  pod (docker wiring: rootless Docker, Docker Desktop) {summary(fallback_times)}")
        print(f"  raw (SDK)       {summary(sdk_times)}")
        print(f"  raw (CLI)       {summary(cli_times)}")
        # a user-defined bridge starts slower than docker's default one (embedded DNS)
        print(f"  raw (SDK, on the cluster's bridge) {summary(bridge_times)}")
        print(f"  pod p50 / raw SDK p50 = {percentile(pod_times, 50) / percentile(sdk_times, 50):.2f}x, "
              f"pod p50 / raw CLI p50 = {percentile(pod_times, 50) / percentile(cli_times, 50):.2f}x; "
              f"docker wiring: {percentile(fallback_times, 50) / percentile(sdk_times, 50):.2f}x the SDK")
        print(f"{concurrent} pods at once: {summary(burst)}  all running after {burst_wall * 1e3:.0f} ms")
    finally:
        for c in runtime.api.containers(all=True, filters={"label": label}):
            runtime.api.remove_container(c["Id"], force=True)
        await asyncio.gather(network.remove(), docker_wired.remove())
        await runtime.close()
        await fallback.close()


def through_api(pods: int) -> None:
    """Pod create request -> Running seen by a watch, on a one-node docker cluster, one pod at a time,
    interleaved with raw ``docker run -d`` (SDK) of the same image."""
    with Cluster(nodes=1, runtime="docker", set_kubeconfig_env=False) as c:
        admin = c.admin()
        api = docker_client()
        label = f"labkit.bench-raw-{secrets.token_hex(3)}"
        path = resource_path("v1", "pods", namespace="default")

        async def measure() -> tuple[list[float], list[float]]:
            running: dict[str, float] = {}
            listed = await admin.get(path)

            async def watch() -> None:
                async for _, p in admin.watch(path, resource_version=listed["metadata"]["resourceVersion"]):
                    if p.get("status", {}).get("phase") == "Running":
                        running.setdefault(p["metadata"]["name"], time.perf_counter())
            task = asyncio.get_running_loop().create_task(watch())
            pod_times, raw_times = [], []
            for i in range(-1, pods):  # the first one warms up
                name = f"e2e-{i + 1}"
                t0 = time.perf_counter()
                await admin.create(path, {"metadata": {"name": name}, "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": images.BUSYBOX.tag, "command": COMMAND}]}})
                while name not in running:
                    await asyncio.sleep(0.002)
                if i >= 0:
                    pod_times.append(running[name] - t0)
                    raw_times.append(await asyncio.to_thread(raw_sdk, api, label))
            task.cancel()
            return pod_times, raw_times
        try:
            pod_times, raw_times = c.run(measure(), timeout=600)
        finally:
            for cont in api.containers(all=True, filters={"label": label}):
                api.remove_container(cont["Id"], force=True)
    print(f"{pods} pods through the API (POST -> Running in a watch), one at a time:")
    print(f"  pod             {summary(pod_times)}")
    print(f"  raw (SDK)       {summary(raw_times)}")
    print(f"  pod p50 / raw SDK p50 = {percentile(pod_times, 50) / percentile(raw_times, 50):.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 pods and a burst of 5 instead of 50 and 20")
    parser.add_argument("--pods", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.pods or (10 if args.quick else 50), 5 if args.quick else 20))
    through_api(args.pods or (10 if args.quick else 50))
