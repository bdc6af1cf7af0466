"""Taking over a connection after ``101 Switching Protocols``: raw (SPDY/3.1) or as a WebSocket tunnel.

Mirrors ``k8s.io/apimachinery/pkg/util/httpstream/spdy/upgrade.go`` (the server hijacks the HTTP
connection after answering the upgrade) and client-go's ``tools/portforward/tunneling_connection.go``
(SPDY bytes carried in binary WebSocket messages, split wherever the sender liked). aiohttp has no
hijack; like its own WebSocket response, :class:`RawConnection` installs itself as the connection's
payload parser so every later byte reaches it, and writes through the 101 response's writer. Left out:
HTTP/2 (streaming upgrades need HTTP/1.1 in Kubernetes too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import WSMsgType, web


class RawConnection:
    """The byte stream under an HTTP/1.1 connection this server switched to another protocol."""

    def __init__(self, req: web.Request) -> None:
        self._req = req
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._eof = False
        self.response = web.StreamResponse(status=101, reason="Switching Protocols")

    async def accept(self, headers: Mapping[str, str]) -> None:
        """Answer 101 with ``headers``; from then on the connection's bytes are this object's."""
        protocol = self._req.protocol
        # before the 101 leaves: the client may answer at once. aiohttp's parser slot takes any object
        # with feed_data/feed_eof (its own WebSocketReader is one); its annotation names only that class
        protocol.set_parser(self)  # type: ignore[arg-type]  # see above
        protocol.keep_alive(False)
        self.response.headers.update(headers)
        await self.response.prepare(self._req)

    # aiohttp's payload-parser interface, called from the connection's data_received / connection_lost
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self._chunks.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self._chunks.put_nowait(b"")

    async def read(self) -> bytes:
        if self._eof:
            return b""
        data = await self._chunks.get()
        self._eof = not data
        return data

    async def write(self, data: bytes) -> None:
        await self.response.write(data)

    async def close(self) -> None:
        if self._req.transport is not None:
            self._req.transport.close()


class WebSocketBytes:
    """A byte stream carried in binary WebSocket messages (the ``SPDY/3.1+portforward.k8s.io`` tunnel)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def read(self) -> bytes:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return msg.data
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return b""

    async def write(self, data: bytes) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(data)

    async def close(self) -> None:
        await self.ws.close()
