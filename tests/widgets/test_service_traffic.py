"""ServiceTraffic: kube-proxy's connection trace per endpoint, from hand-made records and a real KubeProxy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from labkit import Cluster
from labkit.client import resource_path
from labkit.network import LoopbackNetwork
from labkit.proxy import ConnectionTrace, KubeProxy
from labkit.widgets.service_traffic import ServiceTraffic
from proxy.conftest import _named_backend

from .conftest import wait_for


def connect(trace: ConnectionTrace, service: str, endpoint: str, outcome: str = "proxied", port: int = 40000) -> None:
    trace.connection(service=service, client=f"127.0.0.1:{port}", frontend="127.96.0.9:80", endpoint=endpoint,
                     outcome=outcome, error="connection refused" if outcome == "dial-failed" else "")


def test_counts_per_endpoint_and_the_last_connections() -> None:
    trace = ConnectionTrace()
    for i, (endpoint, outcome) in enumerate([("10.0.0.1:80", "proxied"), ("10.0.0.2:80", "dial-failed"),
                                             ("10.0.0.1:80", "proxied"), ("10.0.0.3:80", "proxied")]):
        connect(trace, "shop/web", endpoint, outcome, port=40000 + i)
    connect(trace, "shop/webshop", "10.0.0.9:80")  # another Service whose name starts the same
    connect(trace, "shop/web:metrics", "10.0.0.1:9100")  # a named port of the same Service
    connect(trace, "shop/web", "", "no-endpoints")
    widget = ServiceTraffic(trace, "web", namespace="shop", last=3)

    assert repr(widget) == "ServiceTraffic(shop/web: 6 connections, 3 endpoints answered)"
    assert widget.text().splitlines() == [
        "ServiceTraffic(shop/web: 6 connections, 3 endpoints answered)",
        "  (no endpoint): no-endpoints=1",
        "  10.0.0.1:80: proxied=2",
        "  10.0.0.1:9100: proxied=1",
        "  10.0.0.2:80: dial-failed=1",
        "  10.0.0.3:80: proxied=1",
        "  last: 10.0.0.3:80 proxied, 10.0.0.1:9100 proxied, - no-endpoints",
    ]
    html = widget.view.value
    assert html.count("<rect") == 5 and "labkit-traffic-bars" in html  # one bar per endpoint
    assert html.count("<tr>") == 1 + 3 and "127.0.0.1:40003" in html and "10.0.0.9" not in html

    metrics = ServiceTraffic(trace, "web", namespace="shop", port="metrics")
    assert repr(metrics) == "ServiceTraffic(shop/web: 1 connections, 1 endpoints answered)"


def test_reset_and_live_updates() -> None:
    trace = ConnectionTrace()
    connect(trace, "default/web", "10.0.0.1:80")
    widget = ServiceTraffic(trace, "web").reset()
    assert repr(widget) == "ServiceTraffic(default/web: 0 connections, 0 endpoints answered)"
    assert "no connections yet" in widget._repr_html_() and "labkit-service-traffic" in widget._repr_html_()

    connect(trace, "default/web", "10.0.0.2:80")  # the refresher thread redraws; nobody calls refresh()
    wait_for(lambda: "10.0.0.2:80" in widget.view.value)
    assert widget.summary() == "ServiceTraffic(default/web: 1 connections, 1 endpoints answered)"
    with pytest.raises(TypeError, match="KubeProxy"):
        widget.send(1)
    widget.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A sim cluster (no kube-proxy of its own) plus the loopback kube-proxy the process runtime would run."""
    with Cluster(nodes=1, seed=0, runtime="sim") as c:
        yield c


@pytest.fixture
def proxy(cluster: Cluster) -> KubeProxy:
    client = cluster.client_for("system:kube-proxy", agent="kube-proxy")
    return cluster.add(KubeProxy(client, network=LoopbackNetwork()))


def test_requests_through_a_real_kube_proxy(cluster: Cluster, proxy: KubeProxy) -> None:
    backends = {"web-a": "127.244.1.21", "web-b": "127.244.2.22"}
    for name, ip in backends.items():
        cluster.run(_named_backend(name, ip, 9376))
    admin = cluster.client_for("widgets-test-admin", ["system:masters"])
    cluster.run(admin.create(resource_path("v1", "services", namespace="default"), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"clusterIP": "127.96.0.70", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 9376}]}}))
    cluster.run(admin.create(resource_path("discovery.k8s.io/v1", "endpointslices", namespace="default"), {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-x1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "", "port": 9376, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "targetRef": {"kind": "Pod", "name": name}}
                      for name, ip in backends.items()]}))
    widget = ServiceTraffic(proxy, "web")
    with pytest.raises(TimeoutError, match="kube-proxy balances web over [0-2] endpoints, not 3, after 0 s"):
        widget.wait_for_endpoints(3, timeout=0.2)
    assert widget.wait_for_endpoints(2) is widget  # kube-proxy has both from its watch
    assert widget.endpoints() == ["127.244.1.21:9376", "127.244.2.22:9376"]
    wait_for(lambda: "error" not in " ".join(widget.send(1)))  # and listens on the ClusterIP
    widget.reset()

    assert widget.send(6) == Counter({"web-a": 3, "web-b": 3})
    lines = widget.text().splitlines()
    assert lines[:3] == [
        "ServiceTraffic(default/web: 6 connections, 2 endpoints answered)",
        "  127.244.1.21:9376 (web-a): proxied=3",
        "  127.244.2.22:9376 (web-b): proxied=3",
    ]
    assert Counter(r.endpoint for r in widget.recent) == {"127.244.1.21:9376": 3, "127.244.2.22:9376": 3}
    assert {r.frontend for r in widget.recent} == {"127.96.0.70:80"}
    assert "web-a" in widget.view.value and "web-b" in widget.view.value
