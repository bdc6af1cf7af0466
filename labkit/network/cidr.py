"""The address plan: cluster and Service CIDRs per runtime, and the routes podCIDRs imply.

Handing out podCIDRs is the node IPAM controller's job (:mod:`labkit.controllers.nodeipam`) and pod
IPs the kubelet's ``host-local`` IPAM (:mod:`labkit.kubelet.ipam`); this module is the plan they
share and the routing table a CNI plugin would program from it (``flannel``'s host-gw backend: one
route per node, ``podCIDR via node InternalIP``). The process runtime lives entirely in
``127.0.0.0/8``, so every address it hands out is reachable without root. Left out: dual-stack.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]
Network = ipaddress.IPv4Network

#: where pod IPs come from (``--cluster-cidr``); docker's is the /16 of the bridge labkit creates
CLUSTER_CIDRS: dict[str, Network] = {"process": ipaddress.ip_network("127.244.0.0/16"),
                                     "docker": ipaddress.ip_network("10.200.0.0/16"),
                                     "sim": ipaddress.ip_network("10.244.0.0/16")}
#: where ClusterIPs come from (``--service-cluster-ip-range``); loopback for the process runtime
SERVICE_CIDRS: dict[str, Network] = {"process": ipaddress.ip_network("127.96.0.0/16"),
                                     "docker": ipaddress.ip_network("10.96.0.0/12"),
                                     "sim": ipaddress.ip_network("10.96.0.0/12")}


def cluster_dns_ip(service_cidr: Network) -> str:
    """The cluster DNS Service's address: the 10th of the range (kubeadm's ``10.96.0.10``)."""
    return str(service_cidr.network_address + 10)


def internal_ip(node: Obj) -> str:
    addresses = node.get("status", {}).get("addresses", [])
    return next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")


def pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    cidr: str
    node: str
    via: str


def routes(nodes: Iterable[Obj]) -> list[Route]:
    """One route per podCIDR: to reach a pod in it, send to that node's InternalIP."""
    return [Route(cidr, node["metadata"]["name"], internal_ip(node)) for node in nodes for cidr in pod_cidrs(node)]


def route_for(ip: str, table: Iterable[Route]) -> Route | None:
    """The route a packet to ``ip`` takes (None: not a pod address)."""
    address = ipaddress.ip_address(ip)
    return next((r for r in table if address in ipaddress.ip_network(r.cidr)), None)
