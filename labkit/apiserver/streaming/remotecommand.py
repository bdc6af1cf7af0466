"""``pods/NAME/exec`` and ``pods/NAME/attach`` over WebSocket (v5/v4) or SPDY/3.1 (v4).

Mirrors the server half of ``k8s.io/kubelet/pkg/cri/streaming/remotecommand`` (``httpstream.go``:
protocol negotiation, waiting for the client's streams, ``v4WriteStatusFunc``; ``exec.go``: the
``NonZeroExitCode`` Status) and, for WebSockets, kube-apiserver's ``StreamTranslatorHandler``
(``pkg/kubelet/.../translator.go`` since 1.30). Whatever the wire, the same relay runs: stdin and
terminal sizes into the :class:`ExecSession`, its output out, and at the end a ``Status`` on the
error stream. Left out: protocols before v4 (every kubectl from 1.27 offers v4), the 30-second idle
timeout, and v5's close signal over SPDY (SPDY half-closes a stream with FIN).
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from labkit.apiserver import errors, handlers
from labkit.apiserver.streaming import spdy, websocket
from labkit.apiserver.streaming.kubelet_api import KubeletAPI, KubeletError
from labkit.apiserver.streaming.location import Target, query_bool, target
from labkit.apiserver.streaming.upgrade import RawConnection

if TYPE_CHECKING:  # the kubelet package may import this one: no import cycle at run time
    from labkit.kubelet.runtime import ExecSession

SPDY_PROTOCOL = "v4.channel.k8s.io"  # the kubelet's SPDY server speaks v4 at most
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet streaming server's default StreamCreationTimeout
CLIENT_CLOSE_WAIT = 5.0


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The ``Status`` written on the error stream when the process ends (kubectl exits with ``code``)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


class TerminalSizes:
    """``{"Width":80,"Height":24}`` objects as they arrive, back to back or one per message."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        self._buffer += data.decode(errors="replace")
        sizes = []
        while self._buffer.strip():
            text = self._buffer.lstrip()
            try:
                obj, end = self._decoder.raw_decode(text)
            except json.JSONDecodeError:
                break  # incomplete: wait for more
            self._buffer = text[end:]
            if isinstance(obj, dict):
                sizes.append((int(obj.get("Width", 0)), int(obj.get("Height", 0))))
        return sizes


class Streams(abc.ABC):
    """The client side of one exec/attach, whatever carries it."""

    @abc.abstractmethod
    async def read_stdin(self) -> bytes:
        """The next stdin bytes; ``b""`` when the client closed stdin."""

    @abc.abstractmethod
    async def next_size(self) -> tuple[int, int] | None:
        """The next terminal size; None when no more will come."""

    @abc.abstractmethod
    async def write(self, fd: int, data: bytes) -> None:
        """Output for stream 1 (stdout) or 2 (stderr); dropped when the client did not ask for it."""

    @abc.abstractmethod
    async def finish(self, status: Mapping[str, Any]) -> None:
        """Send the final Status and end the streams."""


class WebSocketStreams(Streams):
    """v5 and v4 differ only in v5's close signal (255), which a v4 client never sends."""

    def __init__(self, ws: web.WebSocketResponse, *, stdout: bool, stderr: bool) -> None:
        self.ws = ws
        self.wanted = {websocket.STDOUT: stdout, websocket.STDERR: stderr}
        self.stdin = asyncio.StreamReader()
        self.sizes: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._receive())

    async def _receive(self) -> None:
        """The one task that reads the socket: demultiplexes stdin and resize (pings are answered by aiohttp)."""
        decoder = TerminalSizes()
        try:
            async for msg in self.ws:
                if not (raw := websocket.payload(msg)):
                    continue
                channel, data = raw[0], raw[1:]
                if channel == websocket.STDIN and data:
                    self.stdin.feed_data(data)
                elif channel == websocket.RESIZE:
                    for size in decoder.feed(data):
                        self.sizes.put_nowait(size)
                elif channel == websocket.CLOSE and data[:1] == bytes([websocket.STDIN]):
                    self.stdin.feed_eof()
        finally:
            if not self.stdin.at_eof():
                self.stdin.feed_eof()
            self.sizes.put_nowait(None)

    async def read_stdin(self) -> bytes:
        return await self.stdin.read(65536)

    async def next_size(self) -> tuple[int, int] | None:
        return await self.sizes.get()

    async def write(self, fd: int, data: bytes) -> None:
        if self.wanted.get(fd):
            await websocket.send(self.ws, fd, data)

    async def finish(self, status: Mapping[str, Any]) -> None:
        await websocket.send(self.ws, websocket.ERROR, json.dumps(status).encode())
        await self.ws.close()  # 1000, normal closure
        self._reader.cancel()


class SpdyStreams(Streams):
    def __init__(self, streams: Mapping[str, spdy.Stream]) -> None:
        self.streams = streams
        self._sizes = TerminalSizes()
        self._pending: list[tuple[int, int]] = []

    async def read_stdin(self) -> bytes:
        stdin = self.streams.get("stdin")
        return await stdin.read() if stdin else b""

    async def next_size(self) -> tuple[int, int] | None:
        resize = self.streams.get("resize")
        while not self._pending:
            data = await resize.read() if resize else b""
            if not data:
                return None
            self._pending = self._sizes.feed(data)
        return self._pending.pop(0)

    async def write(self, fd: int, data: bytes) -> None:
        stream = self.streams.get("stdout" if fd == 1 else "stderr")
        if stream is not None:
            await stream.write(data)

    async def finish(self, status: Mapping[str, Any]) -> None:
        for name in ("stdout", "stderr"):
            if name in self.streams:
                await self.streams[name].close()
        await self.streams["error"].write(json.dumps(status).encode())
        await self.streams["error"].close()


