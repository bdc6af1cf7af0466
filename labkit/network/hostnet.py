"""How Service addresses become reachable on this machine, per runtime.

kube-proxy's iptables/ipvs modes make a ClusterIP exist by rewriting packets in the kernel (root).
labkit uses the original *userspace* mode instead: kube-proxy really listens on ``ClusterIP:port``.
For that the ClusterIP must be a local address of this host:

- ``process`` runtime (:class:`LoopbackNetwork`): the Service CIDR is ``127.96.0.0/16``; all of
  ``127.0.0.0/8`` is local on Linux, so kube-proxy binds ClusterIPs with no set-up and no root, and
  pods (host processes on their own ``127.244.x.y``) reach them the same way.
- ``docker`` runtime (:class:`BridgeNetwork`): containers cannot reach the host's loopback. Each
  ClusterIP is added as a ``/32`` to the host side of labkit's bridge (``ip addr add``, needs root,
  as CI has). A pod's packet to a ClusterIP takes its default route to the bridge gateway, which is
  this host, and the kernel delivers it to kube-proxy's socket; the notebook reaches the same
  address directly. Without root this raises :class:`NetworkSetupError` saying so; NodePorts still
  work then, on ``127.0.0.1`` for the notebook and on the bridge gateway for pods.

Rejected for docker: a per-node proxy container (needs an image with the proxy and routes into every
pod anyway) and DNAT inside each pod's namespace (NET_ADMIN plus iptables in every image).
:meth:`HostNetwork.may_connect` keeps the proxy's traffic on addresses labkit owns: loopback, and
for docker the bridge's subnet.
"""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess
from collections.abc import Iterable
from typing import Any, Protocol

from labkit.network.cidr import internal_ip

Obj = dict[str, Any]
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class NetworkSetupError(RuntimeError):
    """A Service address cannot be made reachable; the message says what is missing."""


class HostNetwork(Protocol):
    name: str

    async def add_service_ip(self, ip: str) -> None:
        """Make ``ip`` a local address kube-proxy can bind (raise :class:`NetworkSetupError` if it cannot)."""

    async def remove_service_ip(self, ip: str) -> None: ...

    def node_port_addresses(self, nodes: Iterable[Obj]) -> list[str]:
        """Where NodePorts listen (``--nodeport-addresses``)."""

    def may_connect(self, ip: str) -> bool:
        """Whether kube-proxy may open a connection to endpoint ``ip``."""


class LoopbackNetwork:
    """The process runtime: everything lives in ``127.0.0.0/8``; NodePorts on each node's InternalIP."""

    name = "loopback"

    async def add_service_ip(self, ip: str) -> None:
        if ipaddress.ip_address(ip) not in LOOPBACK:
            raise NetworkSetupError(f"ClusterIP {ip} is not a loopback address: the process runtime needs the "
                                    "API server to allocate ClusterIPs from 127.96.0.0/16")

    async def remove_service_ip(self, ip: str) -> None:
        """Nothing to undo: loopback addresses need no set-up."""

    def node_port_addresses(self, nodes: Iterable[Obj]) -> list[str]:
        return sorted({ip for ip in map(internal_ip, nodes) if ip})

    def may_connect(self, ip: str) -> bool:
        return ipaddress.ip_address(ip) in LOOPBACK


class BridgeNetwork:
    """The docker runtime: ClusterIPs as ``/32`` addresses on the host side of labkit's bridge."""

    name = "bridge"

    def __init__(self, *, interface: str, gateway: str, subnet: str) -> None:
        self.interface = interface
        self.gateway = gateway
        self.subnet = ipaddress.ip_network(subnet)
        self.added: set[str] = set()

    @classmethod
    def for_gateway(cls, gateway: str, subnet: str) -> BridgeNetwork:
        """Find the bridge interface that holds ``gateway`` (Docker names it ``br-<network id>``)."""
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            fields = line.split()
            if "inet" in fields and fields[fields.index("inet") + 1].split("/")[0] == gateway:
                return cls(interface=fields[1], gateway=gateway, subnet=subnet)
        raise NetworkSetupError(f"no interface on this host holds the bridge gateway {gateway}")

    async def _ip(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec("ip", *args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        return proc.returncode or 0, err.decode().strip()

    async def add_service_ip(self, ip: str) -> None:
        if ip in self.added:
            return
        code, err = await self._ip("addr", "add", f"{ip}/32", "dev", self.interface)
        if code and "File exists" not in err and "already assigned" not in err:
            hint = " (adding an address to a bridge needs root or CAP_NET_ADMIN)" if "not permitted" in err else ""
            raise NetworkSetupError(f"cannot add ClusterIP {ip} to bridge {self.interface}: {err}{hint}; pods cannot "
                                    f"reach this Service by ClusterIP, use a NodePort ({self.gateway}:<nodePort>)")
        self.added.add(ip)

    async def remove_service_ip(self, ip: str) -> None:
        if ip in self.added:
            self.added.discard(ip)
            await self._ip("addr", "del", f"{ip}/32", "dev", self.interface)

    def node_port_addresses(self, nodes: Iterable[Obj]) -> list[str]:
        return ["127.0.0.1", self.gateway]

    def may_connect(self, ip: str) -> bool:
        address = ipaddress.ip_address(ip)
        return address in LOOPBACK or address in self.subnet
