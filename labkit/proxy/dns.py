"""Cluster DNS: ``<service>.<namespace>.svc.cluster.local`` answers with the Service's ClusterIP.

Plays CoreDNS's ``kubernetes`` plugin (and the DNS spec in ``kubernetes/dns``'s
``docs/specification.md``): an A query for a Service name gets its ClusterIP, for a headless
Service the addresses of its ready endpoints, and ``<hostname>.<service>.<namespace>.svc.cluster.local``
the address of the endpoint with that ``hostname`` (a StatefulSet's pod, ``web-0.nginx.default.svc...``);
a known name asked for another type gets an empty NOERROR answer (so resolvers asking AAAA go on),
anything else NXDOMAIN. A hand-written responder
over asyncio UDP: the wire format (RFC 1035 section 4) is small enough to read in one sitting.
:meth:`ClusterDNS.resolve` gives the notebook the same answers, with a pod's search path. Left out:
pod records (``<dashed-ip>.<namespace>.pod``) and the dashed-IP names of headless endpoints without a
hostname, SRV and PTR records, TCP, upstream forwarding, EDNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import struct
from typing import Any

from labkit.client import Client
from labkit.component import Component
from labkit.informer import Informer
from labkit.network.hostnet import HostNetwork
from labkit.proxy.endpoints import slices_of, usable

TYPE_A, CLASS_IN = 1, 1
NOERROR, NXDOMAIN = 0, 3
TTL = 5


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.strip(".").split(".") if label) + b"\0"


def decode_question(packet: bytes) -> tuple[int, int, str, int, int]:
    """``(id, flags, qname, qtype, end of question)`` of a query; raises ValueError if malformed."""
    if len(packet) < 12:
        raise ValueError("short header")
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        raise ValueError("one question expected")
    labels, i = [], 12
    while (length := packet[i]) != 0:
        if length & 0xC0:
            raise ValueError("compressed question name")
        labels.append(packet[i + 1:i + 1 + length].decode("ascii"))
        i += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[i + 1:i + 5])
    return qid, flags, ".".join(labels).lower(), qtype, i + 5


def encode_response(query: bytes, rcode: int, addresses: list[str]) -> bytes:
    """The answer to ``query``: authoritative, ``rcode``, one A record per address."""
    qid, flags, _, _, end = decode_question(query)
    out_flags = 0x8000 | (flags & 0x7900) | 0x0400 | rcode  # QR, opcode and RD copied, AA
    header = struct.pack("!HHHHHH", qid, out_flags, 1, len(addresses), 0, 0)
    answers = b"".join(struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + ipaddress.IPv4Address(a).packed
                       for a in addresses)
    return header + query[12:end] + answers


def encode_query(name: str, qtype: int = TYPE_A) -> bytes:
    return struct.pack("!HHHHHH", random.getrandbits(16), 0x0100, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack("!HH", qtype, CLASS_IN)


def decode_answers(packet: bytes) -> tuple[int, list[str]]:
    """``(rcode, A addresses)`` of a response."""
    _, flags, _, _, i = decode_question(packet)
    ancount = struct.unpack("!H", packet[6:8])[0]
    addresses = []
    for _ in range(ancount):
        while packet[i] != 0 and not packet[i] & 0xC0:
            i += 1 + packet[i]
        i += 2 if packet[i] & 0xC0 else 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", packet[i:i + 10])
        if rtype == TYPE_A:
            addresses.append(str(ipaddress.IPv4Address(packet[i + 10:i + 14])))
        i += 10 + rdlen
    return flags & 0xF, addresses


async def query(name: str, *, server: str, port: int = 53, timeout: float = 2.0) -> tuple[int, list[str]]:
    """Ask ``server`` for the A records of ``name`` (a tiny ``dig``): ``(rcode, addresses)``."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()

    class Receive(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            if not answer.done():
                answer.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Receive, remote_addr=(server, port))
    try:
        transport.sendto(encode_query(name))
        return decode_answers(await asyncio.wait_for(answer, timeout))
    finally:
        transport.close()