async def relay(session: ExecSession, streams: Streams, *, stdin: bool, tty: bool) -> int:
    """Run one exec/attach to the end: stdin and sizes in, output out. Returns the exit code."""

    async def pump_stdin() -> None:
        while data := await streams.read_stdin():
            await session.write_stdin(data)
        await session.close_stdin()

    async def pump_sizes() -> None:
        while (size := await streams.next_size()) is not None:
            await session.resize(*size)

    loop = asyncio.get_running_loop()
    pumps = ([loop.create_task(pump_stdin())] if stdin else []) + ([loop.create_task(pump_sizes())] if tty else [])
    try:
        async for fd, data in session.output():
            await streams.write(fd, data)
        return await session.wait()
    finally:
        for task in pumps:
            task.cancel()


async def exec_handler(kubelets: Mapping[str, KubeletAPI], req: web.Request, call: handlers.Call) -> web.StreamResponse:
    return await _serve(kubelets, req, call, attach=False)


async def attach_handler(kubelets: Mapping[str, KubeletAPI], req: web.Request,
                         call: handlers.Call) -> web.StreamResponse:
    return await _serve(kubelets, req, call, attach=True)


def _check_running(t: Target) -> None:
    phase = t.pod.get("status", {}).get("phase", "Pending")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(f"cannot exec into a container in a completed pod; current phase is {phase}")
    if phase != "Running":  # what the kubelet answers when the container has not started
        raise errors.bad_request(f'container not found ("{t.container}")')


def _spdy_offer(req: web.Request) -> list[str]:
    return [p.strip() for h in req.headers.getall("X-Stream-Protocol-Version", []) for p in h.split(",") if p.strip()]


async def _serve(kubelets: Mapping[str, KubeletAPI], req: web.Request, call: handlers.Call, *,
                 attach: bool) -> web.StreamResponse:
    t = target(kubelets, call)
    q = call.query
    command = call.query_all.get("command", [])
    tty, stdin, stdout = query_bool(q, "tty"), query_bool(q, "stdin"), query_bool(q, "stdout")
    stderr = query_bool(q, "stderr") and not tty  # a terminal merges stderr into stdout
    if not (stdin or stdout or stderr):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    _check_running(t)
    use_websocket = websocket.is_websocket(req)
    if not use_websocket:
        if not req.headers.get("Upgrade", "").lower().startswith("spdy/3.1"):
            raise errors.bad_request("Upgrade request required")
        if SPDY_PROTOCOL not in _spdy_offer(req):
            raise errors.forbidden(f"unable to upgrade: unable to negotiate protocol: client supports "
                                   f"[{' '.join(_spdy_offer(req))}], server accepts [{SPDY_PROTOCOL}]")
    try:
        if attach:
            session = await t.kubelet.attach(t.namespace, t.name, t.container, tty=tty, stdin=stdin)
        else:
            session = await t.kubelet.exec(t.namespace, t.name, t.container, command, tty=tty, stdin=stdin)
    except KubeletError as e:
        raise errors.ApiError(e.code, e.reason, e.message) from None
    finished = False
    try:
        if use_websocket:
            ws, _protocol = await websocket.accept(req, (websocket.V5, websocket.V4))
            streams: Streams = WebSocketStreams(ws, stdout=stdout, stderr=stderr)
            response: web.StreamResponse = ws
        else:
            conn = RawConnection(req)
            await conn.accept({"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                               "X-Stream-Protocol-Version": SPDY_PROTOCOL})
            spdy_session = spdy.Session(conn)
            spdy_session.start()
            found = await _spdy_streams(spdy_session, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
            if found is None:
                await spdy_session.close()
                return conn.response
            streams, response = SpdyStreams(found), conn.response
        code = await relay(session, streams, stdin=stdin, tty=tty)
        finished = True
        await streams.finish(exit_status(code, command))
        if not use_websocket:
            try:  # the client resets its streams and sends GOAWAY once it has read everything
                await asyncio.wait_for(spdy_session.closed.wait(), CLIENT_CLOSE_WAIT)
            except TimeoutError:
                pass
            await spdy_session.close()
        return response
    finally:
        if not finished:  # the client went away or the handshake failed: do not leave the process behind
            await session.kill()


async def _spdy_streams(session: spdy.Session, *, stdin: bool, stdout: bool, stderr: bool,
                        tty: bool) -> dict[str, spdy.Stream] | None:
    """Wait until the client has opened every stream it asked for (by ``streamtype``); None if it gave up."""
    expected = {"error"} | {name for name, on in
                            (("stdin", stdin), ("stdout", stdout), ("stderr", stderr), ("resize", tty)) if on}
    streams: dict[str, spdy.Stream] = {}
    try:
        async with asyncio.timeout(STREAM_CREATION_TIMEOUT):
            while not expected <= streams.keys():
                stream = await session.accept()
                if stream is None:
                    return None
                streams[stream.headers.get("streamtype", "")] = stream
    except TimeoutError:
        return None
    return streams
