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
