"""labkit.network: the address plan, routes and the graph widgets draw."""

from __future__ import annotations


from labkit import Cluster
from labkit.network import address_plan, cluster_dns_ip, graph, route_for, routes, snapshot

NODES = [{"metadata": {"name": f"node-{i}"}, "spec": {"podCIDR": f"127.244.{i}.0/24"},
          "status": {"addresses": [{"type": "InternalIP", "address": f"127.0.1.{i}"}]}} for i in (1, 2)]


def test_routes_follow_pod_cidrs() -> None:
    table = routes(NODES)
    assert [(r.cidr, r.node, r.via) for r in table] == [("127.244.1.0/24", "node-1", "127.0.1.1"),
                                                        ("127.244.2.0/24", "node-2", "127.0.1.2")]
    assert route_for("127.244.2.9", table).node == "node-2"  # type: ignore[union-attr]
    assert route_for("127.96.0.1", table) is None
    assert cluster_dns_ip(address_plan("process", 0).service_cidr) == "127.96.0.10"
    assert cluster_dns_ip(address_plan("docker", 3).service_cidr) == "10.99.0.10"
    plans = [address_plan(runtime, slot) for runtime in ("process", "docker") for slot in range(8)]
    ranges = [n for p in plans for n in (p.cluster_cidr, p.service_cidr)]
    assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1:]), "slots must never collide"
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
