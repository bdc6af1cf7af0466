"""Pods on the process runtime: from create to Running, and what the kubelet reports on the way."""

from __future__ import annotations

import ipaddress
import re
import urllib.request

from .conftest import pod, wait_for


def condition(p: dict, kind: str) -> str:
    return next((c["status"] for c in p["status"].get("conditions", []) if c["type"] == kind), "")


def test_pod_runs_with_ip_and_conditions(api, process_node):
    api.create("pods", pod("web", "pn1", [{"name": "web", "image": "labkit/hello:1"}]))
    p = wait_for(lambda: (x := api.get("pods", "web")) and condition(x, "Ready") == "True" and x)
    st = p["status"]
    assert st["phase"] == "Running"
    node_cidr = ipaddress.ip_network(api.get("nodes", "pn1", namespace="")["spec"]["podCIDR"])
    assert ipaddress.ip_address(st["podIP"]) in node_cidr and node_cidr.is_loopback  # a loopback address of its own
    assert st["podIPs"] == [{"ip": st["podIP"]}]
    assert st["hostIP"] == "127.0.0.1" and st["startTime"]
    assert {c["type"] for c in st["conditions"]} >= {"PodScheduled", "Initialized", "ContainersReady", "Ready",
                                                     "PodReadyToStartContainers"}
    cs = st["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and "running" in cs["state"] and cs["restartCount"] == 0
    assert cs["containerID"].startswith("process://")
    body = wait_for(lambda: _get(f"http://{st['podIP']}:8080/"))
    assert "web" in body and st["podIP"] in body
    reasons = [r for r, _ in wait_for(lambda: len(api.events("web")) >= 4 and api.events("web"))]
    assert {"Pulling", "Pulled", "Created", "Started"} <= set(reasons)
    [pulled] = [m for r, m in api.events("web") if r == "Pulled"]  # the kubelet's words; no image store, no size
    assert re.fullmatch(r'Successfully pulled image "labkit/hello:1" in (\d+ms|[\d.]+s) \((\d+ms|[\d.]+s) including '
                        r"waiting\)\.( \(labkit stand-in for labkit/hello: .*\))?", pulled), pulled


def _get(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=1).read().decode()
    except OSError:
        return ""


def test_completed_pod_succeeds(api, process_node):
    api.create("pods", pod("once", "pn1", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hi"]}],
                           restartPolicy="Never"))
    p = wait_for(lambda: (x := api.get("pods", "once")) and x["status"]["phase"] == "Succeeded" and x)
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert condition(p, "Ready") == "False"


def test_unknown_image_is_err_image_pull_then_backoff(api, process_node):
    api.create("pods", pod("bad", "pn1", [{"name": "c", "image": "postgres:16"}]))
    reasons = set()

    def seen():
        p = api.get("pods", "bad")
        w = (p["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting", {})
        reasons.add(w.get("reason"))
        return {"ErrImagePull", "ImagePullBackOff"} <= reasons
    wait_for(seen)
    p = api.get("pods", "bad")
    assert p["status"]["phase"] == "Pending"
    assert any("process runtime cannot run" in m for _, m in api.events("bad"))


def test_crash_loop_back_off(api, process_node):
    api.create("pods", pod("crash", "pn1", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]))
    p = wait_for(lambda: (x := api.get("pods", "crash")) and
                 (x["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff" and x)
    cs = p["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 3 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] >= 1
    assert p["status"]["phase"] == "Running"
    assert "BackOff" in {r for r, _ in api.events("crash")}


def test_init_containers_run_in_order(api, process_node, control_plane):
    api.create("pods", pod("init", "pn1", [{"name": "main", "image": "busybox",
                                            "command": ["sh", "-c", "cat /work/order; sleep 30"],
                                            "volumeMounts": [{"name": "w", "mountPath": "/work"}]}],
                           initContainers=[
                               {"name": f"i{n}", "image": "busybox", "command": ["sh", "-c", f"sleep 0.{n}; echo i{n} >> /work/order"],
                                "volumeMounts": [{"name": "w", "mountPath": "/work"}]} for n in (2, 1)],
                           volumes=[{"name": "w", "emptyDir": {}}]))
    p = wait_for(lambda: (x := api.get("pods", "init")) and x["status"]["phase"] == "Running" and x)
    assert [s["state"]["terminated"]["reason"] for s in p["status"]["initContainerStatuses"]] == ["Completed", "Completed"]
    out = wait_for(lambda: _logs(control_plane, process_node, "init"))
    assert out == "i2\ni1\n"


def _logs(control_plane, node, pod_name: str, **kw) -> str:
    from labkit.apiserver.streaming.kubelet_api import KubeletError
    from labkit.kubelet.server import KubeletServer
    server = KubeletServer(node[0])

    async def read():
        return b"".join([chunk async for chunk in server.logs("default", pod_name, "", **kw)]).decode()
    try:
        return control_plane.run(read())
    except KubeletError:  # not on the kubelet yet, or still waiting to start
        return ""


def test_a_container_with_a_readiness_probe_is_not_ready_before_its_first_success(api, process_node):
    """kube's probe workers exist with the pod, so a probed container reads not ready until the probe says
    otherwise; the kubelet once wrote Ready=True for an instant after the start, before its workers existed."""
    import asyncio
    import contextlib

    from labkit.client import resource_path

    c = api.c

    async def readiness_seen() -> list[str]:
        seen: list[str] = []

        async def watch() -> None:
            async for _, obj in api.client.watch(resource_path("v1", "pods", namespace="default"),
                                                 fieldSelector="metadata.name=never-ready"):
                statuses = (obj.get("status") or {}).get("containerStatuses") or []
                if statuses and "running" in statuses[0].get("state", {}):
                    seen.append(condition(obj, "Ready"))

        task = asyncio.create_task(watch())
        await asyncio.sleep(0.2)
        await api.client.create(resource_path("v1", "pods", namespace="default"), pod(
            "never-ready", "pn1", [{"name": "app", "image": "busybox", "command": ["sleep", "3600"],
                                    "readinessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1}}]))
        for _ in range(40):  # until it runs, and two probe periods more
            await asyncio.sleep(0.1)
            if seen:
                break
        await asyncio.sleep(2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return seen

    seen = c.run(readiness_seen())
    api.delete("pods", "never-ready", gracePeriodSeconds=0)
    assert seen and set(seen) == {"False"}, seen
