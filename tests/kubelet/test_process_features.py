"""Probes, environment, volumes, deletion and adoption on the process runtime."""

from __future__ import annotations

import asyncio
import base64
import signal
from collections.abc import Callable
from pathlib import Path

from kubernetes import client

from labkit.client import APIStatusError, resource_path
from labkit.kubelet import KubeletConfig
from labkit.kubelet.runtime.process import ProcessRuntime

from .conftest import pod, start_kubelet, wait_for
from .test_process_lifecycle import _logs


def test_liveness_failure_restarts_container(api, process_node):
    probe = {"exec": {"command": ["cat", "/tmp/labkit-never-there"]}, "periodSeconds": 1, "failureThreshold": 1}
    api.create("pods", pod("live", "pn1", [{"name": "c", "image": "busybox", "command": ["sleep", "60"],
                                            "livenessProbe": probe}]))
    p = wait_for(lambda: (x := api.get("pods", "live")) and
                 (x["status"].get("containerStatuses") or [{}])[0].get("restartCount") == 1 and x, timeout=15)
    assert p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 143
    events = wait_for(lambda: (e := api.events("live")) and {"Unhealthy", "Killing"} <= {r for r, _ in e} and e)
    assert any(r == "Killing" and "failed liveness probe, will be restarted" in m for r, m in events)
    assert any(r == "Unhealthy" and m.startswith("Liveness probe failed:") for r, m in events)