class ClusterDNS(Component):
    """The cluster's DNS server on ``address:port`` (kubeadm puts it at the Service CIDR's ``.10``)."""

    name = "coredns"

    def __init__(self, client: Client, *, address: str, port: int = 53, domain: str = "cluster.local",
                 network: HostNetwork | None = None) -> None:
        super().__init__(client)
        self.address, self.port, self.domain = address, port, domain
        self.network = network
        self.services = Informer(client, "v1", "services")
        self.slices = Informer(client, "discovery.k8s.io/v1", "endpointslices")
        self._transport: asyncio.DatagramTransport | None = None

    async def run(self) -> None:
        for informer in (self.services, self.slices):
            self.spawn(informer.run(), f"informer:{informer.plural}")
        for informer in (self.services, self.slices):
            await informer.synced.wait()
        if self.network is not None:
            await self.network.add_service_ip(self.address)
        server = self

        class Serve(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                reply = server.answer(data)
                if reply is not None and server._transport is not None:
                    server._transport.sendto(reply, addr)

        loop = asyncio.get_running_loop()
        if self.network is None:
            self._transport, _ = await loop.create_datagram_endpoint(Serve, local_addr=(self.address, self.port))
        else:  # a socket where the cluster's network is (port 53 without root: the network agent's)
            sock, = self.network.listen(self.address, self.port, socket.SOCK_DGRAM)
            self._transport, _ = await loop.create_datagram_endpoint(Serve, sock=sock)
        self.port = self._transport.get_extra_info("sockname")[1]

    def answer(self, packet: bytes) -> bytes | None:
        """The response to one query packet (None for garbage, which is dropped)."""
        try:
            _, _, qname, qtype, _ = decode_question(packet)
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
        addresses = self.lookup(qname)
        if addresses is None:
            return encode_response(packet, NXDOMAIN, [])
        return encode_response(packet, NOERROR, addresses if qtype == TYPE_A else [])

    def lookup(self, fqdn: str) -> list[str] | None:
        """A records of a fully qualified name; None if the name does not exist."""
        suffix = f".svc.{self.domain}"
        parts = fqdn.strip(".").lower().removesuffix(suffix).split(".")
        if not fqdn.strip(".").lower().endswith(suffix) or len(parts) not in (2, 3):
            return None
        *hostname, name, namespace = parts
        svc = self.services.get(f"{namespace}/{name}")
        if svc is None:
            return None
        ip = svc.get("spec", {}).get("clusterIP", "")
        slices = slices_of(self.slices.list(namespace), namespace, name)
        if hostname:  # an endpoint of a headless Service, by its hostname
            found = sorted({ep["addresses"][0] for s in slices for ep in s.get("endpoints") or []
                            if ep.get("hostname") == hostname[0] and ep.get("addresses")
                            and (ep.get("conditions") or {}).get("ready") is not False})
            return found if found and ip in ("", "None") else None
        if ip and ip != "None":
            return [ip]
        return sorted({address for _, address in usable(slices)})

    def search_path(self, namespace: str) -> list[str]:
        """A pod's ``search`` line in ``/etc/resolv.conf`` (what the kubelet writes)."""
        return [f"{namespace}.svc.{self.domain}", f"svc.{self.domain}", self.domain]

    def resolve(self, name: str, namespace: str = "default") -> str:
        """The first address of ``name`` as a pod in ``namespace`` resolves it (``web``, ``web.ns``, FQDN)."""
        candidates = [name] if name.endswith(".") else [f"{name}.{s}" for s in self.search_path(namespace)] + [name]
        for candidate in candidates:
            if found := self.lookup(candidate):
                return found[0]
        raise LookupError(f"{name}: NXDOMAIN (as resolved from namespace {namespace!r})")

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self.network is not None:
            await self.network.remove_service_ip(self.address)
        await super().stop()
