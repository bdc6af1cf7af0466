"""On both real runtimes (docker and process), whole cluster: probes restart containers, logs/exec/
port-forward through kubectl 1.27/1.31/1.33 and the Python client, Services balanced over ready pods
from the notebook and from inside a pod, and pod-to-pod traffic across nodes. What a learner does,
whoever they are: CI runs these as root and as its ordinary accounts (docker group, no Docker)."""

from __future__ import annotations

import collections
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from kubernetes import watch
from kubernetes.stream import portforward, stream

from testkit import Kubectl, kubectl_path, need
from labkit.proxy import query
from labkit.proxy.loadgen import load_pod
from labkit.widgets.service_traffic import send_requests

from .conftest import Env, wait_for

pytestmark = pytest.mark.unprivileged
HELLO = "labkit/hello:1"


def logs_when_done(env: Env, ns: str, name: str, timeout: float = 30) -> str:
    """The output of a run-to-completion pod."""
    wait_for(lambda: env.core.read_namespaced_pod(name, ns).status.phase in ("Succeeded", "Failed"), timeout=timeout,
             what=lambda: env.describe(ns, name))
    return env.core.read_namespaced_pod_log(name, ns)


def test_failing_liveness_probe_restarts_the_container(env: Env) -> None:
    ns = env.namespace()
    env.pod(ns, "sick", "busybox", c_command=["sleep", "3600"],
            c_livenessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1})

    def restarted() -> bool:
        statuses = env.core.read_namespaced_pod("sick", ns).status.container_statuses or []
        return bool(statuses) and statuses[0].restart_count >= 1
    wait_for(restarted, timeout=30, what=lambda: env.describe(ns, "sick"))
    events = env.events(ns, "sick")
    assert any(kind == "Warning" and reason == "Unhealthy" and msg.startswith("Liveness probe failed")
               for kind, reason, msg in events), events
    assert ("Normal", "Killing", "Container main failed liveness probe, will be restarted") in events


@pytest.fixture(scope="package")
def streaming_pods(env: Env) -> tuple[Env, str]:
    ns = env.namespace()
    env.pod(ns, "hello", HELLO, c_ports=[{"containerPort": 8080}])
    env.pod(ns, "talker", "busybox",
            c_command=["sh", "-c", "echo first line; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"])
    env.running(ns, "hello")
    env.running(ns, "talker")
    return env, ns


