"""The official Python client's streaming calls: WebSocket exec/attach (v5), the WebSocket port-forward
channel protocol, and a followed log read as a stream."""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward, stream

from labkit import Cluster
from streaming.fake_kubelet import FakeKubelet


@pytest.fixture
def api(cluster: Cluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))


def test_exec_output_and_returncode(api: client.CoreV1Api, fake: FakeKubelet, namespace: str, make_pod) -> None:
    make_pod("web")
    out = stream(api.connect_get_namespaced_pod_exec, "web", namespace, command=["echo", "hi"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "hi\n"
    ws = stream(api.connect_get_namespaced_pod_exec, "web", namespace, command=["sh", "-c", "echo x >&2; exit 4"],
                stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    ws.run_forever(timeout=10)
    assert ws.read_stderr() == "x\n"
    assert ws.returncode == 4  # from the NonZeroExitCode Status on channel 3


def test_exec_stdin_and_close(api: client.CoreV1Api, fake: FakeKubelet, namespace: str, make_pod) -> None:
    make_pod("web")
    ws = stream(api.connect_get_namespaced_pod_exec, "web", namespace, command=["tr", "a-z", "A-Z"],
                stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    ws.write_stdin("shout\n")
    ws.close_channel(0)  # v5: end of stdin, so tr finishes
    ws.run_forever(timeout=10)
    assert ws.read_stdout() == "SHOUT\n"
    assert ws.returncode == 0


def test_attach(api: client.CoreV1Api, fake: FakeKubelet, namespace: str, make_pod) -> None:
    make_pod("web")
    ws = stream(api.connect_get_namespaced_pod_attach, "web", namespace, stdin=True, stdout=True, stderr=True,
                tty=False, _preload_content=False)
    ws.write_stdin("hello\n")
    ws.run_forever(timeout=10)
    assert ws.read_stdout() == "attached: hello\n"


def test_port_forward(api: client.CoreV1Api, fake: FakeKubelet, namespace: str, make_pod) -> None:
    make_pod("web")
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web", namespace, ports="80")
    sock = pf.socket(80)
    sock.setblocking(True)
    sock.sendall(b"GET /py HTTP/1.0\r\n\r\n")
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.0 200 OK") and reply.endswith(b"hello from the pod, path /py\n")
    assert pf.error(80) is None


def test_port_forward_to_a_closed_port_reports_the_error(api: client.CoreV1Api, fake: FakeKubelet, namespace: str,
                                                        make_pod) -> None:
    make_pod("web")
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web", namespace, ports="81")
    sock = pf.socket(81)
    sock.setblocking(True)
    assert sock.recv(10) == b""
    assert "error forwarding port 81" in (pf.error(81) or "")


def test_follow_log_as_a_stream(cluster: Cluster, api: client.CoreV1Api, fake: FakeKubelet, namespace: str,
                                make_pod) -> None:
    make_pod("web")
    key = (namespace, "web", "app")
    fake.add_log(key, "one")

    async def queue():
        return fake.follow_queue(key)

    q = cluster.run(queue())
    resp = api.read_namespaced_pod_log("web", namespace, follow=True, _preload_content=False)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(resp.stream(4)), daemon=True)
    reader.start()
    cluster.run(q.put(b"two\n"))
    cluster.run(q.put(None))
    reader.join(10)
    assert b"".join(got) == b"one\ntwo\n"


def test_container_selection(api: client.CoreV1Api, fake: FakeKubelet, namespace: str, make_pod) -> None:
    make_pod("two", containers=("a", "b"))
    make_pod("picked", containers=("a", "b"), annotations={"kubectl.kubernetes.io/default-container": "b"})
    fake.add_log((namespace, "two", "b"), "from b")
    fake.add_log((namespace, "picked", "b"), "default b")
    with pytest.raises(ApiException) as e:
        api.read_namespaced_pod_log("two", namespace)
    assert e.value.status == 400
    assert json.loads(e.value.body)["message"] == "a container name must be specified for pod two, choose one of: [a b]"
    assert api.read_namespaced_pod_log("two", namespace, container="b") == "from b\n"
    assert api.read_namespaced_pod_log("picked", namespace) == "default b\n"
    with pytest.raises(ApiException) as e:
        api.read_namespaced_pod_log("two", namespace, container="c")
    assert json.loads(e.value.body)["message"] == "container c is not valid for pod two"
    with pytest.raises(ApiException) as e:
        api.read_namespaced_pod_log("two", namespace, container="a", tail_lines=-1)
    assert e.value.status == 422


def test_exec_into_a_completed_pod_is_refused(api: client.CoreV1Api, fake: FakeKubelet, namespace: str,
                                              make_pod) -> None:
    make_pod("done", phase="Succeeded")
    with pytest.raises(ApiException) as e:
        stream(api.connect_get_namespaced_pod_exec, "done", namespace, command=["true"], stdout=True)
    # the Python client reports a refused WebSocket handshake in ``reason``
    assert "Handshake status 400" in e.value.reason
    assert "cannot exec into a container in a completed pod; current phase is Succeeded" in e.value.reason
