"""The ``sim`` runtime: containers without processes, KWOK-style, for clusters of thousands of nodes.

Plays the part KWOK's fake kubelet plays (``kubernetes-sigs/kwok``, ``pkg/kwok/controllers``): pods go
through the kubelet's real pod worker, status and events, but nothing runs. A container is
``created`` at once and ``running`` after :attr:`SimRuntime.start_delay` seconds (a timer, no task
or thread); init containers then exit 0 at once. A regular container exits only when its pod asks,
with annotations (read when the sandbox is created):

- ``labkit.dev/sim-run-seconds: "2.5"``: each regular container exits this long after it started;
- ``labkit.dev/sim-exit-code: "1"``: the exit code it exits with (default ``0``; ``137`` reports
  ``OOMKilled`` so that lesson can be shown too). An exit code alone means "exit at once".

What containers use (:meth:`SimRuntime.list_container_stats`, for the kubelet's ``/metrics/resource``)
is a model a lesson sets, since nothing runs: each regular container uses a steady CPU rate and a
fixed working set,

- ``labkit.dev/sim-cpu: "250m"`` and ``labkit.dev/sim-memory: "64Mi"`` on the pod (a Deployment's
  template gives every replica the same), read when the sandbox is created; else :data:`IDLE_CPU` and
  :data:`IDLE_MEMORY`;
- :meth:`SimRuntime.set_usage` (``Cluster.set_sim_usage``) changes a running pod's use from now on;
- a load shared by the pods behind a selector (``Cluster.set_sim_load``, :mod:`.simload`) adds CPU
  to each, less per pod as there are more of them.

CPU time accumulates at the rate in force, so a rate of 500m shows as 500m between two scrapes.

Starts and exits are reported as they happen (:meth:`SimRuntime.get_container_events`), so the
kubelet relists a sim node only as rarely as kube's Evented PLEG does. Logs are one synthetic line
per container; exec, attach and port-forward fail with "the sim runtime has no processes". Per-node
cost is a few dicts, so one process holds thousands of nodes; above a hundred of them the kubelets
also share one pod watch (:mod:`labkit.kubelet.simpods`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from fractions import Fraction

from labkit.apimachinery.resource import QuantityError, parse_quantity, to_bytes
from labkit.kubelet.runtime import (
    LABEL_INIT_CONTAINER,
    ContainerConfig,
    ContainerStats,
    ContainerStatus,
    CRIError,
    ExecSession,
    ImagePullError,
    ImageRef,
    PodSandboxConfig,
    ProgressFn,
    Runtime,
    SandboxStatus,
)
from labkit.kubelet.runtime.simload import SimLoads

ANNOTATION_RUN_SECONDS = "labkit.dev/sim-run-seconds"
ANNOTATION_EXIT_CODE = "labkit.dev/sim-exit-code"
ANNOTATION_CPU = "labkit.dev/sim-cpu"
ANNOTATION_MEMORY = "labkit.dev/sim-memory"
#: what a container uses when its pod says nothing: little, but never zero (metrics-server drops a
#: container whose CPU time or memory reads 0, and the whole pod with it)
IDLE_CPU = "1m"
IDLE_MEMORY = "4Mi"
NO_PROCESSES = "the sim runtime has no processes"
_ids = itertools.count(1)


@dataclasses.dataclass
class _Usage:
    """One container's modelled use: ``cores`` of CPU of its own and ``load`` more from a load
    generator, ``memory`` bytes; ``cpu_seconds`` used up to ``since`` (unix seconds), while it ran."""

    cores: Fraction
    memory: int
    load: Fraction = Fraction(0)
    cpu_seconds: Fraction = Fraction(0)
    since: float = 0.0

    def cpu_at(self, now: float) -> Fraction:
        return self.cpu_seconds + (self.cores + self.load) * Fraction(max(now - self.since, 0.0))

    def settle(self, now: float) -> None:
        """Count the CPU time used so far, before its rate changes."""
        self.cpu_seconds, self.since = self.cpu_at(now), now


class SimRuntime(Runtime):
    """A node's simulated containers. Images ending in ``:invalid`` (or named ``invalid/...``) fail to pull.
    ``clock``: unix seconds, for every timestamp it reports (a test's fake clock gives exact rates);
    ``loads``: the cluster's load generators, which this runtime joins."""

    name = "sim"
    simulated = True

    def __init__(self, *, node: str = "", start_delay: float = 0.05, clock: Callable[[], float] = time.time,
                 loads: SimLoads | None = None) -> None:
        self.node = node
        self.start_delay = start_delay
        self.clock = clock
        self.loads = loads or SimLoads()
        self.loads.runtimes.append(self)
        self._usage: dict[str, _Usage] = {}  # container id -> its use
        #: (namespace, pod) -> container name ("" for all) -> (cores, bytes) set by :meth:`set_usage`
        self._set_usage: dict[tuple[str, str], dict[str, tuple[Fraction, int]]] = {}
        self._sandboxes: dict[str, tuple[PodSandboxConfig, SandboxStatus]] = {}
        self._containers: dict[str, ContainerStatus] = {}
        self._exit_plans: dict[str, tuple[float | None, int]] = {}  # container id -> (run seconds, exit code)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._on_event: Callable[[str], None] | None = None  # the kubelet's, while it reads container events

    async def pull_image(self, image: str, *, progress: ProgressFn | None = None) -> ImageRef:
        if image.endswith(":invalid") or image.startswith("invalid/"):
            raise ImagePullError("rpc error: code = NotFound desc = "
                                 f'failed to pull and unpack image "{image}": not found')
        return ImageRef(image=image, ref=f"sim://{image}")

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        sid = f"sim-sandbox-{next(_ids)}"
        self._sandboxes[sid] = (config, SandboxStatus(id=sid, name=config.name, namespace=config.namespace,
                                                      uid=config.uid, ip=config.ip, state="ready",
                                                      created_at=self.clock(), labels=dict(config.labels)))
        self._emit(sid)  # the sandbox started, as containerd reports it
        return sid

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        for c in list(self._containers.values()):
            if c.sandbox_id == sandbox_id:
                await self.stop_container(c.id, 0)
        if sandbox_id in self._sandboxes:
            config, status = self._sandboxes[sandbox_id]
            self._sandboxes[sandbox_id] = (config, dataclasses.replace(status, state="notready"))

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        for c in [c for c in self._containers.values() if c.sandbox_id == sandbox_id]:
            await self.remove_container(c.id)
        removed = self._sandboxes.pop(sandbox_id, None)
        if removed is not None:  # a new pod of the same name starts from its own annotations
            self._set_usage.pop((removed[0].namespace, removed[0].name), None)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        return [status for _, status in self._sandboxes.values()]

    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: PodSandboxConfig) -> str:
        if sandbox_id not in self._sandboxes:
            raise CRIError("CreateContainerError", f"sandbox {sandbox_id} not found")
        cid = f"sim-{next(_ids)}"
        self._containers[cid] = ContainerStatus(id=cid, name=config.name, sandbox_id=sandbox_id, state="created",
                                                image=config.image, image_ref=f"sim://{config.image}",
                                                created_at=self.clock(), attempt=config.restart_count,
                                                labels=dict(config.labels))
        if config.labels.get(LABEL_INIT_CONTAINER) == "true":
            self._exit_plans[cid] = (0.0, 0)
        else:
            try:
                self._usage[cid] = _Usage(*self._planned_usage(sandbox, config.name))
            except QuantityError as e:
                del self._containers[cid]
                raise CRIError("CreateContainerError", f"{ANNOTATION_CPU} or {ANNOTATION_MEMORY}: {e}") from e
            run, code = sandbox.annotations.get(ANNOTATION_RUN_SECONDS), sandbox.annotations.get(ANNOTATION_EXIT_CODE)
            if run is not None or code is not None:
                self._exit_plans[cid] = (float(run or 0), int(code or 0))
        return cid

    def _planned_usage(self, sandbox: PodSandboxConfig, container: str) -> tuple[Fraction, int]:
        """What a new container of ``sandbox`` uses: as set for its pod, else as annotated, else idle."""
        chosen = self._set_usage.get((sandbox.namespace, sandbox.name), {})
        if container in chosen or "" in chosen:
            return chosen.get(container, chosen.get(""))  # type: ignore[return-value]  # one of the two is there
        notes = sandbox.annotations
        return (parse_quantity(notes.get(ANNOTATION_CPU, IDLE_CPU)).amount,
                to_bytes(notes.get(ANNOTATION_MEMORY, IDLE_MEMORY)))

    def set_usage(self, namespace: str, pod: str, *, cpu: str | None = None, memory: str | None = None,
                  container: str = "") -> int:
        """From now on the pod's containers (or the one named) use ``cpu`` (a quantity: ``"500m"``) and
        ``memory`` (``"64Mi"``); what is not given stays. Its next containers (restarts) use it too.
        Returns how many running containers of the pod this node has (0: the pod is not here)."""
        sandboxes = {sid: config for sid, (config, status) in self._sandboxes.items()
                     if (config.namespace, config.name) == (namespace, pod) and status.state == "ready"}
        if not sandboxes:
            return 0

        def chosen(cores: Fraction, bytes_: int) -> tuple[Fraction, int]:
            return (parse_quantity(cpu).amount if cpu is not None else cores,
                    to_bytes(memory) if memory is not None else bytes_)

        now = self.clock()
        running = 0
        for cid, c in self._containers.items():
            usage = self._usage.get(cid)
            if c.sandbox_id not in sandboxes or usage is None or (container and c.name != container):
                continue
            if c.state == "running":
                usage.settle(now)
                running += 1
            usage.cores, usage.memory = chosen(usage.cores, usage.memory)
        planned = self._planned_usage(next(iter(sandboxes.values())), container)
        if not container:  # the whole pod: what was set for one of its containers is overridden
            self._set_usage.pop((namespace, pod), None)
        self._set_usage.setdefault((namespace, pod), {})[container] = chosen(*planned)
        return running

    def running_pods(self) -> list[tuple[str, dict[str, str], list[str]]]:
        """(namespace, labels, ids of its running regular containers) of each pod running here."""
        by_sandbox: dict[str, list[str]] = {}
        for cid, c in self._containers.items():
            if c.state == "running" and cid in self._usage:
                by_sandbox.setdefault(c.sandbox_id, []).append(cid)
        return [(config.namespace, dict(config.labels), by_sandbox[sid])
                for sid, (config, _) in self._sandboxes.items() if sid in by_sandbox]

    def set_loads(self, loads: dict[str, Fraction]) -> None:
        """Each container's share of the load generators from now on (container id -> cores; 0 if absent)."""
        now = self.clock()
        for cid, usage in self._usage.items():
            load = loads.get(cid, Fraction(0))
            if load != usage.load:
                usage.settle(now)
                usage.load = load

    async def list_container_stats(self) -> list[ContainerStats]:
        now = self.clock()
        return [ContainerStats(id=cid, sandbox_id=c.sandbox_id, name=c.name, started_at=c.started_at, timestamp=now,
                               cpu_usage_core_nanoseconds=int(usage.cpu_at(now) * 1_000_000_000),
                               memory_working_set_bytes=usage.memory)
                for cid, c in self._containers.items()
                if c.state == "running" and (usage := self._usage.get(cid)) is not None]

    async def start_container(self, container_id: str) -> None:
        if container_id not in self._containers:
            raise CRIError("StartError", f"container {container_id} not found")
        loop = asyncio.get_running_loop()
        self._timers[container_id] = loop.call_later(self.start_delay, self._started, container_id)

    def _started(self, cid: str) -> None:
        c = self._containers.get(cid)
        if c is None or c.state != "created":
            return
        self._containers[cid] = dataclasses.replace(c, state="running", started_at=self.clock())
        self._emit(c.sandbox_id)
        if cid in self._usage:
            self._usage[cid].since = self.clock()
            if self.loads.loads:  # one more pod to share them
                self.loads.spread()
        plan = self._exit_plans.get(cid)
        if plan is not None:
            run, code = plan
            self._timers[cid] = asyncio.get_running_loop().call_later(run or 0, self._exited, cid, code)

    def _exited(self, cid: str, code: int) -> None:
        c = self._containers.get(cid)
        if c is None or c.state not in ("created", "running"):
            return
        reason = "Completed" if code == 0 else "OOMKilled" if code == 137 else "Error"
        used = self._usage.pop(cid, None)
        self._containers[cid] = dataclasses.replace(c, state="exited", exit_code=code, reason=reason,
                                                    finished_at=self.clock(), started_at=c.started_at or self.clock())
        self._timers.pop(cid, None)
        self._emit(c.sandbox_id)
        if used is not None and self.loads.loads:  # one fewer pod to share them
            self.loads.spread()

    def _emit(self, sandbox_id: str) -> None:
        if self._on_event is not None and sandbox_id in self._sandboxes:
            self._on_event(self._sandboxes[sandbox_id][0].uid)

    async def get_container_events(self, on_event: Callable[[str], None], connected: Callable[[], None]) -> None:
        """Every sandbox's start and container's start and exit as it happens: nothing but this runtime
        changes its containers, so the stream misses none and never fails."""
        self._on_event = on_event
        connected()
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            if self._on_event is on_event:
                self._on_event = None

    async def stop_container(self, container_id: str, timeout: float) -> None:
        timer = self._timers.pop(container_id, None)
        if timer is not None:
            timer.cancel()
        self._exited(container_id, 137 if timeout <= 0 else 143)

    async def remove_container(self, container_id: str) -> None:
        timer = self._timers.pop(container_id, None)
        if timer is not None:
            timer.cancel()
        self._containers.pop(container_id, None)
        self._exit_plans.pop(container_id, None)
        self._usage.pop(container_id, None)

    async def container_status(self, container_id: str) -> ContainerStatus:
        try:
            return self._containers[container_id]
        except KeyError:
            raise CRIError("NotFound", f"container {container_id} not found") from None

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [c for c in self._containers.values() if sandbox_id is None or c.sandbox_id == sandbox_id]

    async def logs(self, container_id: str, *, follow: bool = False, tail_lines: int | None = None,
                   since_seconds: int | None = None, timestamps: bool = False,
                   limit_bytes: int | None = None) -> AsyncIterator[bytes]:
        c = await self.container_status(container_id)
        line = f"labkit sim: container {c.name} ({c.image}) has no process, so no output\n".encode()
        if tail_lines != 0:
            yield line[:limit_bytes] if limit_bytes else line

    async def exec(self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool) -> ExecSession:
        raise CRIError("NotSupported", NO_PROCESSES)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> ExecSession:
        raise CRIError("NotSupported", NO_PROCESSES)

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise CRIError("NotSupported", NO_PROCESSES)

    async def cleanup(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._containers.clear()
        self._sandboxes.clear()
        self._exit_plans.clear()
        self._usage.clear()
        self._set_usage.clear()
        if self in self.loads.runtimes:
            self.loads.runtimes.remove(self)
