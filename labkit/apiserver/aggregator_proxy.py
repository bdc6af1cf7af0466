"""kube-aggregator's proxy to an extension API server: where an APIService's Service answers, and one
HTTPS request to it with the caller's identity in request headers.

Mirrors ``k8s.io/kube-aggregator/pkg/apiserver`` (``handler_proxy.go``, ``resolvers.go``) with
``--enable-aggregator-routing=true``: a request goes to one ready endpoint of the Service's
EndpointSlices (the endpoint's port named as the Service port whose ``port`` is the APIService's
``spec.service.port``), not to the ClusterIP, so it does not wait on kube-proxy. The user kube-apiserver
authenticated travels as ``X-Remote-User``, ``X-Remote-Group`` (one header each) and
``X-Remote-Extra-<key>`` (``client-go/transport``'s ``SetAuthProxyHeaders``); the caller's own
credentials (``Authorization``, ``Impersonate-*``) are not forwarded.

Where the API server can dial a pod is the cluster's network (``Aggregator.dial``, which the Cluster
sets to its network's ``open_connection``, kept across an HA member's restarts): on the process
runtime as root, this machine's loopback (pods on their ``127.x.y.z``); without root, the cluster's own
network namespace, through its keeper's sockets (:meth:`labkit.network.hostnet.LoopbackNetwork.open_connection`,
the path ``kubectl port-forward`` takes to a pod); on docker, the pod's address on labkit's bridge.

TLS as kube's (``remote.BuildTransportConfig``): the server name is ``<service>.<namespace>.svc``,
verified against ``spec.caBundle`` (PEM, base64 in JSON) or, without one, this machine's CAs; not
verified with ``insecureSkipTLSVerify``. Simplified: the client certificate the proxy presents
(``front-proxy-client``) is signed by the cluster's CA, not by a separate front-proxy CA, and the
``extension-apiserver-authentication`` ConfigMap that tells an extension server which CA and header
names to trust is not published. Left out: HTTP/2, upgrade requests (exec-like streams) to an extension
server (their Upgrade header is not passed on), keep-alive connections to the backend (each request
dials anew), a timeout for a proxied request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, unquote

import httptools

from labkit.apimachinery.meta import Obj
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.request import NAMESPACE_SUBRESOURCES, RequestInfo

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Dial = Callable[[str, int], Awaitable[Streams]]
#: hop-by-hop headers (RFC 7230 §6.1) and what the proxy sets itself
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                  "host", "content-length"})
#: the caller's credentials and identity headers, never passed on as they came
_CREDENTIALS = ("authorization", "impersonate-", "x-remote-")
READ_SIZE = 65536


class ResolveError(Exception):
    """The Service has no endpoint to send to."""


def resolve_endpoint(service: Obj | None, slices: Iterable[Obj], port: int) -> tuple[str, int]:
    """``ResolveEndpoint``: a ready endpoint's address and port for the Service port ``port``."""
    if service is None:
        raise ResolveError("service not found")
    port_name = next((p.get("name", "") for p in (service.get("spec") or {}).get("ports") or []
                      if p.get("port") == port), None)
    if port_name is None:
        raise ResolveError(f"no service port {port} found for service {service['metadata']['name']!r}")
    found = [(address, p["port"]) for s in slices for p in s.get("ports") or []
             if p.get("name", "") == port_name and p.get("port")
             for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready", True)
             for address in (e.get("addresses") or [])[:1]]
    if not found:
        raise ResolveError(f"no endpoints available for service {service['metadata']['name']!r}")
    return random.choice(found)


def has_available_endpoint(slices: Iterable[Obj], port_name: str) -> bool:
    """Whether a slice has a ready endpoint and a port named ``port_name`` (the availability check)."""
    return any(any((e.get("conditions") or {}).get("ready", True) for e in s.get("endpoints") or [])
               and any(p.get("name", "") == port_name and p.get("port") for p in s.get("ports") or [])
               for s in slices)


