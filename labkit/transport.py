"""HTTP/1.1 over TLS for API requests: a pool of keep-alive connections to one server.

Plays the part of Go's ``net/http.Transport`` under client-go: requests go out on idle connections
when there are some, on new ones up to a limit, and a connection goes back to the pool once its
response has been read. Watches stay on aiohttp (``labkit.client``), which streams them; this is
for the many short requests every component makes, where aiohttp's general machinery (cookies,
URL objects, header multidicts, timers) cost more of the one event loop than the request itself.
Responses are parsed by llhttp, Node.js's parser (``httptools``). Left out: HTTP/2, proxies,
redirects, compression, request timeouts (the server is in the same process).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit

import httptools

IDLE_SECONDS = 30.0  # an idle connection is dropped before the server's keep-alive (75 s) would close it
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


class Connection(asyncio.Protocol):
    """One connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._response: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._body: list[bytes] = []

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a stream connection's, TLS or not
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(ConnectionError(f"malformed HTTP response: {e}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the API server closed the connection"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._body = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._response is not None and not self._response.done():
            self._response.set_result((self.parser.get_status_code(), b"".join(self._body),
                                       self.parser.should_keep_alive()))

    def _fail(self, exc: BaseException) -> None:
        if self._response is not None and not self._response.done():
            self._response.set_exception(exc)

    async def send(self, request: bytes) -> tuple[int, bytes, bool]:
        """Write ``request``; the response's status, body and whether the connection may be reused."""
        assert self.transport is not None
        self._response = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._response

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections to ``server`` (``https://host:port``), at most ``limit`` at once."""

    def __init__(self, server: str, ssl_context: ssl.SSLContext, *, limit: int = 32) -> None:
        url = urlsplit(server)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 443
        self.authority = url.netloc
        self.ssl = ssl_context
        self.limit = limit
        self._idle: deque[Connection] = deque()
        self._slots: asyncio.Semaphore | None = None
        self.closed = False

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None, headers: bytes = b"",
                      body: bytes | None = None, content_type: str = "application/json") -> tuple[int, bytes]:
        """Send one request; ``headers``: ``Name: value\\r\\n`` lines every request of its client carries."""
        path, _, query = path.partition("?")  # a query may come in the path, in ``params``, or both
        query = "&".join(q for q in (quote(query, safe=_QUERY_SAFE), urlencode(params or {})) if q)
        target = quote(path, safe=_PATH_SAFE) + (f"?{query}" if query else "")
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.authority}\r\n".encode() + headers
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            request = head + body
        else:
            request = head + b"Content-Length: 0\r\n\r\n" if method in ("POST", "PUT", "PATCH") else head + b"\r\n"
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            conn = self._take_idle() or await self._connect()
            try:
                status, payload, keep_alive = await conn.send(request)
            except BaseException:  # cancelled or failed mid-request: the connection's state is unknown
                conn.close()
                raise
            if keep_alive and not conn.closed and not self.closed:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
            return status, payload

    def _take_idle(self) -> Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the likeliest to be alive
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def _connect(self) -> Connection:
        _, conn = await asyncio.get_running_loop().create_connection(
            Connection, self.host, self.port, ssl=self.ssl, server_hostname=self.host)
        return conn

    async def close(self) -> None:
        self.closed = True
        while self._idle:
            self._idle.pop().close()
