"""The WebSocket channel protocol: binary messages whose first byte names the stream.

Mirrors ``k8s.io/apimachinery/pkg/util/httpstream/wsstream`` (``conn.go``: channel-prefixed binary
frames, subprotocol negotiation) and the remote-command constants of ``v4``/``v5.channel.k8s.io``
(``k8s.io/apimachinery/pkg/util/remotecommand/constants.go``): 0 stdin, 1 stdout, 2 stderr, 3 the
final ``Status``, 4 terminal resize, and in v5 255 to close one stream. Left out: the base64 text
variants and the unversioned ``channel.k8s.io``, which no current client offers.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import WSMessage, WSMsgType, web

from labkit.apiserver import errors

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V4 = "v4.channel.k8s.io"
V5 = "v5.channel.k8s.io"


def is_websocket(req: web.Request) -> bool:
    return req.headers.get("Upgrade", "").strip().lower() == "websocket"


async def accept(req: web.Request, protocols: Sequence[str]) -> tuple[web.WebSocketResponse, str]:
    """Complete the handshake with the first of the client's subprotocols we speak; 400 if none.

    Call only after every check that should answer as a plain ``Status``: a non-101 answer is how
    kubectl learns to fall back to SPDY.
    """
    offered = [p.strip() for h in req.headers.getall("Sec-WebSocket-Protocol", []) for p in h.split(",") if p.strip()]
    chosen = next((p for p in offered if p in protocols), None)
    if chosen is None:
        raise errors.bad_request(f"requested protocol(s) are not supported: [{' '.join(offered)}]; "
                                 f"supports [{' '.join(protocols)}]")
    ws = web.WebSocketResponse(protocols=(chosen,), autoping=True, max_msg_size=0)
    if not ws.can_prepare(req).ok:
        raise errors.bad_request("invalid WebSocket handshake")
    await ws.prepare(req)
    return ws, chosen


def payload(msg: WSMessage) -> bytes:
    """A message's bytes, channel byte first. The Python client sends ``str`` stdin as text frames,
    which kube-apiserver's reader takes as bytes too."""
    if msg.type == WSMsgType.BINARY:
        return msg.data
    if msg.type == WSMsgType.TEXT:
        return msg.data.encode()
    return b""


async def send(ws: web.WebSocketResponse, channel: int, data: bytes) -> None:
    if not ws.closed:
        await ws.send_bytes(bytes([channel]) + data)
