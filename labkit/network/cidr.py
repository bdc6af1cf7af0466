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
    """The ranges of the cluster holding address ``slot`` (:mod:`labkit.network.slots`, 0 to 127).

    - process: everything in ``127.0.0.0/8`` (reachable without root), one /16 per slot,
      ``127.{128+s}.0.0/16``: pods in its lower half (``/17``: 128 nodes' /24 podCIDRs), ClusterIPs
      in ``127.{128+s}.128.0/18``, nodes on ``127.{128+s}.192.0/24``;
    - docker: the slot's bridge :func:`docker_subnet` (a /18 in ``10.128.0.0/11``) holds the pods in
      its lower half (a /19: 32 nodes' podCIDRs); ClusterIPs in the /18 at the same place in
      ``10.160.0.0/11`` (added to that bridge by kube-proxy); nodes on the slot's loopback block as on
      process;
    - sim: nothing listens, so every sim cluster uses kind's defaults, except that more ``nodes``
      than a /16 has /24 blocks for get a pod range that has one per node (``10.128.0.0/15`` and up,
      as large clusters are configured).

    128 slots use the upper half of ``127.0.0.0/8`` and ``10.128.0.0/10``, clear of Docker's default
    address pools (``172.17.0.0/16`` to ``172.31.0.0/16``, ``192.168.0.0/16``).
    """
    if runtime not in ("process", "docker"):
        pods = "10.244.0.0/16" if nodes <= 256 else f"10.128.0.0/{max(9, 24 - (nodes - 1).bit_length())}"
        return AddressPlan(ipaddress.IPv4Network(pods), ipaddress.IPv4Network("10.96.0.0/12"),
                           ipaddress.IPv4Network("127.0.1.0/24"))
    block = ipaddress.IPv4Network(f"127.{128 + slot}.0.0/16")
    nodes_network = ipaddress.IPv4Network(f"{block.network_address + 192 * 256}/24")
    if runtime == "process":
        return AddressPlan(next(block.subnets(new_prefix=17)),
                           ipaddress.IPv4Network(f"{block.network_address + 128 * 256}/18"), nodes_network)
    bridge = ipaddress.IPv4Network(docker_subnet(slot))
    return AddressPlan(next(bridge.subnets(prefixlen_diff=1)),
                       ipaddress.IPv4Network(f"{bridge.network_address + (32 << 16)}/18"), nodes_network)


def docker_subnet(slot: int) -> str:
    """The bridge network the docker runtime creates for the cluster in ``slot``: the slot-th /18 of
    ``10.128.0.0/11``."""
    return str(ipaddress.IPv4Network(f"{ipaddress.IPv4Address('10.128.0.0') + (slot << 14)}/18"))


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
