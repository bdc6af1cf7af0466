"""How Service addresses become reachable, per runtime, and where kube-proxy's sockets are made.

kube-proxy's iptables/ipvs modes make a ClusterIP exist by rewriting packets in the kernel (root).
labkit uses the original *userspace* mode instead: kube-proxy really listens on ``ClusterIP:port``.
For that the ClusterIP must be a local address where the cluster's pods live:

- ``process`` runtime (:class:`LoopbackNetwork`): the Service CIDR is in ``127.0.0.0/8``
  (:func:`labkit.network.cidr.address_plan`); all of it is local on Linux, so kube-proxy binds
  ClusterIPs with no set-up, and pods (host processes on their own loopback addresses) reach them
  the same way. As root that loopback is this
  machine's; without root it is the cluster's own network namespace (:mod:`labkit.network.netns`),
  where port 80 may be bound: kube-proxy's sockets for cluster addresses are made there, and NodePorts
  listen there and, for whoever is outside the cluster, on this machine's loopback too.
- ``docker`` runtime (:class:`BridgeNetwork`): containers cannot reach the host's loopback. Each
  ClusterIP is added as a ``/32`` to the host side of labkit's bridge. A pod's packet to a ClusterIP
  takes its default route to the bridge gateway, which is this host, and the kernel delivers it to
  kube-proxy's socket; the notebook reaches the same address directly. As root kube-proxy does it
  itself (``ip addr add``); without root the cluster's network agent (:mod:`labkit.network.agent`)
  adds the address and binds ports below 1024 for it. With neither this raises
  :class:`NetworkSetupError` saying so; NodePorts still work then, on ``127.0.0.1`` for the notebook
  and on the bridge gateway for pods.

Rejected for docker: a per-node proxy container (needs an image with the proxy and routes into every
pod anyway) and DNAT inside each pod's namespace (NET_ADMIN plus iptables in every image).
:meth:`HostNetwork.may_connect` keeps the proxy's traffic on addresses labkit owns: loopback, and
for docker the bridge's subnet.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Protocol

from labkit.apimachinery.meta import Obj
from labkit.network.agent import AgentClient, AgentError
from labkit.network.cidr import AddressPlan, internal_ip
from labkit.network.netns import HOST, HostNamespace

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
log = logging.getLogger(__name__)


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

    def listen(self, host: str, port: int, kind: int = socket.SOCK_STREAM, *,
               outside: bool = False) -> list[socket.socket]:
        """Bound sockets for a frontend ``host:port`` (``outside``: a NodePort, reachable from outside
        the cluster too); raises OSError when none can be bound."""

    async def open_connection(self, host: str, port: int) -> Streams:
        """A connection to ``host:port`` from where the cluster's pods are."""

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """The same, blocking, for the notebook's thread."""


class LoopbackNetwork:
    """The process runtime: everything lives in ``127.0.0.0/8``, of this machine or of the cluster's
    namespace ``netns`` for the addresses of ``plan``; NodePorts on each node's InternalIP."""

    name = "loopback"

    def __init__(self, *, netns: HostNamespace = HOST, plan: AddressPlan | None = None) -> None:
        self.netns = netns
        self._ranges = (plan.cluster_cidr, plan.service_cidr, plan.node_network) if plan else ()
        self._service_cidr = str(plan.service_cidr) if plan else "127.0.0.0/8"

    async def add_service_ip(self, ip: str) -> None:
        if ipaddress.ip_address(ip) not in LOOPBACK:
            raise NetworkSetupError(f"ClusterIP {ip} is not a loopback address: the process runtime needs the "
                                    f"API server to allocate ClusterIPs from {self._service_cidr}")

    async def remove_service_ip(self, ip: str) -> None:
        """Nothing to undo: loopback addresses need no set-up."""

    def node_port_addresses(self, nodes: Iterable[Obj]) -> list[str]:
        return sorted({ip for ip in map(internal_ip, nodes) if ip})

    def may_connect(self, ip: str) -> bool:
        return ipaddress.ip_address(ip) in LOOPBACK

    def _where(self, ip: str) -> HostNamespace:
        """The cluster's namespace for the cluster's addresses; this machine for the rest (the API server)."""
        address = ipaddress.ip_address(ip)
        return self.netns if any(address in r for r in self._ranges) else HOST

    def listen(self, host: str, port: int, kind: int = socket.SOCK_STREAM, *,
               outside: bool = False) -> list[socket.socket]:
        made = [self._where(host).listen(host, port, kind)]
        if outside and self._where(host) is not HOST and HOST.can_bind(port):
            try:
                made.append(HOST.listen(host, port, kind))
            except OSError as e:  # the cluster's own frontend serves; only a program outside it misses this
                log.info("NodePort %s:%d is served in the cluster only: %s", host, port, e)
        return made

    async def open_connection(self, host: str, port: int) -> Streams:
        return await self._where(host).open_connection(host, port)

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._where(host).connect(host, port, timeout)


class BridgeNetwork:
    """The docker runtime: ClusterIPs as ``/32`` addresses on the host side of labkit's bridge, added by
    this process as root, else by the cluster's network ``agent``."""

    name = "bridge"

    def __init__(self, *, interface: str, gateway: str, subnet: str, agent: AgentClient | None = None) -> None:
        self.interface = interface
        self.gateway = gateway
        self.subnet = ipaddress.ip_network(subnet)
        self.agent = agent
        self.added: set[str] = set()

    async def _address(self, action: str, ip: str) -> str:
        """``add`` or ``del`` ``ip/32`` on the bridge; the error, or "" when it is done (or was already)."""
        if self.agent is not None:
            try:
                await asyncio.to_thread(self.agent.add_address if action == "add" else self.agent.remove_address, ip)
            except AgentError as e:
                return str(e)
            return ""
        proc = await asyncio.create_subprocess_exec("ip", "addr", action, f"{ip}/32", "dev", self.interface,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, out = await proc.communicate()
        err = out.decode().strip()
        return err if proc.returncode and "File exists" not in err and "already assigned" not in err else ""

    async def add_service_ip(self, ip: str) -> None:
        if ip in self.added:
            return
        if err := await self._address("add", ip):
            hint = " (adding an address to a bridge needs root or CAP_NET_ADMIN)" if "not permitted" in err else ""
            raise NetworkSetupError(f"cannot add ClusterIP {ip} to bridge {self.interface}: {err}{hint}; pods cannot "
                                    f"reach this Service by ClusterIP, use a NodePort ({self.gateway}:<nodePort>)")
        self.added.add(ip)

    async def remove_service_ip(self, ip: str) -> None:
        if ip in self.added:
            self.added.discard(ip)
            await self._address("del", ip)

    def node_port_addresses(self, nodes: Iterable[Obj]) -> list[str]:
        return ["127.0.0.1", self.gateway]

    def may_connect(self, ip: str) -> bool:
        address = ipaddress.ip_address(ip)
        return address in LOOPBACK or address in self.subnet

    def listen(self, host: str, port: int, kind: int = socket.SOCK_STREAM, *,
               outside: bool = False) -> list[socket.socket]:
        if self.agent is None or HOST.can_bind(port):
            return [HOST.listen(host, port, kind)]
        return [self.agent.listen(host, port, kind)]

    async def open_connection(self, host: str, port: int) -> Streams:
        return await HOST.open_connection(host, port)

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        return HOST.connect(host, port, timeout)
