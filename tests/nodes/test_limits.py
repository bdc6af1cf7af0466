"""Limits that bite: the article's manifest (6.2) gets kube's cgroup values, a CPU-limited busy loop is
throttled and says so on /metrics/cadvisor, a container over its memory limit is OOMKilled (137) and
restarted with back-off; on the process runtime as root through labkit's own cgroups, otherwise with
a LimitsNotEnforced event saying why."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import docker
import pytest
from prometheus_client.parser import text_string_to_metric_families
from testkit import Kubectl, kubectl_path, wait_for

from labkit.kubelet.qos import lowest_oom_score_adj

ARTICLE_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
               "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                        "resources": {"limits": {"memory": "512Mi", "cpu": "500m"}}}]}}


def throttled_periods(kubectl: Kubectl, node: str, namespace: str, pod: str) -> float:
    """``container_cpu_cfs_throttled_periods_total`` of the pod, as ``kubectl get --raw
    /api/v1/nodes/NODE/proxy/metrics/cadvisor`` shows it (0 before it appears)."""
    text = kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics/cadvisor")
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "container_cpu_cfs_throttled_periods_total" and s.labels["pod"] == pod:
                labels = s.labels
                assert (labels["namespace"], labels["container"], labels["image"]) == (namespace, "main", "busybox")
                assert labels["id"].startswith("/") and labels["name"].startswith(f"k8s_main_{pod}_{namespace}_")
                return s.value
    return 0


@pytest.mark.docker
def test_article_manifest_gets_kubes_cgroup_values(docker_env: Any) -> None:
    ns = docker_env.namespace()
    docker_env.core.create_namespaced_pod(ns, ARTICLE_POD)
    pod = docker_env.running(ns, "nginx")
    assert pod.spec.containers[0].resources.requests == {"memory": "512Mi", "cpu": "500m"}  # copied from limits
    assert pod.status.qos_class == "Guaranteed"
    cgroup = docker_env.cluster.cgroup("nginx", namespace=ns)
    assert (cgroup.cpu_quota_us, cgroup.cpu_period_us, cgroup.memory_limit_bytes) == (50_000, 100_000, 512 * 2**20)
    if cgroup.version == 1:
        assert cgroup.cpu_shares == 512  # 500m * 1024 / 1000
    else:  # runc turns shares into a weight, by a formula that changed across its versions;
        assert cgroup.cpu_weight is not None and 1 <= cgroup.cpu_weight < 100  # below one core's (100)
    container = docker.from_env().api.inspect_container(pod.status.container_statuses[0].container_id[len("docker://"):])
    assert container["HostConfig"]["OomScoreAdj"] == max(-997, lowest_oom_score_adj())


@pytest.mark.docker
@pytest.mark.kubectl
def test_cpu_limited_busy_loop_is_throttled(docker_env: Any, tmp_path: Path) -> None:
    kubectl = Kubectl(kubectl_path("1.33"), docker_env.cluster.kubeconfig, tmp_path / "cache")
    ns = docker_env.namespace()
    docker_env.pod(ns, "busy", "busybox", c_command=["sh", "-c", "while :; do :; done"],
                   c_resources={"limits": {"cpu": "100m"}})
    node = docker_env.running(ns, "busy").spec.node_name
    first = wait_for(lambda: throttled_periods(kubectl, node, ns, "busy"), timeout=10, every=0.2,
                     what="throttled periods on /metrics/cadvisor")
    wait_for(lambda: throttled_periods(kubectl, node, ns, "busy") > first, timeout=10, every=0.2,
             what="throttled periods rising")
    assert docker_env.cluster.cgroup("busy", namespace=ns).nr_throttled > 0


@pytest.mark.unprivileged
def test_process_runtime_enforces_limits_as_root_else_says_why(process_env: Any) -> None:
    ns = process_env.namespace()
    process_env.pod(ns, "hog", "busybox", c_command=["tail", "/dev/zero"],
                    c_resources={"limits": {"memory": "16Mi", "cpu": "200m"}})
    if os.geteuid() != 0:
        def warned() -> list[str]:
            return [m for _, r, m in process_env.events(ns, "hog") if r == "LimitsNotEnforced"]
        [message] = wait_for(warned, timeout=20)
        assert message == ("CPU and memory requests/limits are recorded but not enforced: the process runtime "
                           f"cannot make cgroups: labkit runs as uid {os.geteuid()}, not root, and only root may "
                           "make cgroups")
        return
    assert_oom_killed_and_restarted(process_env, ns, "hog")
    assert not [r for _, r, _ in process_env.events(ns, "hog") if r == "LimitsNotEnforced"]
    process_env.pod(ns, "sleeper", "busybox", c_command=["sleep", "3600"], c_resources={"limits": {"cpu": "200m"}})
    pod = process_env.running(ns, "sleeper")
    cgroup = process_env.cluster.cgroup("sleeper", namespace=ns)
    assert (cgroup.cpu_quota_us, cgroup.cpu_period_us, cgroup.cpu_shares) == (20_000, 100_000, 204)
    assert cgroup.name.startswith("/labkit/")
    # a process exec'd in the container is in its cgroup too
    runtime = process_env.cluster.kubelets[pod.spec.node_name].runtime
    container_id = pod.status.container_statuses[0].container_id.removeprefix("process://")

    async def exec_cgroup() -> bytes:
        session = await runtime.exec(container_id, ["cat", "/proc/self/cgroup"], tty=False, stdin=False)
        out = b"".join([data async for _, data in session.output()])
        await session.wait()
        return out

    assert f":{cgroup.name}\n".encode() in process_env.cluster.run(exec_cgroup())


def assert_oom_killed_and_restarted(env: Any, namespace: str, name: str) -> None:
    """OOMKilled with exit code 137 in lastState, restarted, and the restarts backed off, as kube shows them."""
    def restarted() -> Any:
        [status] = env.core.read_namespaced_pod(name, namespace).status.container_statuses or [None]
        return status if status and status.restart_count >= 1 and status.last_state.terminated else None

    status = wait_for(restarted, timeout=30, what=lambda: env.describe(namespace, name))
    assert (status.last_state.terminated.reason, status.last_state.terminated.exit_code) == ("OOMKilled", 137)
    wait_for(lambda: any(r == "BackOff" and "Back-off restarting failed container" in m
                         for _, r, m in env.events(namespace, name)), timeout=30,
             what=lambda: env.describe(namespace, name))


@pytest.mark.docker
def test_oom_killed_restarts_with_back_off(docker_env: Any) -> None:
    ns = docker_env.namespace()
    docker_env.pod(ns, "hog", "busybox", c_command=["tail", "/dev/zero"], c_resources={"limits": {"memory": "16Mi"}})
    assert_oom_killed_and_restarted(docker_env, ns, "hog")