def tls_context(api_service: Obj, client_cert: tuple[Path, Path] | None) -> ssl.SSLContext:
    """The client TLS of one APIService's proxy: its ``caBundle`` or ``insecureSkipTLSVerify``, and the
    proxy's client certificate. ValueError for a ``caBundle`` that is no PEM bundle."""
    spec = api_service.get("spec") or {}
    if spec.get("insecureSkipTLSVerify"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    elif spec.get("caBundle"):
        try:
            bundle = base64.b64decode(spec["caBundle"], validate=True).decode()
            context = ssl.create_default_context(cadata=bundle)
        except (binascii.Error, UnicodeDecodeError, ssl.SSLError) as e:
            raise ValueError(f"unable to load root certificates: {e}") from None
    else:
        context = ssl.create_default_context()
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    context.set_alpn_protocols(["http/1.1"])
    return context


def server_name(api_service: Obj) -> str:
    """The name the backend's certificate must carry: ``<service>.<namespace>.svc``."""
    service = api_service["spec"]["service"]
    return f"{service['name']}.{service['namespace']}.svc"


def forwarded_headers(headers: Iterable[tuple[str, str]], user: UserInfo) -> list[tuple[str, str]]:
    """The request's own headers without hop-by-hop ones and credentials, plus the user's identity."""
    kept = [(k, v) for k, v in headers if k.lower() not in _HOP and not k.lower().startswith(_CREDENTIALS)]
    kept.append(("X-Remote-User", user.name))
    kept += [("X-Remote-Group", g) for g in user.groups]
    kept += [(f"X-Remote-Extra-{quote(key, safe='')}", v) for key, values in user.extra.items() for v in values]
    return kept


class BackendResponse:
    """One response of the backend: its status and headers once read, then its body as it arrives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._headers_done = self._complete = False

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        self._complete = True

    async def _feed(self) -> bool:
        """Read once from the connection; False at its end."""
        data = await self._reader.read(READ_SIZE)
        if not data:
            return False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            raise ConnectionError(f"malformed HTTP response: {e}") from None
        return True

    async def read_headers(self) -> None:
        while not self._headers_done:
            if not await self._feed():
                raise ConnectionError("EOF")

    async def body(self) -> AsyncIterator[bytes]:
        """The body's bytes (de-chunked) as they come, until the response or the connection ends."""
        while True:
            chunks, self._chunks = self._chunks, []
            for chunk in chunks:
                yield chunk
            if self._complete or not await self._feed():
                return

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.body()])

    def close(self) -> None:
        self._writer.close()


async def send(dial: Dial, host: str, port: int, *, method: str, target: str, headers: Iterable[tuple[str, str]],
               body: bytes, tls: ssl.SSLContext, tls_name: str) -> BackendResponse:
    """Send one request over a new HTTPS connection to ``host:port``; the response once its headers are in.
    OSError / ConnectionError / ssl.SSLError when it cannot be sent or answered."""
    reader, writer = await dial(host, port)
    try:
        await writer.start_tls(tls, server_hostname=tls_name)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                 *(f"{k}: {_one_line(v)}" for k, v in headers)]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        # header bytes as they came (aiohttp keeps undecodable ones as surrogates)
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body)
        await writer.drain()
        response = BackendResponse(reader, writer)
        await response.read_headers()
    except BaseException:
        writer.close()
        raise
    return response


def _one_line(value: str) -> str:
    """A header value that cannot end its line early (a user name is the caller's to choose)."""
    return value.replace("\r", " ").replace("\n", " ")


def dial_error(e: BaseException, host: str, port: int) -> str:
    """A failure to reach ``host:port`` or to be answered, as Go's net/http words it."""
    if isinstance(e, ConnectionRefusedError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    if isinstance(e, TimeoutError):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    return str(e) or type(e).__name__


def hop_free(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """A backend response's headers that the proxy passes back."""
    return [(k, v) for k, v in headers if k.lower() not in _HOP]


def request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """What an ``/apis/<group>/<version>/...`` path addresses, for authorization, without knowing the
    backend's resources (``RequestInfoFactory``): ``/apis/<group>/<version>`` itself is a non-resource
    (discovery) request; ``namespaces/<ns>/`` scopes what follows (but a namespace's own subresources)."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    group, version, rest = parts[1], parts[2], [p for p in parts[3:] if p]
    verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, method.lower())
    if not rest:
        return RequestInfo(path=path, verb=verb, group=group, version=version)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    plural, name, sub = (rest + ["", ""])[:3]
    watch = query.get("watch") in ("true", "1")
    if method in ("GET", "HEAD"):
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    return RequestInfo(path=path, verb=verb, is_resource=True, group=group, version=version, plural=plural,
                       subresource=sub, namespace=namespace, name=name)
