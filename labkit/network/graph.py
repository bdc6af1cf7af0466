"""The cluster network as a graph, for widgets: nodes, their podCIDR routes, pods, Services.

Vertices are keyed ``node/NAME``, ``cidr/CIDR``, ``pod/NS/NAME``, ``service/NS/NAME``; each has a
``kind`` and an ``ip`` (or ``cidr``) attribute. Edges carry a ``kind``:

- ``route``: node → its podCIDR, ``via`` the node's InternalIP (what a CNI programs on every node);
- ``contains``: podCIDR → pod whose IP lies in it;
- ``runs-on``: pod → node;
- ``endpoint``: Service → pod from its EndpointSlices, with ``port`` and ``ready``.

Read from the API only (as ``kubectl get`` would). Left out: NetworkPolicies, host-network pods,
Ingress.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from labkit.apimachinery.meta import Obj
from labkit.client import Client, resource_path
from labkit.network.cidr import internal_ip, route_for, routes

if TYPE_CHECKING:
    import networkx as nx


def graph(*, nodes: Iterable[Obj] = (), pods: Iterable[Obj] = (), services: Iterable[Obj] = (),
          endpoint_slices: Iterable[Obj] = ()) -> nx.MultiDiGraph:
    """Build the graph from API objects (plain JSON dicts)."""
    import networkx as nx  # some 12 MB: imported by the first graph, not by every cluster (labkit.network imports us)
    g = nx.MultiDiGraph()
    nodes = list(nodes)
    for node in nodes:
        name = node["metadata"]["name"]
        g.add_node(f"node/{name}", kind="node", name=name, ip=internal_ip(node))
    table = routes(nodes)
    for route in table:
        g.add_node(f"cidr/{route.cidr}", kind="cidr", cidr=route.cidr)
        g.add_edge(f"node/{route.node}", f"cidr/{route.cidr}", kind="route", via=route.via)
    pod_by_ip: dict[str, str] = {}
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status", {})
        key = f"pod/{meta.get('namespace', '')}/{meta['name']}"
        ip = status.get("podIP", "")
        g.add_node(key, kind="pod", name=meta["name"], namespace=meta.get("namespace", ""), ip=ip,
                   phase=status.get("phase", ""))
        if node := pod.get("spec", {}).get("nodeName"):
            g.add_edge(key, f"node/{node}", kind="runs-on")
        if ip:
            pod_by_ip[ip] = key
            if found := route_for(ip, table):
                g.add_edge(f"cidr/{found.cidr}", key, kind="contains")
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec", {})
        g.add_node(f"service/{meta.get('namespace', '')}/{meta['name']}", kind="service", name=meta["name"],
                   namespace=meta.get("namespace", ""), ip=spec.get("clusterIP", ""),
                   type=spec.get("type", "ClusterIP"),
                   ports=[(p.get("name", ""), p.get("port"), p.get("nodePort")) for p in spec.get("ports") or []])
    for eps in endpoint_slices:
        meta = eps["metadata"]
        svc_key = f"service/{meta.get('namespace', '')}/{meta.get('labels', {}).get('kubernetes.io/service-name', '')}"
        if svc_key not in g:
            continue
        ports = [p.get("port") for p in eps.get("ports") or []]
        for ep in eps.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            target = (f"pod/{ref.get('namespace', meta.get('namespace', ''))}/{ref['name']}" if ref.get("kind") == "Pod"
                      else next((pod_by_ip[a] for a in ep.get("addresses", []) if a in pod_by_ip), None))
            if target is None:
                target = f"ip/{ep['addresses'][0]}"
                g.add_node(target, kind="ip", ip=ep["addresses"][0])
            g.add_edge(svc_key, target, kind="endpoint", ports=ports,
                       ready=(ep.get("conditions") or {}).get("ready") is not False)
    return g


async def snapshot(client: Client) -> nx.MultiDiGraph:
    """List nodes, pods, Services and EndpointSlices with ``client`` and build :func:`graph`."""
    lists = [await client.get(resource_path(v, plural)) for v, plural in
             (("v1", "nodes"), ("v1", "pods"), ("v1", "services"), ("discovery.k8s.io/v1", "endpointslices"))]
    nodes, pods, services, slices = (items["items"] for items in lists)
    return graph(nodes=nodes, pods=pods, services=services, endpoint_slices=slices)
