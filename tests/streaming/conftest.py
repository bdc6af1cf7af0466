"""A one-node cluster whose node-1 'kubelet' is the fake, a pod on it, and an HTTP server the pod 'listens' on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from labkit import Cluster
from streaming.fake_kubelet import FakeKubelet

NODE = "node-1"
POD_PORT = 80


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(nodes=1, seed=11) as c:
        yield c


@pytest.fixture(scope="module")
def fake(cluster: Cluster) -> Iterator[FakeKubelet]:
    kubelet = FakeKubelet()
    assert cluster.apiserver is not None
    cluster.apiserver.kubelets[NODE] = kubelet  # type: ignore[attr-defined]
    # node-1's own kubelet must not run the pods the fake answers for (a "Pending" pod would start at
    # once on the process runtime): its pod workers are held
    cluster._loop_call(cluster.kubelets[NODE].workers.gate.pause)

    async def http_server() -> asyncio.Server:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ")[1]
            body = b"hello from the pod, path " + path + b"\n"
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            writer.close()

        return await asyncio.start_server(answer, "127.0.0.1", 0)

    server = cluster.run(http_server())
    kubelet.ports[POD_PORT] = server.sockets[0].getsockname()[1]
    yield kubelet
    cluster._loop.call_soon_threadsafe(server.close)  # type: ignore[union-attr]


@pytest.fixture
def make_pod(cluster: Cluster, namespace: str):
    """``make_pod("web")``: a pod bound to the fake's node in the test's namespace, Running unless told."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))

    def make(name: str, *, containers: tuple[str, ...] = ("app",), phase: str = "Running",
             annotations: dict[str, str] | None = None) -> None:
        api.create_namespaced_pod(namespace, {
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"nodeName": NODE, "containers": [{"name": c, "image": "busybox"} for c in containers]}})
        if phase != "Pending":
            api.patch_namespaced_pod_status(name, namespace, {"status": {"phase": phase}})
    return make
