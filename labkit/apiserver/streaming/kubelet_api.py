"""What the API server (the streaming pod subresources) and metrics-server need from a node's kubelet.

Mirrors the kubelet's streaming endpoints (``pkg/kubelet/server/server.go``: ``/containerLogs``,
``/exec``, ``/attach``, ``/portForward``) that kube-apiserver proxies to
(``pkg/registry/core/pod/rest/log.go``, ``subresources.go``). Real Kubernetes reaches them over HTTPS
on the node's port 10250 and proxies the upgraded connection byte for byte; labkit's API server calls
the kubelet in-process through this interface and speaks the client protocols itself; labkit's
metrics-server scrapes ``/metrics/resource`` through it too. Left out: the
kubelet's own authentication of the API server, and ``sinceTime``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the kubelet package may import this one: no import cycle at run time
    from labkit.kubelet.runtime import ExecSession


class KubeletError(Exception):
    """The kubelet refused a streaming request; the API server answers it as a ``Status``."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


class KubeletAPI(Protocol):
    """One node's kubelet, as the API server sees it."""

    def logs(self, namespace: str, pod: str, container: str, *, follow: bool, tail_lines: int | None,
             since_seconds: int | None, timestamps: bool, previous: bool,
             limit_bytes: int | None) -> AsyncIterator[bytes]:
        """The container's log; with ``follow`` it ends only when the container does."""
        ...

    async def exec(self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool,
                   stdin: bool) -> ExecSession: ...

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool) -> ExecSession: ...

    async def port_forward(self, namespace: str, pod: str,
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` in the pod's network namespace."""
        ...

    async def metrics_resource(self) -> str:
        """``GET /metrics/resource``: the node's and its containers' CPU and memory, Prometheus text."""
        ...

    async def metrics_cadvisor(self) -> str:
        """``GET /metrics/cadvisor``: its containers' CPU throttling, Prometheus text."""
        ...
