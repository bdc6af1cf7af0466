"""``pods/NAME/portforward``: SPDY/3.1 (direct or tunnelled in a WebSocket) and the WebSocket channel protocol.

Mirrors the kubelet's port-forward servers (``k8s.io/kubelet/pkg/cri/streaming/portforward``:
``httpstream.go`` pairs each connection's ``error`` and ``data`` streams by ``requestID``;
``websocket.go`` gives port *i* channels 2i (data) and 2i+1 (error), each opened with the port as two
little-endian bytes) and kube-apiserver's tunnelling handler for kubectl ≥ 1.31
(``SPDY/3.1+portforward.k8s.io``: the same SPDY session inside binary WebSocket messages). Each
connection is relayed to the kubelet's ``port_forward`` until the pod side closes. Left out: the
base64 WebSocket variant, UDP (Kubernetes has none either), idle timeouts.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from labkit.apiserver import errors, handlers
from labkit.apiserver.streaming import spdy, websocket
from labkit.apiserver.streaming.kubelet_api import KubeletAPI, KubeletError
from labkit.apiserver.streaming.location import Target, target
from labkit.apiserver.streaming.upgrade import RawConnection, WebSocketBytes

SPDY_PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHUNK = 65536

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def portforward_handler(kubelets: Mapping[str, KubeletAPI], req: web.Request,
                              call: handlers.Call) -> web.StreamResponse:
    t = target(kubelets, call, needs_container=False)
    if websocket.is_websocket(req):
        ws, protocol = await websocket.accept(req, (TUNNEL_PROTOCOL, websocket.V4))
        if protocol == TUNNEL_PROTOCOL:
            await _serve_spdy(t, spdy.Session(WebSocketBytes(ws)))
        else:
            await _serve_channels(t, ws, [_port(p) for p in call.query_all.get("ports", [])])
        return ws
    if not req.headers.get("Upgrade", "").lower().startswith("spdy/3.1"):
        raise errors.bad_request("Upgrade request required")
    offered = [p.strip() for h in req.headers.getall("X-Stream-Protocol-Version", []) for p in h.split(",")]
    if SPDY_PROTOCOL not in offered:
        raise errors.forbidden(f"unable to upgrade: unable to negotiate protocol: client supports "
                               f"[{' '.join(offered)}], server accepts [{SPDY_PROTOCOL}]")
    conn = RawConnection(req)
    await conn.accept({"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": SPDY_PROTOCOL})
    await _serve_spdy(t, spdy.Session(conn))
    return conn.response


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise errors.bad_request(f"invalid port {value!r}: must be between 1 and 65535")
    return int(value)


async def _dial(t: Target, port: int) -> Connection:
    """The kubelet's connection to ``port`` in the pod; errors worded as the kubelet words them."""
    try:
        return await t.kubelet.port_forward(t.namespace, t.name, port)
    except (KubeletError, OSError) as e:
        raise ConnectionError(f"error forwarding port {port} to pod {t.namespace}/{t.name}, "
                              f"uid {t.pod['metadata'].get('uid', '')}: {e}") from None


async def _pod_to_client(reader: asyncio.StreamReader, send: Callable[[bytes], Awaitable[None]]) -> None:
    while chunk := await reader.read(CHUNK):
        await send(chunk)


# --- SPDY (direct and tunnelled) ----------------------------------------------------------------

async def _serve_spdy(t: Target, session: spdy.Session) -> None:
    """Pair the streams of each forwarded connection by ``requestid`` and relay each pair."""
    session.start()
    pending: dict[str, dict[str, spdy.Stream]] = {}
    relays: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    try:
        while (stream := await session.accept()) is not None:
            pair = pending.setdefault(stream.headers.get("requestid", ""), {})
            pair[stream.headers.get("streamtype", "")] = stream
            if "error" in pair and "data" in pair:
                del pending[stream.headers.get("requestid", "")]
                task = loop.create_task(_relay_spdy(t, pair["data"], pair["error"]))
                relays.add(task)
                task.add_done_callback(relays.discard)
    finally:
        for task in relays:
            task.cancel()
        await session.close()


async def _relay_spdy(t: Target, data: spdy.Stream, error: spdy.Stream) -> None:
    try:
        try:
            reader, writer = await _dial(t, int(data.headers.get("port", "")))
        except (ValueError, ConnectionError) as e:  # the client reads the error stream to its end
            await error.write(str(e).encode())
            return
        loop = asyncio.get_running_loop()

        async def client_to_pod() -> None:
            while chunk := await data.read():
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # the client is done sending; the pod may still answer

        up = loop.create_task(client_to_pod())
        down = loop.create_task(_pod_to_client(reader, data.write))
        reset = loop.create_task(data.was_reset.wait())
        try:
            await asyncio.wait({down, reset}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down, reset):
                task.cancel()
            writer.close()
    finally:
        await data.close()
        await error.close()


# --- the WebSocket channel protocol (the Python client) -----------------------------------------

async def _serve_channels(t: Target, ws: web.WebSocketResponse, ports: list[int]) -> None:
    """Port *i*: channel 2i data, 2i+1 error. Ends when every pod connection closed, or the client left."""
    loop = asyncio.get_running_loop()
    conns: list[Connection | None] = []
    for i, port in enumerate(ports):
        for channel in (2 * i, 2 * i + 1):  # the client checks the port on each channel's first frame
            await websocket.send(ws, channel, struct.pack("<H", port))
        try:
            conns.append(await _dial(t, port))
        except ConnectionError as e:
            conns.append(None)
            await websocket.send(ws, 2 * i + 1, str(e).encode())

    async def down(i: int, reader: asyncio.StreamReader) -> None:
        await _pod_to_client(reader, lambda chunk: websocket.send(ws, 2 * i, chunk))

    downs = [loop.create_task(down(i, c[0])) for i, c in enumerate(conns) if c is not None]
    receiver = loop.create_task(_client_to_pods(ws, conns))
    try:
        if downs:
            await asyncio.wait({receiver, loop.create_task(asyncio.wait(downs))}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [*downs, receiver]:
            task.cancel()
        for conn in conns:
            if conn is not None:
                conn[1].close()
        await ws.close()


async def _client_to_pods(ws: web.WebSocketResponse, conns: list[Connection | None]) -> None:
    async for msg in ws:
        raw = websocket.payload(msg)
        if len(raw) < 2 or raw[0] % 2:  # nothing, or a client write to an error channel
            continue
        conn = conns[raw[0] // 2] if raw[0] // 2 < len(conns) else None
        if conn is not None:
            conn[1].write(raw[1:])
            await conn[1].drain()
