"""What a real container uses reaches metrics.k8s.io: its cgroup on docker, its processes on process."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from testkit import wait_for

from labkit.apimachinery.resource import parse_quantity


def test_a_busy_container_shows_cpu_usage(env: Any) -> None:
    ns = env.namespace()
    env.pod(ns, "busy", "busybox", c_command=["sh", "-c", "while :; do :; done"])
    env.pod(ns, "idle", "busybox", c_command=["sleep", "3600"])
    node = env.running(ns, "busy").spec.node_name
    env.running(ns, "idle")
    metrics = client.CustomObjectsApi(env.api_client)

    def usage(name: str) -> tuple[float, int] | None:
        try:
            pod = metrics.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", ns, "pods", name)
        except ApiException as e:
            assert e.status == 404, e
            return None
        (container,) = pod["containers"]
        return float(parse_quantity(container["usage"]["cpu"]).amount), parse_quantity(
            container["usage"]["memory"]).value()

    try:
        busy = wait_for(lambda: (u := usage("busy")) and u[0] >= 0.2 and u, timeout=20,
                        what="the busy loop's CPU in its PodMetrics")
        idle_cpu, idle_memory = wait_for(lambda: usage("idle"), timeout=10)
        assert idle_cpu < 0.05 and idle_memory > 0 and busy[1] > 0
        node_cpu = parse_quantity(metrics.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", node)[
            "usage"]["cpu"]).amount
        assert node_cpu >= 0.2  # the node's usage includes its pods'
    finally:
        env.core.delete_namespace(ns)  # the busy loop stops with it
