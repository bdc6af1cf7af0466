"""One service port's proxy: sockets on its frontends, an endpoint per connection, bytes copied both ways.

Mirrors ``pkg/proxy/userspace/proxysocket.go`` (``tcpProxySocket``: accept, ``TryConnectEndpoints``
with a dial timeout and the next endpoint on failure, then ``ProxyTCP`` copying in both directions
until each side closes). A ``PortProxy`` listens on every frontend of its port: the ClusterIP and,
for NodePort Services, each node address. Every decision goes to the :class:`ConnectionTrace`.
Left out: UDP, the dial back-off between retries.
"""

from __future__ import annotations

import asyncio
import logging

from labkit.network.hostnet import HostNetwork
from labkit.proxy.endpoints import ServicePortName
from labkit.proxy.roundrobin import NoEndpoints, RoundRobin
from labkit.proxy.trace import ConnectionTrace

log = logging.getLogger(__name__)
Address = tuple[str, int]
CHUNK = 64 * 1024


def _fmt(addr: Address | None) -> str:
    return f"{addr[0]}:{addr[1]}" if addr else ""


class PortProxy:
    def __init__(self, name: ServicePortName, *, network: HostNetwork, trace: ConnectionTrace,
                 dial_timeout: float = 1.0) -> None:
        self.name = name
        self.network = network
        self.trace = trace
        self.dial_timeout = dial_timeout
        self.balancer = RoundRobin()
        self.servers: dict[Address, list[asyncio.Server]] = {}
        self._connections: set[asyncio.Task[None]] = set()

    async def listen(self, frontends: set[Address], *,
                     outside: frozenset[Address] | set[Address] = frozenset()) -> dict[Address, OSError]:
        """Listen on exactly ``frontends`` (those in ``outside`` are NodePorts, for clients outside the
        cluster too); returns the ones that could not be bound and why."""
        for addr in set(self.servers) - frontends:
            for server in self.servers.pop(addr):
                server.close()
        failed: dict[Address, OSError] = {}
        for addr in frontends - set(self.servers):
            try:
                socks = self.network.listen(addr[0], addr[1], outside=addr in outside)
            except OSError as e:
                failed[addr] = e
                continue
            self.servers[addr] = [await asyncio.start_server(self._accept, sock=sock) for sock in socks]
        return failed

    async def close(self) -> None:
        await self.listen(set())
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._proxy(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client, frontend = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
        record = {"service": str(self.name), "client": _fmt(client), "frontend": _fmt(frontend)}
        for _ in range(max(len(self.balancer.endpoints), 1)):
            try:
                endpoint = self.balancer.next(client[0])
            except NoEndpoints:
                self.trace.connection(**record, endpoint="", outcome="no-endpoints")
                return
            host, port = endpoint.rsplit(":", 1)
            if not self.network.may_connect(host):
                self.trace.connection(**record, endpoint=endpoint, outcome="refused",
                                      error=f"{host} is not an address labkit may send traffic to")
                continue
            try:
                up_reader, up_writer = await asyncio.wait_for(self.network.open_connection(host, int(port)),
                                                              self.dial_timeout)
            except (TimeoutError, OSError) as e:
                self.balancer.forget(client[0])
                self.trace.connection(**record, endpoint=endpoint, outcome="dial-failed", error=str(e) or "timeout")
                continue
            self.trace.connection(**record, endpoint=endpoint, outcome="proxied")
            try:
                await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
            finally:
                up_writer.close()
            return


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close the other side (as ``io.Copy`` then ``CloseWrite``)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()
