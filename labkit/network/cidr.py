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

from labkit.apimachinery.meta import Obj

Network = ipaddress.IPv4Network

@dataclasses.dataclass(frozen=True, slots=True)
class AddressPlan:
    """One cluster's ranges: pod IPs (``--cluster-cidr``), ClusterIPs (``--service-cluster-ip-range``)
    and the nodes' InternalIPs."""

    cluster_cidr: Network
    service_cidr: Network
    node_network: Network

    def node_address(self, index: int) -> str:
        return str(self.node_network.network_address + index + 1)


def address_plan(runtime: str, slot: int, *, nodes: int = 0) -> AddressPlan:
    """The ranges of the cluster holding address ``slot`` (:mod:`labkit.network.slots`).

    - process: everything in ``127.0.0.0/8`` (reachable without root): pods ``127.{244+s}.0.0/16``
      (s < 8), ClusterIPs ``127.{96+s}.0.0/16``, nodes ``127.{80+s}.0.x``;
    - docker: pods in the lower half of labkit's bridge ``10.{200+s}.0.0/16``, ClusterIPs
      ``10.{96+s}.0.0/16`` (added to that bridge by kube-proxy), nodes on loopback;
    - sim: nothing listens, so every sim cluster uses kind's defaults, except that more ``nodes``
      than a /16 has /24 blocks for get a pod range that has one per node (``10.128.0.0/15`` and up,
      as large clusters are configured).
    """
    if runtime == "process":
        return AddressPlan(ipaddress.IPv4Network(f"127.{244 + slot}.0.0/16"),
                           ipaddress.IPv4Network(f"127.{96 + slot}.0.0/16"),
                           ipaddress.IPv4Network(f"127.{80 + slot}.0.0/24"))
    if runtime == "docker":
        return AddressPlan(ipaddress.IPv4Network(f"10.{200 + slot}.0.0/17"),
                           ipaddress.IPv4Network(f"10.{96 + slot}.0.0/16"),
                           ipaddress.IPv4Network(f"127.{80 + slot}.0.0/24"))
    pods = "10.244.0.0/16" if nodes <= 256 else f"10.128.0.0/{max(9, 24 - (nodes - 1).bit_length())}"
    return AddressPlan(ipaddress.IPv4Network(pods), ipaddress.IPv4Network("10.96.0.0/12"),
                       ipaddress.IPv4Network("127.0.1.0/24"))


def docker_subnet(slot: int) -> str:
    """The bridge network the docker runtime creates for the cluster in ``slot``."""
    return f"10.{200 + slot}.0.0/16"


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
    return next((r for r in table if address in ipaddress.IPv4Network(r.cidr)), None)