def test_env_from_configmap_secret_downward_and_services(api, process_node, control_plane):
    api.create("configmaps", {"metadata": {"name": "cfg"}, "data": {"COLOR": "blue", "size": "L"}})
    api.create("secrets", {"metadata": {"name": "sec"}, "data": {"token": base64.b64encode(b"s3cret").decode()}})
    api.create("services", {"metadata": {"name": "my-db"}, "spec": {"ports": [{"name": "sql", "port": 5432}]}})
    env = [{"name": "SIZE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "size"}}},
           {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
           {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
           {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "GREETING", "value": "hi $(ME)"}]
    api.create("pods", pod("envy", "pn1", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "env; sleep 30"],
                                            "env": env, "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}]}]))
    p = wait_for(lambda: (x := api.get("pods", "envy")) and x["status"]["phase"] == "Running" and x)
    out = wait_for(lambda: "GREETING" in (o := _logs(control_plane, process_node, "envy")) and o)
    lines = set(out.splitlines())
    assert {"SIZE=L", "TOKEN=s3cret", "ME=envy", "NODE=pn1", "GREETING=hi envy", "CM_COLOR=blue",
            f"MY_IP={p['status']['podIP']}", f"POD_IP={p['status']['podIP']}"} <= lines
    svc = api.get("services", "my-db")
    ip = svc["spec"]["clusterIP"]
    assert {f"MY_DB_SERVICE_HOST={ip}", "MY_DB_SERVICE_PORT=5432", "MY_DB_SERVICE_PORT_SQL=5432",
            f"MY_DB_PORT=tcp://{ip}:5432", f"MY_DB_PORT_5432_TCP_ADDR={ip}"} <= lines


def test_missing_configmap_is_create_container_config_error(api, process_node):
    api.create("pods", pod("nocfg", "pn1", [{"name": "c", "image": "busybox", "command": ["sleep", "30"],
                                             "envFrom": [{"configMapRef": {"name": "absent"}}]}]))
    w = wait_for(lambda: (x := api.get("pods", "nocfg")) and
                 (x["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting"))
    assert w == {"reason": "CreateContainerConfigError", "message": 'configmap "absent" not found'}


def test_configmap_volume_content(api, process_node, control_plane):
    api.create("configmaps", {"metadata": {"name": "game"}, "data": {"lives": "3", "ui.properties": "color=red"}})
    api.create("pods", pod("vol", "pn1", [{"name": "c", "image": "busybox",
                                           "command": ["sh", "-c", "cat /etc/game/lives /etc/game/ui.properties; sleep 30"],
                                           "volumeMounts": [{"name": "g", "mountPath": "/etc/game"}]}],
                           volumes=[{"name": "g", "configMap": {"name": "game"}}]))
    assert wait_for(lambda: _logs(control_plane, process_node, "vol")) == "3color=red"


def test_graceful_deletion_removes_pod(api, process_node):
    api.create("pods", pod("bye", "pn1", [{"name": "c", "image": "busybox", "command": ["sleep", "60"]}],
                           terminationGracePeriodSeconds=5))
    wait_for(lambda: (x := api.get("pods", "bye")) and x["status"]["phase"] == "Running")
    deleted = api.delete("pods", "bye")
    assert deleted["metadata"].get("deletionTimestamp")  # graceful: the kubelet finishes the deletion
    wait_for(lambda: api.get("pods", "bye") is None)
    assert ("Killing", "Stopping container c") in api.events("bye")


def test_restarted_kubelet_adopts_containers(api, control_plane, tmp_path):
    runtime = ProcessRuntime(root_dir=tmp_path, node="pn2")
    k = start_kubelet(control_plane, "pn2", runtime)
    try:
        api.create("pods", pod("keep", "pn2", [{"name": "c", "image": "busybox", "command": ["sleep", "60"]}]))
        first = wait_for(lambda: (x := api.get("pods", "keep")) and x["status"]["phase"] == "Running" and x)
        before = control_plane.run(runtime.list_containers())
        control_plane.run(k.stop())
        control_plane.components.remove(k)
        start_kubelet(control_plane, "pn2", runtime)
        p = wait_for(lambda: (x := api.get("pods", "keep")) and x["status"]["phase"] == "Running" and x)
        after = control_plane.run(runtime.list_containers())
        assert [c.id for c in after] == [c.id for c in before] and after[0].state == "running"
        assert p["status"]["podIP"] == first["status"]["podIP"]
        assert p["status"]["containerStatuses"][0]["restartCount"] == 0
    finally:
        control_plane.run(runtime.cleanup())


def test_node_registered_and_lease_renewed(api, process_node, control_plane):
    node = control_plane.run(api.client.get("/api/v1/nodes/pn1"))
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "pn1"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "labkit://process"
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/pn1"
    first = control_plane.run(api.client.get(path))
    assert first["spec"]["holderIdentity"] == "pn1" and first["spec"]["leaseDurationSeconds"] == KubeletConfig().lease_duration
    wait_for(lambda: control_plane.run(api.client.get(path))["spec"]["renewTime"] != first["spec"]["renewTime"])


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.joinpath("stat").read_text().split(") ")[-1].split()[1] == str(pid):
                    children.append(int(entry.name))
            except OSError:
                continue
    return children


def test_exec_tty_is_a_controlling_terminal(tmp_path):
    """``kubectl exec -it POD -- sh``: the shell has job control, ^C stops the foreground command, and the
    shell's exit code comes back. (A process started as a background job of a non-interactive shell
    ignores SIGINT, and so would everything it runs: here the test's own process catches it, as a
    Jupyter kernel does.)"""
    from labkit.kubelet.runtime.process import BUSYBOX, ProcessExecSession

    async def session() -> tuple[int, bytes]:
        s = await ProcessExecSession.start([BUSYBOX, "sh"], env={"PATH": "/bin"}, cwd=str(tmp_path), tty=True,
                                           stdin=True, groups=set())
        out = b""

        async def read() -> None:
            nonlocal out
            async for _, chunk in s.output():
                out += chunk
        reader = asyncio.get_running_loop().create_task(read())

        async def until(what: str, done: Callable[[], bool]) -> None:
            for _ in range(200):  # 10 s: a loaded machine starts a process late, but starts it
                if done():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"no {what}; the terminal showed {out!r}")

        def sleeping() -> bool:  # the shell's foreground child runs
            return any(_cmdline(pid).startswith(b"sleep") for pid in _children_of(s.proc.pid))
        await s.write_stdin(b"sleep 100\n")
        await until("sleep started", sleeping)
        await s.write_stdin(b"\x03")
        await until("sleep stopped by ^C", lambda: not sleeping())
        await s.write_stdin(b"echo job-$((20+22))\n")
        await until("echo's output", lambda: b"job-42" in out)
        await s.write_stdin(b"exit 3\n")
        code = await asyncio.wait_for(s.wait(), timeout=5)  # a hung shell (^C lost) fails here
        await asyncio.wait_for(reader, timeout=5)
        return code, out

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, out = asyncio.run(session())
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 3
    assert b"job-42" in out
    assert b"can't access tty" not in out


def test_container_events_name_their_container(api, process_node, control_plane):
    """``involvedObject.fieldPath`` says which container an event is about (kubectl's SUBOBJECT column)."""
    api.create("pods", pod("subobject", "pn1", [{"name": "main", "image": "busybox", "command": ["sleep", "30"]}],
                           initContainers=[{"name": "setup", "image": "busybox", "command": ["true"]}]))

    def paths():
        events = control_plane.run(api.client.get(resource_path("v1", "events", namespace="default")))["items"]
        return {(e["reason"], e["involvedObject"].get("fieldPath", "")) for e in events
                if e["involvedObject"]["name"] == "subobject"}
    wait_for(lambda: {("Started", "spec.initContainers{setup}"), ("Started", "spec.containers{main}")} <= paths(),
             what=lambda: f"container events, got {paths()}")


def test_port_forward_to_a_closed_port_says_so_as_a_kubelet_does(api, process_node, control_plane):
    from labkit.kubelet.runtime import CRIError

    _, runtime = process_node
    api.create("pods", pod("closed", "pn1", [{"name": "c", "image": "busybox", "command": ["sleep", "30"]}]))
    wait_for(lambda: (api.get("pods", "closed") or {}).get("status", {}).get("phase") == "Running", what="running")
    sandbox = next(s for s in control_plane.run(runtime.list_pod_sandboxes()) if s.name == "closed")
    try:
        control_plane.run(runtime.port_forward(sandbox.id, 1))
    except CRIError as e:
        assert e.reason == "PortForwardError"
        assert e.message.endswith(f"dial tcp4 {sandbox.ip}:1: connect: connection refused"), e.message
    else:
        raise AssertionError("port 1 answered")


def test_a_pod_reads_its_service_accounts_bound_token(api, process_node, control_plane, tmp_path):
    """The ServiceAccount plugin's kube-api-access volume: the kubelet's TokenRequest, bound to the pod,
    authenticates as the pod's account; the namespace and the cluster's CA sit beside it."""
    base = "/var/run/secrets/kubernetes.io/serviceaccount"
    api.create("pods", pod("sa", "pn1", [{"name": "c", "image": "busybox", "command": [
        "sh", "-c", f"cat {base}/namespace; echo; cat {base}/token; echo; cat {base}/ca.crt; sleep 30"]}]))
    namespace, token, ca = wait_for(lambda: "END CERTIFICATE" in (out := _logs(control_plane, process_node, "sa"))
                                    and out.split("\n", 2))
    assert namespace == "default"
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(ca)
    config = client.Configuration(host=control_plane.apiserver.url)  # what load_incluster_config reads
    config.ssl_ca_cert, config.api_key = str(ca_file), {"authorization": f"Bearer {token}"}
    with client.ApiClient(config) as as_pod:  # kubectl auth whoami, as the pod's program would ask
        review = client.AuthenticationV1Api(as_pod).create_self_subject_review({})
    assert review.status.user_info.username == "system:serviceaccount:default:default"


def test_a_token_for_a_missing_pod_fails_the_mount(api, process_node, control_plane):
    """A bound token needs its pod: the kubelet's TokenRequest for a pod the API does not have answers
    404, and the mount fails as kube's volume manager reports it."""
    admin = control_plane.admin()
    path = resource_path("v1", "serviceaccounts", namespace="default", name="default", subresource="token")
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "gone", "uid": "x"}}}
    try:
        control_plane.run(admin.create(path, body))
        raise AssertionError("a token bound to a missing pod was issued")
    except APIStatusError as e:
        assert (e.code, e.status["message"]) == (404, 'pods "gone" not found')
    body["spec"] = {"expirationSeconds": 60}
    try:
        control_plane.run(admin.create(path, body))
        raise AssertionError("a one-minute token was issued")
    except APIStatusError as e:
        assert (e.code, e.status["message"]) == (422, 'TokenRequest.authentication.k8s.io "default" is invalid: '
                                                      'spec.expirationSeconds: Invalid value: 60: may not specify a '
                                                      'duration less than 10 minutes')


def test_the_python_image_runs_this_machines_interpreter(api, process_node, control_plane):
    api.create("pods", pod("py", "pn1", [{"name": "c", "image": "python:3.12-slim", "command": [
        "python", "-c", "import json, sys; print(json.dumps({'major': sys.version_info[0]}))"]}],
        restartPolicy="Never"))
    assert wait_for(lambda: _logs(control_plane, process_node, "py")) == '{"major": 3}\n'
    assert any(reason == "ImageStandIn" and "labkit stand-in for python: this machine's Python" in message
               for reason, message in api.events("py"))
