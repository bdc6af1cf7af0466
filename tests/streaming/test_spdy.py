"""The SPDY/3.1 session on its own: the dictionary, frames split anywhere, SYN_REPLY, DATA/FIN, PING, RST."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib

from labkit.apiserver.streaming import spdy


def test_dictionary_is_the_spdy3_one() -> None:
    assert len(spdy.DICTIONARY) == 1423
    # moby/spdystream's headerDictionary has this digest; a peer using another dictionary cannot inflate our headers
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"


class Pipe:
    """A ByteConnection fed one byte at a time (the worst split a WebSocket tunnel can make)."""

    def __init__(self, incoming: bytes) -> None:
        self.incoming = [incoming[i:i + 1] for i in range(len(incoming))]
        self.written = b""

    async def read(self) -> bytes:
        await asyncio.sleep(0)
        return self.incoming.pop(0) if self.incoming else b""

    async def write(self, data: bytes) -> None:
        self.written += data

    async def close(self) -> None:
        pass


def frames(data: bytes) -> list[tuple[int | None, int, bytes]]:
    """(control type or None for DATA, flags, payload) of each frame in ``data``."""
    out = []
    while data:
        length = int.from_bytes(data[5:8], "big")
        kind = int.from_bytes(data[2:4], "big") if data[0] & 0x80 else None
        out.append((kind, data[4], data[8:8 + length]))
        data = data[8 + length:]
    return out


def test_session_over_split_frames() -> None:
    deflate = zlib.compressobj(zdict=spdy.DICTIONARY)

    def syn(stream_id: int, headers: dict[str, str]) -> bytes:
        block = deflate.compress(spdy.encode_headers(headers)) + deflate.flush(zlib.Z_SYNC_FLUSH)
        return spdy.control_frame(spdy.SYN_STREAM, 0, struct.pack(">IIBB", stream_id, 0, 0, 0) + block)

    wire = (syn(1, {"streamtype": "error"}) + syn(3, {"streamtype": "data", "port": "80"})
            + spdy.data_frame(3, 0, b"hello") + spdy.data_frame(3, spdy.FLAG_FIN, b"")
            + spdy.control_frame(spdy.PING, 0, struct.pack(">I", 7))
            + spdy.control_frame(spdy.RST_STREAM, 0, struct.pack(">II", 1, spdy.RST_CANCEL)))

    async def run() -> tuple[Pipe, list[spdy.Stream], bytes]:
        pipe = Pipe(wire)
        session = spdy.Session(pipe)
        session.start()
        streams = [s async for s in _accept_all(session)]
        body = await streams[1].read()
        await streams[1].write(b"back")
        await streams[0].write(b"dropped: the client reset it")
        await session.close()
        return pipe, streams, body

    pipe, streams, body = asyncio.run(run())
    assert [s.headers for s in streams] == [{"streamtype": "error"}, {"streamtype": "data", "port": "80"}]
    assert body == b"hello"
    assert streams[0].was_reset.is_set()
    sent = frames(pipe.written)
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    replies = [p for k, _, p in sent if k == spdy.SYN_REPLY]
    assert [int.from_bytes(p[:4], "big") for p in replies] == [1, 3]
    assert all(spdy.decode_headers(inflate.decompress(p[4:])) == {} for p in replies)
    assert (spdy.PING, 0, struct.pack(">I", 7)) in sent
    assert (None, 0, b"back") in sent and not any(b"dropped" in p for _, _, p in sent)


async def _accept_all(session: spdy.Session):
    while (stream := await session.accept()) is not None:
        yield stream
