"""A server-side SPDY/3.1 session: the framing kubectl's exec (≤ 1.29) and port-forward speak.

Mirrors ``github.com/moby/spdystream`` (``connection.go``, ``spdy/read.go``, ``spdy/write.go``) as
client-go's ``k8s.io/apimachinery/pkg/util/httpstream/spdy`` uses it: the client opens streams with
SYN_STREAM (odd ids, a ``streamtype`` header), the server answers each with SYN_REPLY, and both sides
send DATA frames, FIN when done. Header blocks are zlib-compressed, one continuous stream per
direction, primed with the SPDY/3 dictionary below. Left out, as spdystream leaves them out: flow
control (SETTINGS and WINDOW_UPDATE are read and ignored), server push, priorities, CREDENTIAL.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Mapping
from typing import Protocol

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_CANCEL = 5
MAX_DATA = 1 << 16  # spdystream's own chunk size; the format allows up to 2**24 - 1


def _dictionary() -> bytes:
    """The SPDY/3 header-compression dictionary (draft 3, section 2.6.10.1): 1423 bytes.

    It is the lower-case header names and a few values, each with a 4-byte length, followed by
    common status codes, reason phrases, date fragments and content types run together.
    """
    words = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
             "accept-ranges age allow authorization cache-control connection content-base content-encoding "
             "content-language content-length content-location content-md5 content-range content-type date "
             "etag expect expires from host if-match if-modified-since if-none-match if-range "
             "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
             "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
             "user-agent vary via warning www-authenticate method get status").split()
    words += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    codes = ("100 101 201 202 205 206 300 302 303 304 305 306 307 402 405 406 407 408 409 410 411 412 413 "
             "414 415 416 417 502 504 505").split()
    reasons = ["203 Non-Authoritative Information", "204 No Content", "301 Moved Permanently",
               "400 Bad Request", "401 Unauthorized", "403 Forbidden", "404 Not Found",
               "500 Internal Server Error", "501 Not Implemented", "503 Service Unavailable"]
    rest = ("Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    return (b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
            + "".join(codes + reasons).encode() + rest.encode())


DICTIONARY = _dictionary()


class ByteConnection(Protocol):
    """What a session runs over: a raw upgraded connection, or binary WebSocket messages."""

    async def read(self) -> bytes:
        """The next bytes; ``b""`` at the end."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


def encode_headers(headers: Mapping[str, str]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_headers(block: bytes) -> dict[str, str]:
    """Names to values; several values of one name arrive NUL-separated and are kept so."""
    (count,), pos, headers = struct.unpack_from(">I", block), 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">I", block, pos)
        name = block[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        (v,) = struct.unpack_from(">I", block, pos)
        headers[name] = block[pos + 4:pos + 4 + v].decode()
        pos += 4 + v
    return headers


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, flags: int, data: bytes) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


class Stream:
    """One client-opened stream: read what the client sends, write back, FIN with :meth:`close`."""

    def __init__(self, session: Session, stream_id: int, headers: dict[str, str]) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self.reader = asyncio.StreamReader()
        self.was_reset = asyncio.Event()  # the client sent RST_STREAM
        self.fin_sent = False

    async def read(self, n: int = MAX_DATA) -> bytes:
        """Up to ``n`` bytes; ``b""`` once the client sent FIN (or reset the stream)."""
        return await self.reader.read(n)

    async def write(self, data: bytes) -> None:
        if self.fin_sent or self.was_reset.is_set():
            return
        for i in range(0, len(data), MAX_DATA):
            await self.session.send(data_frame(self.id, 0, data[i:i + MAX_DATA]))

    async def close(self) -> None:
        """Half-close: FIN, once."""
        if not self.fin_sent and not self.was_reset.is_set():
            self.fin_sent = True
            await self.session.send(data_frame(self.id, FLAG_FIN, b""))

    def _remote_closed(self) -> None:
        if not self.reader.at_eof():
            self.reader.feed_eof()


