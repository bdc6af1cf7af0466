"""The cluster DNS: Service names to ClusterIPs over real UDP, and the notebook's resolver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labkit import Cluster
from labkit.client import Client
from labkit.proxy import ClusterDNS, query
from labkit.proxy.dns import NOERROR, NXDOMAIN, decode_answers, encode_query

from .conftest import create, endpoint_slice, eventually, service


@pytest.fixture(scope="module")
def dns(cluster: Cluster) -> Iterator[ClusterDNS]:
    server = ClusterDNS(cluster.client_for("system:serviceaccount:kube-system:coredns", agent="coredns"),
                        address="127.96.0.10", port=0)
    cluster.run(server.start())
    yield server
    cluster.run(server.stop())


def test_service_name_resolves_to_cluster_ip(cluster: Cluster, admin: Client, dns: ClusterDNS, namespace: str) -> None:
    create(cluster, admin, service("web", namespace, "127.96.1.50"))
    fqdn = f"web.{namespace}.svc.cluster.local"
    eventually(lambda: dns.lookup(fqdn))

    assert cluster.run(query(fqdn, server=dns.address, port=dns.port)) == (NOERROR, ["127.96.1.50"])
    missing = f"nope.{namespace}.svc.cluster.local"
    assert cluster.run(query(missing, server=dns.address, port=dns.port)) == (NXDOMAIN, [])
    assert cluster.run(query("example.com", server=dns.address, port=dns.port)) == (NXDOMAIN, [])
    # a known name asked for AAAA: NOERROR with no answer, so a resolver goes on to its A answer
    reply = dns.answer(encode_query(fqdn, qtype=28))
    assert reply is not None and decode_answers(reply) == (NOERROR, [])
    # the notebook resolves as a pod of that namespace would, through the search path
    assert dns.resolve("web", namespace) == "127.96.1.50"
    assert dns.resolve(f"web.{namespace}") == "127.96.1.50"
    assert dns.resolve(fqdn + ".") == "127.96.1.50"
    with pytest.raises(LookupError, match="NXDOMAIN"):
        dns.resolve("web", "default")


def test_headless_service_answers_ready_endpoints(cluster: Cluster, admin: Client, dns: ClusterDNS,
                                                  namespace: str) -> None:
    create(cluster, admin, service("db", namespace, "None"))
    create(cluster, admin, endpoint_slice("db", namespace, {"127.244.1.21": True, "127.244.1.22": False,
                                                            "127.244.2.23": True}))
    fqdn = f"db.{namespace}.svc.cluster.local"
    eventually(lambda: dns.lookup(fqdn))
    assert cluster.run(query(fqdn, server=dns.address, port=dns.port)) == (NOERROR, ["127.244.1.21", "127.244.2.23"])


def test_headless_service_answers_its_pods_by_hostname(cluster: Cluster, admin: Client, dns: ClusterDNS,
                                                       namespace: str) -> None:
    """A StatefulSet's pods: the endpoint's hostname under its headless Service (web-0.nginx.<ns>.svc)."""
    create(cluster, admin, service("nginx", namespace, "None"))
    eps = endpoint_slice("nginx", namespace, {"127.244.1.31": True, "127.244.1.32": True, "127.244.1.33": False})
    for ep, hostname in zip(eps["endpoints"], ("web-0", "web-1", "web-2"), strict=True):
        ep["hostname"] = hostname
    create(cluster, admin, eps)
    fqdn = f"web-1.nginx.{namespace}.svc.cluster.local"
    eventually(lambda: dns.lookup(fqdn))
    assert cluster.run(query(fqdn, server=dns.address, port=dns.port)) == (NOERROR, ["127.244.1.32"])
    assert dns.resolve("web-0.nginx", namespace) == "127.244.1.31"
    # not ready, unknown, or a Service with a ClusterIP: no such name
    for name in (f"web-2.nginx.{namespace}", f"web-9.nginx.{namespace}"):
        assert cluster.run(query(f"{name}.svc.cluster.local", server=dns.address, port=dns.port)) == (NXDOMAIN, [])
    create(cluster, admin, service("web", namespace, "127.96.1.60"))
    create(cluster, admin, {**endpoint_slice("web", namespace, {"127.244.1.34": True}, suffix="x"),
                            "endpoints": [{"addresses": ["127.244.1.34"], "hostname": "web-0",
                                           "conditions": {"ready": True}}]})
    eventually(lambda: dns.lookup(f"web.{namespace}.svc.cluster.local")
               and any(s["metadata"]["name"] == "web-x" for s in dns.slices.list(namespace)))
    assert dns.lookup(f"web-0.web.{namespace}.svc.cluster.local") is None


def test_garbage_is_dropped(dns: ClusterDNS) -> None:
    assert dns.answer(b"\x00\x01") is None
