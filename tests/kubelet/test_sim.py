"""The sim runtime: many nodes in one process, pods Running without processes."""

from __future__ import annotations

import time

from labkit.client import resource_path
from labkit.kubelet.runtime.sim import SimRuntime

from .conftest import pod, start_kubelet, wait_for


def test_200_sim_nodes_register_and_run_pods(api, control_plane):
    t0 = time.monotonic()
    for i in range(200):
        start_kubelet(control_plane, f"sim-{i}", SimRuntime(node=f"sim-{i}"), renew_interval=5, status_update_interval=5)
    nodes = control_plane.run(api.client.get(resource_path("v1", "nodes"), labelSelector=""))["items"]
    assert len([n for n in nodes if n["metadata"]["name"].startswith("sim-")]) == 200
    for i in range(0, 200, 10):
        api.create("pods", pod(f"s{i}", f"sim-{i}", [{"name": "c", "image": "nginx"}]))
    api.create("pods", {**pod("s-exit", "sim-1", [{"name": "c", "image": "nginx"}], restartPolicy="Never"),
                        "metadata": {"name": "s-exit", "annotations": {"labkit.dev/sim-exit-code": "1",
                                                                      "labkit.dev/sim-run-seconds": "0.2"}}})

    def running() -> bool:
        pods = control_plane.run(api.client.get(resource_path("v1", "pods", namespace="default")))["items"]
        return sum(p["metadata"]["name"].startswith("s") and p["metadata"]["name"] != "s-exit"
                   and p["status"].get("phase") == "Running" for p in pods) == 20
    wait_for(running, timeout=30)
    assert time.monotonic() - t0 < 30
    p = wait_for(lambda: (x := api.get("pods", "s-exit")) and x["status"]["phase"] == "Failed" and x)
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


def test_a_sim_container_that_starts_or_exits_wakes_its_pod_without_a_relist(api, control_plane):
    """The sim runtime reports its containers' starts and exits (kube's Evented PLEG): with the relist an
    hour away, a pod still becomes Running, and one whose container exits still ends Failed."""
    start_kubelet(control_plane, "evented", SimRuntime(node="evented"), pleg_period=3600)
    api.create("pods", pod("ev-run", "evented", [{"name": "c", "image": "nginx"}]))
    api.create("pods", {**pod("ev-exit", "evented", [{"name": "c", "image": "nginx"}], restartPolicy="Never"),
                        "metadata": {"name": "ev-exit", "annotations": {"labkit.dev/sim-exit-code": "3",
                                                                       "labkit.dev/sim-run-seconds": "0.1"}}})
    wait_for(lambda: (x := api.get("pods", "ev-run")) and x["status"].get("phase") == "Running", timeout=10)
    done = wait_for(lambda: (x := api.get("pods", "ev-exit")) and x["status"].get("phase") == "Failed" and x,
                    timeout=10)
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_a_sim_container_with_a_readiness_probe_becomes_ready(api, control_plane):
    """Sim nodes run no probes: a container that has one counts as passing it, so its pod becomes Ready."""
    start_kubelet(control_plane, "probed", SimRuntime(node="probed"))
    api.create("pods", pod("sim-probed", "probed", [{"name": "c", "image": "nginx",
                                                     "readinessProbe": {"exec": {"command": ["false"]}}}]))
    p = wait_for(lambda: (x := api.get("pods", "sim-probed")) and x["status"].get("phase") == "Running" and x)
    statuses = wait_for(lambda: (s := api.get("pods", "sim-probed")["status"].get("containerStatuses")) and s[0]["ready"]
                        and s)
    assert p["spec"]["nodeName"] == "probed" and statuses[0]["ready"]
