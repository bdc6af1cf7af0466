"""labkit.network: the address plan, routes and the graph widgets draw."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from labkit import Cluster
from labkit.network import address_plan, cluster_dns_ip, docker_subnet, graph, route_for, routes, slots, snapshot

NODES = [{"metadata": {"name": f"node-{i}"}, "spec": {"podCIDR": f"127.244.{i}.0/24"},
          "status": {"addresses": [{"type": "InternalIP", "address": f"127.0.1.{i}"}]}} for i in (1, 2)]


def test_routes_follow_pod_cidrs() -> None:
    table = routes(NODES)
    assert [(r.cidr, r.node, r.via) for r in table] == [("127.244.1.0/24", "node-1", "127.0.1.1"),
                                                        ("127.244.2.0/24", "node-2", "127.0.1.2")]
    assert route_for("127.244.2.9", table).node == "node-2"  # type: ignore[union-attr]
    assert route_for("127.96.0.1", table) is None
    assert cluster_dns_ip(address_plan("process", 0).service_cidr) == "127.128.128.10"
    assert cluster_dns_ip(address_plan("docker", 3).service_cidr) == "10.160.192.10"


def test_every_slot_has_its_own_addresses() -> None:
    """128 clusters side by side (issue 18: a room of 30 needs at least 64): no range of one slot's
    plan, on either runtime, overlaps another slot's, nor a docker bridge the loopback, nor Docker's
    default address pools; a docker bridge holds its pods' range."""
    assert slots.SLOTS >= 64
    plans = {(runtime, slot): address_plan(runtime, slot) for runtime in ("process", "docker")
             for slot in range(slots.SLOTS)}
    bridges = [ipaddress.IPv4Network(docker_subnet(slot)) for slot in range(slots.SLOTS)]
    by_slot: dict[int, list[ipaddress.IPv4Network]] = {}
    for (_runtime, slot), plan in plans.items():
        by_slot.setdefault(slot, []).extend((plan.cluster_cidr, plan.service_cidr, plan.node_network))
        assert plan.cluster_cidr.num_addresses // 256 >= 32, "room for 32 nodes' /24 podCIDRs"
        assert plan.node_network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8"))
    for slot, bridge in enumerate(bridges):
        assert plans["docker", slot].cluster_cidr.subnet_of(bridge)
        by_slot[slot].append(bridge)
    docker_pools = [ipaddress.IPv4Network(n) for n in ("172.16.0.0/12", "192.168.0.0/16")]
    spans = [(int(n.network_address), int(n.broadcast_address), slot, n) for slot, nets in by_slot.items()
             for n in set(nets)]
    for i, (start, end, slot, net) in enumerate(spans):
        for other_start, other_end, other_slot, other in spans[i + 1:]:
            assert slot == other_slot or end < other_start or other_end < start, \
                f"slot {slot}'s {net} overlaps slot {other_slot}'s {other}"
        assert not any(net.overlaps(pool) for pool in docker_pools)
    for nodes in (3, 257, 5000):  # a large sim cluster gets a /24 for every node, outside the Service range
        plan = address_plan("sim", 0, nodes=nodes)
        assert plan.cluster_cidr.num_addresses // 256 >= nodes and not plan.cluster_cidr.overlaps(plan.service_cidr)


def test_graph_of_nodes_pods_services() -> None:
    pods = [{"metadata": {"name": "web-1", "namespace": "default"}, "spec": {"nodeName": "node-2"},
             "status": {"podIP": "127.244.2.5", "phase": "Running"}}]
    services = [{"metadata": {"name": "web", "namespace": "default"},
                 "spec": {"clusterIP": "127.96.0.7", "ports": [{"name": "", "port": 80}]}}]
    slices = [{"metadata": {"name": "web-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
               "ports": [{"port": 8080}],
               "endpoints": [{"addresses": ["127.244.2.5"], "conditions": {"ready": True},
                              "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}},
                             {"addresses": ["127.244.1.9"], "conditions": {"ready": False}}]}]
    g = graph(nodes=NODES, pods=pods, services=services, endpoint_slices=slices)
    edges = {(u, v, d["kind"]) for u, v, d in g.edges(data=True)}
    assert ("node/node-2", "cidr/127.244.2.0/24", "route") in edges
    assert ("cidr/127.244.2.0/24", "pod/default/web-1", "contains") in edges
    assert ("pod/default/web-1", "node/node-2", "runs-on") in edges
    assert ("service/default/web", "pod/default/web-1", "endpoint") in edges
    assert g.nodes["service/default/web"]["ip"] == "127.96.0.7"
    ready = {v: d["ready"] for _, v, d in g.out_edges("service/default/web", data=True)}
    assert ready == {"pod/default/web-1": True, "ip/127.244.1.9": False}


def test_snapshot_reads_the_api(cluster: Cluster) -> None:
    client = cluster.client_for("network-graph-reader", ["system:masters"])
    g = cluster.run(snapshot(client))
    assert {n for n, d in g.nodes(data=True) if d["kind"] == "node"} == {"node/node-1", "node/node-2"}
    assert g.nodes["node/node-1"]["ip"] == "127.0.1.1"
    assert g.nodes["service/default/kubernetes"]["kind"] == "service"


def test_a_store_from_another_address_plan_is_refused_in_words(tmp_path: Path) -> None:
    """A persistent cluster saved by a labkit whose slots had other ranges (before issue 18, slot 0's
    Services were 127.96.0.0/16) does not start on addresses its objects do not match."""
    from labkit import store as kv

    db = tmp_path / "old.db"
    old = kv.open_store(f"sqlite:{db}")
    config = {"metadata": {"name": "labkit-config", "namespace": "kube-system"},
              "data": {"runtime": "process", "clusterCIDR": "127.244.0.0/16", "serviceCIDR": "127.96.0.0/16",
                       "slot": "0"}}  # slot 0 need not be free: the plan is checked first
    old.put("/registry/configmaps/kube-system/labkit-config", json.dumps(config).encode())
    old.close()
    cluster = Cluster(runtime="process", store=f"sqlite:{db}", nodes=1)
    with pytest.raises(ValueError, match=r"another address plan \(Services in 127.96.0.0/16, now 127.128.128.0/18 "
                                         r"for slot 0\): start a new cluster"):
        cluster.start()
    cluster.stop()
