"""The components' own API client: async REST and watch over HTTPS with a component identity.

Plays the part of ``k8s.io/client-go`` (``rest.Interface`` and ``watch``) for labkit's scheduler,
controllers and kubelets: every component reaches the cluster state only through the API server,
authenticated by its own client certificate or bearer token, exactly like the real ones. Clients that
authenticate with a token can share one :class:`ConnectionPool` (client-go's shared ``http.Transport``):
the token travels with every request, so many identities ride the same TLS connections, as when one
process such as KWOK acts for thousands of nodes. Learners use the official ``kubernetes`` package or
kubectl instead. Left out: protobuf, rate limiting, informers (built on top of :meth:`Client.watch` by
the components that need them).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from labkit import codec, transport
from labkit.apimachinery.meta import Obj


class APIStatusError(Exception):
    """A non-2xx answer; ``status`` is the server's Status object."""

    def __init__(self, code: int, status: Obj) -> None:
        super().__init__(f"{code} {status.get('reason', '')}: {status.get('message', '')}")
        self.code = code
        self.reason = status.get("reason", "")
        self.status = status


def resource_path(api_version: str, plural: str, *, namespace: str = "", name: str = "", subresource: str = "") -> str:
    """``/api/v1/namespaces/default/pods/web/status`` and friends."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


def _session(connector: aiohttp.BaseConnector, owner: bool, headers: dict[str, str]) -> aiohttp.ClientSession:
    """A session for watches: the API server sets no cookies and compresses nothing, so aiohttp's work
    for both is skipped."""
    return aiohttp.ClientSession(connector=connector, connector_owner=owner, headers=headers,
                                 cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)


class ConnectionPool:
    """TLS connections to one server (trusting ``ca_file``, no client certificate) shared by token clients.

    Requests share at most ``limit`` connections (so a thousand clients starting at once do not open a
    thousand); every watch holds a connection of its own, apart from them. Whoever creates the pool
    closes it, after the clients that use it.
    """

    def __init__(self, *, ca_file: Path, limit: int = 32) -> None:
        self.ssl = ssl.create_default_context(cafile=str(ca_file))
        self.limit = limit
        self._requests: transport.Pool | None = None
        self._watches: aiohttp.TCPConnector | None = None

    def requests(self, server: str) -> transport.Pool:
        if self._requests is None or self._requests.closed:
            self._requests = transport.Pool(server, self.ssl, limit=self.limit)
        return self._requests

    @property
    def watches(self) -> aiohttp.TCPConnector:
        if self._watches is None or self._watches.closed:
            self._watches = aiohttp.TCPConnector(ssl=self.ssl, limit=0)
        return self._watches

    async def close(self) -> None:
        if self._requests is not None:
            await self._requests.close()
        if self._watches is not None:
            await self._watches.close()


class Client:
    """An API client bound to one server and one identity: a client certificate (``cert_file`` and
    ``key_file``, on connections of its own) or a bearer ``token`` (on the connections of ``pool``, or
    of its own when no pool is given). Requests go through :mod:`labkit.transport`, watches through
    aiohttp."""

    def __init__(self, server: str, *, ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None,
                 token: str | None = None, pool: ConnectionPool | None = None, user_agent: str) -> None:
        if (cert_file is None) != (key_file is None) or (cert_file is None) == (token is None):
            raise ValueError("a Client authenticates with either cert_file and key_file, or a token")
        if pool is not None and token is None:
            raise ValueError("only token clients share a ConnectionPool (a certificate belongs to its connection)")
        self.server = server
        self._pool = pool
        if pool is None:
            self._ssl = ssl.create_default_context(cafile=str(ca_file))
            if cert_file is not None and key_file is not None:
                self._ssl.load_cert_chain(str(cert_file), str(key_file))
        self._headers = {"User-Agent": user_agent, "Accept": "application/json",
                         **({"Authorization": f"Bearer {token}"} if token else {})}
        self._header_lines = "".join(f"{k}: {v}\r\n" for k, v in self._headers.items()).encode()
        self._requests: transport.Pool | None = None
        self._watch_session: aiohttp.ClientSession | None = None

    @property
    def requests(self) -> transport.Pool:
        """The connections requests go out on: the shared pool's, or this client's own."""
        if self._pool is not None:
            return self._pool.requests(self.server)
        if self._requests is None or self._requests.closed:
            self._requests = transport.Pool(self.server, self._ssl)
        return self._requests

    @property
    def watch_session(self) -> aiohttp.ClientSession:
        """The session watches use: the pool's watch connections, or this client's own."""
        if self._watch_session is None or self._watch_session.closed:
            if self._pool is not None:
                connector, owner = self._pool.watches, False
            else:
                connector, owner = aiohttp.TCPConnector(ssl=self._ssl, limit=0), True
            self._watch_session = _session(connector, owner, self._headers)
        return self._watch_session

    async def close(self) -> None:
        if self._requests is not None:
            await self._requests.close()
        if self._watch_session is not None:
            await self._watch_session.close()

    async def request(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
                      content_type: str = "application/json") -> Obj:
        data = None if body is None else codec.dumps(body)
        status, payload = await self.requests.request(method, path, params=params, headers=self._header_lines,
                                                      body=data, content_type=content_type)
        obj = codec.loads(payload) if payload else {}
        if status >= 300:
            raise APIStatusError(status, obj)
        return obj

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body=body)

    async def create_missing(self, objects: Iterable[tuple[str, str, str, Obj]]) -> None:
        """Create each (apiVersion, plural, namespace, object) that does not exist yet: what an add-on's
        manifest does when applied again (an object already there is left as it is)."""
        for api_version, plural, namespace, obj in objects:
            try:
                await self.create(resource_path(api_version, plural, namespace=namespace), obj)
            except APIStatusError as e:
                if e.code != 409:
                    raise

    async def update(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body=body)

    async def patch(self, path: str, body: Any, *, patch_type: str = "application/merge-patch+json") -> Obj:
        return await self.request("PATCH", path, body=body, content_type=patch_type)

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body=body)

    async def watch(self, path: str, *, resource_version: str = "", **params: str) -> AsyncIterator[tuple[str, Obj]]:
        """Yield ``(type, object)`` events; an ERROR event is raised as :class:`APIStatusError`."""
        query = {"watch": "true", "allowWatchBookmarks": "true", **params}
        if resource_version:
            query["resourceVersion"] = resource_version
        async with self.watch_session.get(self.server + path, params=query,
                                          timeout=aiohttp.ClientTimeout(total=None)) as resp:
            if resp.status >= 300:
                raise APIStatusError(resp.status, codec.loads(await resp.read() or b"{}"))
            async for line in resp.content:
                if not line.strip():
                    continue
                event = codec.loads(line)
                if event["type"] == "ERROR":
                    raise APIStatusError(event["object"].get("code", 500), event["object"])
                yield event["type"], event["object"]
