"""kube-proxy (userspace mode) on the process runtime's loopback network, with a real cluster."""

from __future__ import annotations

import urllib.error

import pytest

from labkit import Cluster
from labkit.client import Client, resource_path
from labkit.proxy import KubeProxy
from .conftest import create, endpoint_slice, eventually, get, service


def wait_endpoints(proxy: KubeProxy, cluster: Cluster, ns: str, name: str, count: int) -> None:
    async def ready() -> bool:  # read on the cluster's loop, where the proxy changes them
        return any((n.namespace, n.name) == (ns, name) and len(p.balancer.endpoints) == count and bool(p.servers)
                   for n, p in proxy.proxies.items())
    eventually(lambda: cluster.run(ready()))


def test_cluster_ip_round_robin_over_three_backends(cluster: Cluster, admin: Client, proxy: KubeProxy,
                                                    backends: dict[str, str], namespace: str) -> None:
    create(cluster, admin, service("web", namespace, "127.96.0.50"))
    create(cluster, admin, endpoint_slice("web", namespace, {backends[n]: True for n in "abc"}))
    wait_endpoints(proxy, cluster, namespace, "web", 3)
    since = proxy.trace.records()[-1].seq if len(proxy.trace) else 0

    answers = [get("http://127.96.0.50:8080/") for _ in range(6)]

    assert answers == ["a", "b", "c", "a", "b", "c"]
    records = [r for r in proxy.trace.records(since=since) if r.service == f"{namespace}/web"]
    assert [r.endpoint for r in records] == [f"{backends[n]}:9376" for n in "abcabc"]
    assert {r.outcome for r in records} == {"proxied"}
    assert {r.frontend for r in records} == {"127.96.0.50:8080"}
    assert proxy.url("web", namespace) == "http://127.96.0.50:8080"


def test_not_ready_endpoint_is_skipped(cluster: Cluster, admin: Client, proxy: KubeProxy,
                                       backends: dict[str, str], namespace: str) -> None:
    create(cluster, admin, service("web", namespace, "127.96.0.51"))
    create(cluster, admin, endpoint_slice("web", namespace, {backends["a"]: True, backends["b"]: False,
                                                             backends["c"]: True}))
    wait_endpoints(proxy, cluster, namespace, "web", 2)
    assert {get("http://127.96.0.51:8080/") for _ in range(6)} == {"a", "c"}


def test_proxy_follows_endpoint_changes(cluster: Cluster, admin: Client, proxy: KubeProxy,
                                        backends: dict[str, str], namespace: str) -> None:
    create(cluster, admin, service("web", namespace, "127.96.0.52"))
    eps = create(cluster, admin, endpoint_slice("web", namespace, {backends["a"]: True, backends["b"]: True}))
    wait_endpoints(proxy, cluster, namespace, "web", 2)
    assert {get("http://127.96.0.52:8080/") for _ in range(4)} == {"a", "b"}

    eps["endpoints"] = endpoint_slice("web", namespace, {backends["c"]: True, backends["d"]: True,
                                                         backends["b"]: True})["endpoints"]
    path = resource_path("discovery.k8s.io/v1", "endpointslices", namespace=namespace, name=eps["metadata"]["name"])
    cluster.run(admin.update(path, eps))
    wait_endpoints(proxy, cluster, namespace, "web", 3)
    assert {get("http://127.96.0.52:8080/") for _ in range(6)} == {"b", "c", "d"}

    cluster.run(admin.delete(path))
    wait_endpoints(proxy, cluster, namespace, "web", 0)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        get("http://127.96.0.52:8080/")
    assert proxy.trace.records()[-1].outcome == "no-endpoints"


def test_node_port_on_every_node_address(cluster: Cluster, admin: Client, proxy: KubeProxy,
                                         backends: dict[str, str], namespace: str) -> None:
    create(cluster, admin, service("np", namespace, "127.96.0.53", kind="NodePort", node_port=30080))
    create(cluster, admin, endpoint_slice("np", namespace, {backends["a"]: True, backends["b"]: True}))
    wait_endpoints(proxy, cluster, namespace, "np", 2)
    # the shared cluster has node-1 at 127.0.1.1 and node-2 at 127.0.1.2; one rotation over all frontends
    answers = [get(url) for url in ("http://127.0.1.1:30080/", "http://127.0.1.2:30080/", "http://127.96.0.53:8080/")]
    assert answers == ["a", "b", "a"]
    frontends = [r.frontend for r in proxy.trace.records() if r.service == f"{namespace}/np"]
    assert frontends == ["127.0.1.1:30080", "127.0.1.2:30080", "127.96.0.53:8080"]


def test_dial_failure_tries_the_next_endpoint(cluster: Cluster, admin: Client, proxy: KubeProxy,
                                              backends: dict[str, str], namespace: str) -> None:
    create(cluster, admin, service("web", namespace, "127.96.0.54"))
    create(cluster, admin, endpoint_slice("web", namespace, {"127.244.3.99": True, backends["c"]: True}))
    wait_endpoints(proxy, cluster, namespace, "web", 2)
    assert [get("http://127.96.0.54:8080/") for _ in range(2)] == ["c", "c"]
    outcomes = [(r.endpoint, r.outcome) for r in proxy.trace.records() if r.service == f"{namespace}/web"]
    assert ("127.244.3.99:9376", "dial-failed") in outcomes
    assert outcomes.count((f"{backends['c']}:9376", "proxied")) == 2


def test_unreachable_cluster_ip_is_reported(cluster: Cluster, admin: Client, proxy: KubeProxy,
                                            namespace: str) -> None:
    create(cluster, admin, service("far", namespace, "10.96.77.7"))
    message = eventually(lambda: proxy.problems.get(f"{namespace}/far"))
    assert "10.96.77.7 is not a loopback address" in message
    assert "ClusterIPs from 127." in message


def test_endpoints_outside_labkit_are_refused(cluster: Cluster, admin: Client, proxy: KubeProxy,
                                              namespace: str) -> None:
    create(cluster, admin, service("ext", namespace, "127.96.0.55"))
    create(cluster, admin, endpoint_slice("ext", namespace, {"192.0.2.1": True}))
    wait_endpoints(proxy, cluster, namespace, "ext", 1)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        get("http://127.96.0.55:8080/")
    record = [r for r in proxy.trace.records() if r.service == f"{namespace}/ext"][-1]
    assert (record.endpoint, record.outcome) == ("192.0.2.1:9376", "refused")


def test_deleting_the_service_closes_its_listeners(cluster: Cluster, admin: Client, proxy: KubeProxy,
                                                   backends: dict[str, str], namespace: str) -> None:
    create(cluster, admin, service("gone", namespace, "127.96.0.56"))
    create(cluster, admin, endpoint_slice("gone", namespace, {backends["a"]: True}))
    wait_endpoints(proxy, cluster, namespace, "gone", 1)
    assert get("http://127.96.0.56:8080/") == "a"
    cluster.run(admin.delete(resource_path("v1", "services", namespace=namespace, name="gone")))
    async def gone() -> bool:
        return not any(p.name == "gone" and p.namespace == namespace for p in proxy.proxies)
    eventually(lambda: cluster.run(gone()))
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        get("http://127.96.0.56:8080/", timeout=2)
