"""The docker runtime's path: ClusterIPs on labkit's bridge, reached from containers and from the host."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from labkit import Cluster
from labkit.client import Client
from labkit.proxy import ClusterDNS, KubeProxy

from testkit import need
from .conftest import create, endpoint_slice, eventually, get, service

pytestmark = [pytest.mark.docker, pytest.mark.unprivileged]  # without root, through the network agent
CLUSTER_IP, DNS_IP, NODE_PORT = "10.111.0.50", "10.111.0.10", 30081


def _docker() -> Any:
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception:  # noqa: BLE001 - no daemon, no SDK: the need() rule decides
        return None


@pytest.fixture(scope="module")
def bridge() -> Iterator[tuple[Any, Any]]:
    client = _docker()
    need(client is not None, "a Docker daemon")
    from labkit import images
    from labkit.kubelet.runtime import LABEL_CLUSTER
    from labkit.kubelet.runtime.docker import DockerNetwork

    images.ensure_built(client.api, images.HELLO)
    net = DockerNetwork(f"proxytest-{secrets.token_hex(3)}", api=client.api)
    net.ensure_sync()
    backends = [client.containers.run(images.HELLO.tag, detach=True, network=net.name, environment={"POD_NAME": n},
                                      labels={LABEL_CLUSTER: net.cluster_id}, name=f"{net.name}-{n}")
                for n in "abc"]
    try:
        yield net, backends
    finally:
        for c in backends:
            c.remove(force=True)
        net.remove_sync()


def test_pods_and_host_reach_a_cluster_ip_and_its_name(cluster: Cluster, admin: Client, namespace: str,
                                                       bridge: tuple[Any, Any]) -> None:
    net, backends = bridge
    host_net = net.bridge()
    proxy = KubeProxy(cluster.client_for("system:kube-proxy", agent="kube-proxy"), network=host_net)
    dns = ClusterDNS(cluster.client_for("system:coredns", agent="coredns"), address=DNS_IP, network=host_net)
    cluster.run(proxy.start())
    cluster.run(dns.start())
    try:
        ips = {}
        for c in backends:
            c.reload()
            ips[c.name[-1]] = c.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        create(cluster, admin, service("web", namespace, CLUSTER_IP, kind="NodePort", node_port=NODE_PORT))
        create(cluster, admin, endpoint_slice("web", namespace, {ips[n]: True for n in "abc"}, port=8080))
        eventually(lambda: get(f"http://{CLUSTER_IP}:8080/", timeout=2))

        host_answers = [get(f"http://{CLUSTER_IP}:8080/").split()[2] for _ in range(3)]
        assert sorted(host_answers) == ["a", "b", "c"]

        urls = [f"http://{CLUSTER_IP}:8080/", "http://web:8080/", f"http://web.{namespace}.svc.cluster.local:8080/",
                f"http://{net.gateway}:{NODE_PORT}/"]  # ClusterIP, name via search path, FQDN, NodePort
        script = "; ".join(f"wget -qO- {url}" for url in urls)
        from labkit import images

        out = _docker().containers.run(images.HELLO.tag, ["sh", "-c", script], network=net.name, remove=True,
                                       dns=[DNS_IP], dns_search=[f"{namespace}.svc.cluster.local", "svc.cluster.local",
                                                                 "cluster.local"]).decode()
        pod_answers = [line.split()[2] for line in out.splitlines() if line.startswith("Hello from")]
        assert pod_answers == [*host_answers, *host_answers][:4]  # the rotation goes on where the host left it
        records = [r for r in proxy.trace.records() if r.service == f"{namespace}/web" and r.outcome == "proxied"]
        clients = [r.client.split(":")[0] for r in records[-4:]]
        assert all(ip.startswith(net.subnet.rsplit(".", 2)[0]) for ip in clients), clients
        assert records[-1].frontend == f"{net.gateway}:{NODE_PORT}"
    finally:
        cluster.run(dns.stop())
        cluster.run(proxy.stop())
    assert not host_net.added  # every ClusterIP taken off the bridge again