class Session:
    """The server end of a SPDY/3.1 connection. :meth:`accept` yields the streams the client opens."""

    def __init__(self, conn: ByteConnection) -> None:
        self.conn = conn
        self.streams: dict[int, Stream] = {}
        self._accepted: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._write_lock = asyncio.Lock()
        self._buffer = bytearray()
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read_frames())

    async def accept(self) -> Stream | None:
        """The next stream the client opened (already answered with SYN_REPLY); None once the session ended."""
        stream = await self._accepted.get()
        if stream is None:
            self._accepted.put_nowait(None)  # every later accept() ends too
        return stream

    async def send(self, frame: bytes) -> None:
        async with self._write_lock:
            await self.conn.write(frame)

    async def _send_headers(self, kind: int, prefix: bytes, headers: Mapping[str, str], flags: int = 0) -> None:
        async with self._write_lock:  # compress and write in one step: the peer inflates in order
            block = self._deflate.compress(encode_headers(headers)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
            await self.conn.write(control_frame(kind, flags, prefix + block))

    async def close(self) -> None:
        """GOAWAY, then drop the connection."""
        if not self.closed.is_set():  # the client is still there: say goodbye first
            try:
                await self.send(control_frame(GOAWAY, 0, struct.pack(">II", max(self.streams, default=0), 0)))
            except (ConnectionError, RuntimeError):
                pass
        await self.conn.close()
        if self._reader is not None:
            self._reader.cancel()
        self._finish()

    def _finish(self) -> None:
        self.closed.set()
        for stream in self.streams.values():
            stream._remote_closed()
        self._accepted.put_nowait(None)

    async def _read_frames(self) -> None:
        try:
            while (frame := await self._next_frame()) is not None:
                if not await self._handle(*frame):
                    break
        except (ConnectionError, zlib.error, struct.error):
            pass
        finally:
            self._finish()

    async def _next_frame(self) -> tuple[bytes, bytes] | None:
        """(8-byte header, payload), reading as many chunks as a frame needs (a tunnel splits them anyhow)."""
        while True:
            if len(self._buffer) >= 8:
                length = int.from_bytes(self._buffer[5:8], "big")
                if len(self._buffer) >= 8 + length:
                    head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8:8 + length])
                    del self._buffer[:8 + length]
                    return head, payload
            chunk = await self.conn.read()
            if not chunk:
                return None
            self._buffer += chunk

    async def _handle(self, head: bytes, payload: bytes) -> bool:
        """Act on one frame; False ends the session (GOAWAY)."""
        flags = head[4]
        if not head[0] & 0x80:  # DATA
            stream = self.streams.get(int.from_bytes(head[:4], "big") & 0x7FFFFFFF)
            if stream is not None:
                if payload:
                    stream.reader.feed_data(payload)
                if flags & FLAG_FIN:
                    stream._remote_closed()
            return True
        kind = int.from_bytes(head[2:4], "big")
        if kind == SYN_STREAM:
            stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            stream = Stream(self, stream_id, decode_headers(self._inflate.decompress(payload[10:])))
            self.streams[stream_id] = stream
            if flags & FLAG_FIN:
                stream._remote_closed()
            await self._send_headers(SYN_REPLY, struct.pack(">I", stream_id), {})
            self._accepted.put_nowait(stream)
        elif kind == HEADERS:
            self._inflate.decompress(payload[4:])  # keeps the shared zlib stream in step
        elif kind == RST_STREAM:
            stream = self.streams.get(int.from_bytes(payload[:4], "big") & 0x7FFFFFFF)
            if stream is not None:
                stream.was_reset.set()
                stream._remote_closed()
        elif kind == PING:
            await self.send(control_frame(PING, 0, payload))
        elif kind == GOAWAY:
            return False
        return True  # SETTINGS, WINDOW_UPDATE: spdystream ignores them too
