"""The kubelet's API: logs, exec, attach and port-forward for the API server, ``/metrics/resource``
for metrics-server, ``/metrics/cadvisor``.

Mirrors ``pkg/kubelet/server/server.go`` (``/containerLogs``, ``/exec``, ``/attach``,
``/portForward``) and the container lookups of ``pkg/kubelet/kubelet_pods.go``
(``validateContainerLogStatus``): a (namespace, pod, container, previous) request becomes a runtime
container id, with the errors kube gives when there is none. Implements
:class:`labkit.apiserver.streaming.kubelet_api.KubeletAPI`, called in-process by the API server.
``/metrics/resource`` is :mod:`labkit.kubelet.resourcemetrics`, ``/metrics/cadvisor``
:mod:`labkit.kubelet.cadvisormetrics`. Left out: HTTPS on port 10250 and its
authentication, ``sinceTime``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apiserver.streaming.kubelet_api import KubeletError
from labkit.kubelet import cadvisormetrics
from labkit.kubelet.kubelet import Kubelet
from labkit.kubelet.resourcemetrics import ResourceMetrics
from labkit.kubelet.runtime import CRIError, ExecSession
from labkit.kubelet.runtime.cgroups import Cgroup


def _bad(message: str) -> KubeletError:
    return KubeletError(400, "BadRequest", message)


class KubeletServer:
    """One kubelet's streaming endpoints."""

    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet
        self.resource_metrics = ResourceMetrics(kubelet.runtime)

    async def metrics_resource(self) -> str:
        """``GET /metrics/resource``: the Prometheus text of the node's and its containers' usage."""
        return await self.resource_metrics.collect()

    async def metrics_cadvisor(self) -> str:
        """``GET /metrics/cadvisor``: the Prometheus text of its containers' CPU throttling."""
        return await cadvisormetrics.collect(self.kubelet.runtime)

    async def container_cgroup(self, namespace: str, pod: str, container: str = "") -> Cgroup:
        """The cgroup of a running container of the pod (for :meth:`labkit.Cluster.cgroup`; no kubelet path)."""
        container_id = await self._container_id(namespace, pod, container, running=True)
        try:
            return await self.kubelet.runtime.container_cgroup(container_id)
        except CRIError as e:
            raise _bad(e.message) from e

    def _worker(self, namespace: str, pod: str) -> Any:
        for w in self.kubelet.workers.workers.values():
            meta = w.pod["metadata"]
            if meta["namespace"] == namespace and meta["name"] == pod:
                return w
        raise KubeletError(404, "NotFound", f'pods "{pod}" not found')

    @staticmethod
    def _container_name(p: Obj, container: str) -> str:
        spec = p.get("spec", {})
        names = [c["name"] for kind in ("initContainers", "containers") for c in spec.get(kind) or []]
        if not container:
            regular = [c["name"] for c in spec.get("containers", [])]
            if len(regular) == 1:
                return regular[0]
            raise _bad(f"a container name must be specified for pod {p['metadata']['name']}, "
                       f"choose one of: [{' '.join(regular)}]")
        if container not in names:
            raise _bad(f"container {container} is not valid for pod {p['metadata']['name']}")
        return container

    async def _container_id(self, namespace: str, pod: str, container: str, *, previous: bool = False,
                            running: bool = False) -> str:
        worker = self._worker(namespace, pod)
        name = self._container_name(worker.pod, container)
        state = worker.state
        attempts = (await self.kubelet._containers_by_name(state)).get(name, []) if state.sandbox_id else []
        if previous:
            dead = attempts[1] if len(attempts) > 1 else None
            if dead is None:
                raise _bad(f'previous terminated container "{name}" in pod "{pod}" not found')
            return dead.id
        if not attempts:
            default = "PodInitializing" if _initializing(worker.pod) and name not in _init_names(worker.pod) \
                else "ContainerCreating"
            reason = state.waiting.get(name, (default,))[0]
            raise _bad(f'container "{name}" in pod "{pod}" is waiting to start: {reason}')
        if running and attempts[0].state != "running":
            raise _bad(f"container {name} is not running (state: {attempts[0].state})")
        return attempts[0].id

    async def logs(self, namespace: str, pod: str, container: str, *, follow: bool = False,
                   tail_lines: int | None = None, since_seconds: int | None = None, timestamps: bool = False,
                   previous: bool = False, limit_bytes: int | None = None) -> AsyncIterator[bytes]:
        cid = await self._container_id(namespace, pod, container, previous=previous)
        try:
            async for chunk in self.kubelet.runtime.logs(cid, follow=follow and not previous, tail_lines=tail_lines,
                                                         since_seconds=since_seconds, timestamps=timestamps,
                                                         limit_bytes=limit_bytes):
                yield chunk
        except CRIError as e:
            raise _bad(e.message) from e

    async def exec(self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool,
                   stdin: bool) -> ExecSession:
        cid = await self._container_id(namespace, pod, container, running=True)
        try:
            return await self.kubelet.runtime.exec(cid, command, tty=tty, stdin=stdin)
        except CRIError as e:
            raise _bad(e.message) from e

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool) -> ExecSession:
        cid = await self._container_id(namespace, pod, container, running=True)
        try:
            return await self.kubelet.runtime.attach(cid, tty=tty, stdin=stdin)
        except CRIError as e:
            raise _bad(e.message) from e

    async def port_forward(self, namespace: str, pod: str,
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        worker = self._worker(namespace, pod)
        if not worker.state.sandbox_id:
            raise _bad(f"pod {pod} does not have a sandbox yet")
        try:
            return await self.kubelet.runtime.port_forward(worker.state.sandbox_id, port)
        except CRIError as e:
            raise KubeletError(500, "InternalError", e.message) from e


def _init_names(pod: Obj) -> set[str]:
    return {c["name"] for c in pod.get("spec", {}).get("initContainers") or []}


def _initializing(pod: Obj) -> bool:
    return any(not s.get("ready") for s in pod.get("status", {}).get("initContainerStatuses") or [])
