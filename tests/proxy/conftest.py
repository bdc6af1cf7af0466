"""Fixtures: a kube-proxy on the shared cluster, an admin client, and named HTTP backends."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labkit import Cluster
from labkit.client import Client, resource_path
from labkit.network import LoopbackNetwork
from labkit.proxy import KubeProxy

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def admin(cluster: Cluster) -> Client:
    return cluster.client_for("proxy-test-admin", ["system:masters"])


@pytest.fixture(scope="module")
def proxy(cluster: Cluster) -> Iterator[KubeProxy]:
    kp = KubeProxy(cluster.client_for("system:kube-proxy", agent="kube-proxy"), network=LoopbackNetwork())
    cluster.run(kp.start())
    yield kp
    cluster.run(kp.stop())


async def _named_backend(name: str, host: str, port: int) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = name.encode()
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()
    return await asyncio.start_server(answer, host, port)


@pytest.fixture(scope="module")
def backends(cluster: Cluster) -> Iterator[dict[str, str]]:
    """name -> IP of HTTP servers on port 9376 answering with their name; "d" is a spare."""
    ips = {"a": "127.244.1.11", "b": "127.244.1.12", "c": "127.244.2.13", "d": "127.244.2.14"}
    servers = [cluster.run(_named_backend(n, ip, 9376)) for n, ip in ips.items()]
    yield ips
    for s in servers:
        cluster._loop.call_soon_threadsafe(s.close)  # type: ignore[union-attr]


def get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def eventually(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(0.05)


def service(name: str, ns: str, ip: str, *, port: int = 8080, kind: str = "ClusterIP", node_port: int = 0) -> Obj:
    p: Obj = {"port": port, "targetPort": 9376, "protocol": "TCP"}
    if node_port:
        p["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": kind, "clusterIP": ip, "selector": {"app": name}, "ports": [p]}}


def endpoint_slice(service_name: str, ns: str, endpoints: dict[str, bool], *, suffix: str = "abc",
                   port: int = 9376) -> Obj:
    """An EndpointSlice for ``service_name`` with IP -> ready."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service_name}-{suffix}", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "ports": [{"name": "", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                          for ip, ready in endpoints.items()]}


def create(cluster: Cluster, client: Client, obj: Obj) -> Obj:
    plural = "services" if obj["kind"] == "Service" else "endpointslices"
    path = resource_path(obj["apiVersion"], plural, namespace=obj["metadata"]["namespace"])
    return cluster.run(client.create(path, obj))