@pytest.mark.kubectl
@pytest.mark.parametrize("version", ["1.27", "1.31", "1.33"])
def test_kubectl_logs_exec_port_forward(streaming_pods: tuple[Env, str], version: str, tmp_path: Path) -> None:
    env, ns = streaming_pods
    kubectl = Kubectl(kubectl_path(version), Path(env.cluster.kubeconfig), tmp_path / "cache")

    wait_for(lambda: "tick 2" in kubectl("logs", "-n", ns, "talker"))
    assert kubectl("logs", "-n", ns, "talker").startswith("first line\n")
    assert kubectl("logs", "-n", ns, "talker", "--tail=1").startswith("tick ")
    # kubectl may exit 0 before copying what the server sent on stdout (kubernetes/kubernetes#124571,
    # a race in its own stream copy): asked three times, its first non-empty answer must be exact
    answers = [kubectl("exec", "-n", ns, "hello", "--", "echo", "hi there") for _ in range(3)]
    assert next((a for a in answers if a), "") == "hi there\n", answers
    assert kubectl("exec", "-i", "-n", ns, "hello", "--", "cat", input="from stdin\n") == "from stdin\n"
    assert kubectl.run("exec", "-n", ns, "hello", "--", "sh", "-c", "exit 3", check=False).returncode == 3

    forward = subprocess.Popen([str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", "port-forward", "-n", ns,
                                "pod/hello", ":8080"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = forward.stdout.readline()  # Forwarding from 127.0.0.1:PORT -> 8080
        local = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert local, line + forward.stderr.read() if forward.poll() is not None else line
        for _ in range(2):  # two connections through one forward
            body = urllib.request.urlopen(f"http://127.0.0.1:{local[1]}/", timeout=10).read().decode()
            assert "hello" in body
    finally:
        forward.terminate()
        forward.wait(10)


def test_python_client_exec_port_forward_and_followed_log(streaming_pods: tuple[Env, str]) -> None:
    env, ns = streaming_pods
    api = env.core
    assert stream(api.connect_get_namespaced_pod_exec, "hello", ns, command=["echo", "from python"],
                  stderr=True, stdin=False, stdout=True, tty=False) == "from python\n"
    ws = stream(api.connect_get_namespaced_pod_exec, "hello", ns, command=["sh", "-c", "echo oops >&2; exit 3"],
                stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    ws.run_forever(timeout=10)
    assert (ws.read_stderr(), ws.returncode) == ("oops\n", 3)

    pf = portforward(api.connect_get_namespaced_pod_portforward, "hello", ns, ports="8080")
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.") and b"hello" in reply

    resp = api.read_namespaced_pod_log("talker", ns, follow=True, _preload_content=False)
    seen = b""
    for chunk in resp.stream(64):
        seen += chunk
        if seen.count(b"tick") >= 3:
            break
    resp.release_conn()
    assert seen.startswith(b"first line\n")


def test_a_container_with_a_readiness_probe_starts_unready(env: Env) -> None:
    """The first status that shows the container running already says it is not ready: a Service must not
    send it traffic before its readiness probe has succeeded once (this one never does)."""
    ns = env.namespace()
    since = env.core.list_namespaced_pod(ns).metadata.resource_version
    env.pod(ns, "never-ready", HELLO, c_readinessProbe={"exec": {"command": ["false"]}})
    w = watch.Watch()
    for event in w.stream(env.core.list_namespaced_pod, ns, resource_version=since, timeout_seconds=60):
        statuses = event["object"].status.container_statuses or []
        if statuses and statuses[0].state.running:
            w.stop()
            assert not statuses[0].ready, statuses[0]
            assert not any(c.type == "Ready" and c.status == "True" for c in event["object"].status.conditions)
            return
    raise AssertionError(f"the container never ran: {env.describe(ns, 'never-ready')}")


@pytest.fixture(scope="package")
def web(env: Env) -> tuple[Env, str]:
    """Deployment ``web`` (3 x labkit/hello) behind Service ``web``, plus an unready pod the Service selects."""
    ns = env.namespace()
    env.core.create_namespaced_service(ns, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    env.apps.create_namespaced_deployment(ns, {"metadata": {"name": "web"}, "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "deployment"}},
        "template": {"metadata": {"labels": {"app": "web", "tier": "deployment"}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "hello", "image": HELLO, "ports": [{"containerPort": 8080}]}]}}}})
    env.pod(ns, "unready", HELLO, labels={"app": "web"},
            c_readinessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1})

    def endpoints() -> bool:
        slices = env.cluster.run(env.cluster.admin().get(
            f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io/service-name=web"))
        eps = [e for s in slices["items"] for e in s.get("endpoints") or []]
        return len(eps) == 4 and sum(bool(e["conditions"].get("ready")) for e in eps) == 3
    wait_for(endpoints, timeout=40, what=lambda: str([(p.metadata.name, p.status.phase) for p in env.pods(ns, "app=web")]))
    return env, ns


def deployment_pods(env: Env, ns: str) -> set[str]:
    return {p.metadata.name for p in env.pods(ns, "tier=deployment")}


def answers(text: str) -> collections.Counter[str]:
    """Which pods answered: labkit/hello says its pod's name."""
    return collections.Counter(re.findall(r"(web-[a-z0-9]+-[a-z0-9]+|unready)", text))


def test_service_from_the_notebook_by_cluster_ip_and_by_name(web: tuple[Env, str]) -> None:
    env, ns = web
    svc = env.core.read_namespaced_service("web", ns)
    url = f"http://{svc.spec.cluster_ip}:80/"
    assert env.cluster.proxy.url("web", ns) == url.rstrip("/")
    # from the notebook's process, through the cluster's network (its own namespace, without root)
    seen = answers("".join(send_requests(url, 9, timeout=5, connect=env.cluster.proxy.network.connect).elements()))
    assert set(seen) == deployment_pods(env, ns), seen  # every ready pod answers, the unready one never
    assert max(seen.values()) - min(seen.values()) <= 1  # round robin
    if env.runtime == "docker":  # the cluster DNS answers the Service's name with its ClusterIP
        rcode, addresses = env.cluster.run(query(f"web.{ns}.svc.cluster.local", server=env.cluster.dns.address))
        assert (rcode, addresses) == (0, [svc.spec.cluster_ip])
        assert env.cluster.dns.resolve("web", ns) == svc.spec.cluster_ip


def test_service_from_inside_a_pod(web: tuple[Env, str]) -> None:
    env, ns = web
    # docker: the pod resolves "web" through the cluster DNS and its search path; process: the
    # kubelet's service environment variables (no DNS for host processes)
    target = "http://web" if env.runtime == "docker" else "http://$WEB_SERVICE_HOST:$WEB_SERVICE_PORT"
    env.pod(ns, "client", "busybox", restartPolicy="Never",
            c_command=["sh", "-c", f"for i in 1 2 3 4 5 6; do wget -qO- {target}/; done"])
    seen = answers(logs_when_done(env, ns, "client"))
    assert set(seen) == deployment_pods(env, ns) and sum(seen.values()) == 6, seen


def test_pod_to_pod_across_nodes(env: Env) -> None:
    ns = env.namespace()
    env.pod(ns, "server", HELLO, nodeSelector={"kubernetes.io/hostname": "node-2"})
    server = env.running(ns, "server")
    env.pod(ns, "caller", "busybox", restartPolicy="Never", nodeSelector={"kubernetes.io/hostname": "node-1"},
            c_command=["wget", "-qO-", f"http://{server.status.pod_ip}:8080/"])
    out = logs_when_done(env, ns, "caller")
    assert env.core.read_namespaced_pod("caller", ns).spec.node_name == "node-1"
    assert "server" in out and server.status.pod_ip in out


def test_load_generator_names_the_pod_that_answered_each_request(web: tuple[Env, str]) -> None:
    """``cluster.generate_load``: 12 requests, 3 at a time, round robin over the 3 ready pods; the pod
    kube-proxy chose for each is the one whose answer says its name."""
    env, ns = web
    report = env.cluster.generate_load("web", namespace=ns, requests=12, duration=30, concurrency=3, timeout=5)
    assert report.errors == 0, report
    assert set(report.by_pod()) == deployment_pods(env, ns) and sorted(report.by_pod().values()) == [4, 4, 4], report
    assert all(r.pod and r.pod in r.answer.body for r in report.results), report.results
    assert 0 < report.p50 <= report.p99
    assert report.summary().startswith(f"12 requests to {ns}/web in ")
    with pytest.raises(ValueError, match="needs both a request count and a time limit"):
        env.cluster.generate_load("web", namespace=ns, requests=10, duration=None)  # type: ignore[arg-type]


def test_client_ip_session_affinity_keeps_a_client_on_one_pod(web: tuple[Env, str]) -> None:
    """``sessionAffinity: ClientIP``: every request from the notebook reaches the same pod; set back to
    None, they go round robin again."""
    env, ns = web
    env.core.create_namespaced_service(ns, {"metadata": {"name": "sticky"}, "spec": {
        "selector": {"tier": "deployment"}, "ports": [{"port": 80, "targetPort": 8080}],
        "sessionAffinity": "ClientIP"}})
    config = env.core.read_namespaced_service("sticky", ns).spec.session_affinity_config
    assert config.client_ip.timeout_seconds == 10800  # defaulted, as kube does

    def load() -> collections.Counter[str] | None:
        try:
            report = env.cluster.generate_load("sticky", namespace=ns, requests=6, duration=30, timeout=5)
        except KeyError:  # kube-proxy has not seen the Service yet
            return None
        return report.by_pod() if not report.errors else None

    sticky = wait_for(load, timeout=20, what="the sticky Service to answer")
    assert len(sticky) == 1 and sum(sticky.values()) == 6, sticky
    env.core.patch_namespaced_service("sticky", ns, {"spec": {"sessionAffinity": "None"}})
    spread = wait_for(lambda: (seen := load()) and len(seen) == 3 and seen, timeout=20, what="round robin again")
    assert set(spread) == deployment_pods(env, ns)


def test_a_load_generator_pod(web: tuple[Env, str]) -> None:
    """``load_pod``: the same bounded run from inside the cluster; its log has one answer per request
    and kube-proxy took its 6 connections (from the pod's IP on docker; a process pod connects from
    the host's 127.0.0.1)."""
    env, ns = web
    trace = env.cluster.proxy.trace
    since = trace.records()[-1].seq if len(trace) else 0
    env.core.create_namespaced_pod(ns, load_pod("loader", "web", requests=6, duration=30))
    seen = answers(logs_when_done(env, ns, "loader"))
    assert set(seen) == deployment_pods(env, ns) and sum(seen.values()) == 6, seen
    taken = [r for r in trace.records(since=since) if r.service == f"{ns}/web"]
    assert len(taken) == 6 and {r.outcome for r in taken} == {"proxied"}, taken
    if env.runtime == "docker":
        ip = env.core.read_namespaced_pod("loader", ns).status.pod_ip
        assert {r.client.rsplit(":", 1)[0] for r in taken} == {ip}
