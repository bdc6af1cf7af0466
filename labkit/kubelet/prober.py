"""Liveness, readiness and startup probes: ``pkg/kubelet/prober`` (``worker.go``, ``prober.go``,
``results``) and ``pkg/probe/{exec,http,tcp}``.

One :class:`ProbeWorker` per probe of a running container: it waits ``initialDelaySeconds``, then
probes every ``periodSeconds`` with ``timeoutSeconds``; the result flips only after
``failureThreshold`` failures or ``successThreshold`` successes in a row. Liveness starts as
success, readiness as failure, startup as unknown; liveness and readiness wait until the startup
probe has succeeded. Each failure is an ``Unhealthy`` event; a change of result wakes the pod worker,
which restarts the container on a liveness failure. Left out: gRPC probes, ``terminationGracePeriodSeconds``
on probes, HTTPS certificate checks (kube skips them too), probe metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from labkit.apimachinery.meta import Obj
from labkit.kubelet.runtime import CRIError, Runtime

ProbeKind = Literal["liveness", "readiness", "startup"]
INITIAL = {"liveness": True, "readiness": False, "startup": None}


def resolve_port(port: Any, container: Obj) -> int:
    """A probe's port number, or a named container port."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port: {port} in {container['name']}")


async def run_probe(probe: Obj, *, container: Obj, container_id: str, pod_ip: str,
                    runtime: Runtime) -> tuple[bool, str]:
    """Probe once: ``(success, output)`` (the output is what a failure's event message shows)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "exec" in probe:
            session = await runtime.exec(container_id, probe["exec"].get("command") or [], tty=False, stdin=False)

            async def collect() -> tuple[int, bytes]:
                out = b"".join([chunk async for _, chunk in session.output()])
                return await session.wait(), out
            try:
                code, out = await asyncio.wait_for(collect(), timeout)
            except TimeoutError:
                await session.kill()
                return False, f"command {probe['exec'].get('command')!r} timed out"
            return code == 0, out.decode(errors="replace").strip() or f"command exited with {code}"
        if "httpGet" in probe:
            get = probe["httpGet"]
            host, port = get.get("host") or pod_ip, resolve_port(get["port"], container)
            url = f"{get.get('scheme', 'HTTP').lower()}://{host}:{port}{get.get('path', '/')}"
            return await asyncio.wait_for(_http_get(runtime, host, port, get.get("path", "/"), url), timeout)
        if "tcpSocket" in probe:
            host, port = probe["tcpSocket"].get("host") or pod_ip, resolve_port(probe["tcpSocket"]["port"], container)
            try:
                _, writer = await asyncio.wait_for(runtime.open_connection(host, port), timeout)
            except OSError:
                return False, f"dial tcp {host}:{port}: connect: connection refused"
            writer.close()
            return True, ""
        return False, "probe has no handler (exec, httpGet or tcpSocket)"
    except TimeoutError:
        return False, "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    except (CRIError, ValueError) as e:
        return False, str(e)


async def _http_get(runtime: Runtime, host: str, port: int, path: str, url: str) -> tuple[bool, str]:
    try:
        reader, writer = await runtime.open_connection(host, port)
    except OSError:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\n\r\n".encode())
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
    parts = line.split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


@dataclasses.dataclass
class ProbeWorker:
    """Probes one container with one probe until stopped; :attr:`result` is what the kubelet reads."""

    kind: ProbeKind
    probe: Obj
    container: Obj
    container_id: str
    pod_ip: str
    runtime: Runtime
    on_failure: Callable[[str], None]  # the Unhealthy event
    on_change: Callable[[], None]  # wake the pod worker
    startup_done: Callable[[], bool]
    result: bool | None = None
    task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.result = INITIAL[self.kind]

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"probe:{self.kind}:{self.container_id}")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _run(self) -> None:
        await asyncio.sleep(float(self.probe.get("initialDelaySeconds", 0)))
        period = max(float(self.probe.get("periodSeconds", 10)), 0.1)
        streak, streak_ok = 0, None
        while True:
            if self.kind == "startup" or self.startup_done():
                ok, output = await run_probe(self.probe, container=self.container, container_id=self.container_id,
                                             pod_ip=self.pod_ip, runtime=self.runtime)
                if not ok:
                    self.on_failure(f"{self.kind.capitalize()} probe failed: {output}")
                streak = streak + 1 if ok == streak_ok else 1
                streak_ok = ok
                threshold = int(self.probe.get("successThreshold", 1) if ok else self.probe.get("failureThreshold", 3))
                if streak >= threshold and self.result is not ok:
                    self.result = ok
                    self.on_change()
                if self.kind == "startup" and self.result:
                    return  # a startup probe stops once it has succeeded
            await asyncio.sleep(period)
