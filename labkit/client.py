"""The components' own API client: async REST and watch over HTTPS with a component identity.

Plays the part of ``k8s.io/client-go`` (``rest.Interface`` and ``watch``) for labkit's scheduler,
controllers and kubelets: every component reaches the cluster state only through the API server,
authenticated by its own client certificate, exactly like the real ones. Learners use the official
``kubernetes`` package or kubectl instead. Left out: protobuf, rate limiting, informers (built on top
of :meth:`Client.watch` by the components that need them).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

Obj = dict[str, Any]


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


class Client:
    """An API client bound to one server and one identity (a client certificate)."""

    def __init__(self, server: str, *, ca_file: Path, cert_file: Path, key_file: Path, user_agent: str) -> None:
        self.server = server
        self._ssl = ssl.create_default_context(cafile=str(ca_file))
        self._ssl.load_cert_chain(str(cert_file), str(key_file))
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32),
                headers={"User-Agent": self._user_agent, "Accept": "application/json"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
                      content_type: str = "application/json") -> Obj:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(method, self.server + path, data=data, params=params, headers=headers) as resp:
            payload = await resp.read()
            obj = json.loads(payload) if payload else {}
            if resp.status >= 300:
                raise APIStatusError(resp.status, obj)
            return obj

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body=body)

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
        async with self.session.get(self.server + path, params=query, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            if resp.status >= 300:
                raise APIStatusError(resp.status, json.loads(await resp.read() or b"{}"))
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event["type"] == "ERROR":
                    raise APIStatusError(event["object"].get("code", 500), event["object"])
                yield event["type"], event["object"]
