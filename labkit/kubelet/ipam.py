"""Pod IP addresses from the node's ``spec.podCIDR``: what the ``host-local`` CNI IPAM plugin does.

In Kubernetes the kubelet asks the CNI plugin to set up the sandbox's network, and ``host-local``
hands out the next free address of the node's range, keeping the gateway (``.1``) for the bridge.
labkit's kubelet does the same in-process. The node IPAM controller sets ``spec.podCIDR``; until
it does, the kubelet waits, then falls back to a node-local range (see ``Kubelet``). Left out:
dual-stack, ranges that change while pods run, state on disk (a restarted kubelet re-learns the
used addresses from its runtime's sandboxes).
"""

from __future__ import annotations

import hashlib
import ipaddress


class HostLocalIPAM:
    """Next free address of one range; ``.1`` (the gateway) and the network/broadcast are never used."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.gateway = self.network.network_address + 1
        self._used: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self._last = self.gateway

    def reserve(self, ip: str) -> None:
        """Mark an address in use (a sandbox adopted after a restart)."""
        addr = ipaddress.ip_address(ip)
        if addr in self.network:
            self._used.add(addr)

    def allocate(self) -> str:
        """The next free address after the last one handed out (round robin, like ``host-local``)."""
        hosts = self.network.num_addresses - 2
        for i in range(1, hosts + 1):
            offset = (int(self._last) - int(self.network.network_address) + i - 1) % hosts + 1
            addr = self.network.network_address + offset
            if addr != self.gateway and addr not in self._used:
                self._used.add(addr)
                self._last = addr
                return str(addr)
        raise RuntimeError(f"no IP addresses available in range set: {self.network}")

    def release(self, ip: str) -> None:
        self._used.discard(ipaddress.ip_address(ip))


def fallback_cidr(cluster_cidr: str, node: str, *, prefix: int = 24) -> str:
    """A node-local /24 inside the cluster CIDR picked from the node's name (when no podCIDR came).
    Uses the upper half of the cluster range, so it rarely meets what the IPAM controller hands out."""
    net = ipaddress.ip_network(cluster_cidr, strict=False)
    subnets = 2 ** max(prefix - net.prefixlen, 0)
    index = subnets // 2 + int(hashlib.sha256(node.encode()).hexdigest(), 16) % max(subnets // 2, 1)
    return str(ipaddress.ip_network((int(net.network_address) + index * 2 ** (net.max_prefixlen - prefix), prefix)))
