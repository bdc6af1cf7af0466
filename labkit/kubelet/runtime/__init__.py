"""The container runtime interface the kubelet drives, shaped like Kubernetes' CRI.

Mirrors ``k8s.io/cri-api/pkg/apis/runtime/v1`` (``RuntimeService``: sandboxes, containers, status,
exec, attach, port-forward; ``ImageService``: pull): a pod is a *sandbox* (its network identity: one
IP for all its containers) plus containers started in it. The kubelet never knows which runtime it
talks to. Three implementations:

- ``docker``: real containers through the Docker SDK; the sandbox is a pause-like container whose
  network namespace the pod's containers join;
- ``process``: each container is a host process group; each pod gets its own loopback address;
- ``sim``: no processes at all, KWOK-style, for thousands of nodes.

``get_container_events`` is CRI's ``GetContainerEvents`` (docker and sim have it; the process runtime
is only relisted). ``list_container_stats`` is CRI's ``ListContainerStats`` (cumulative CPU and the
memory working set of each running container), what the kubelet's ``/metrics/resource`` is made from.
``container_cgroup`` reads one container's cgroup where it has one (its limits and CPU throttling), what
``/metrics/cadvisor`` and ``Cluster.cgroup`` show.

Left out: the gRPC transport, container checkpointing, pod sandbox stats, Windows; a container event
names only its pod (CRI's carries the pod's statuses, which the kubelet here reads itself).
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Literal

from labkit.kubelet.runtime.cgroups import Cgroup

#: labels every runtime object carries, so a crashed cluster's leftovers can be found and removed
LABEL_CLUSTER = "labkit.cluster"
LABEL_NODE = "labkit.node"
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
#: "true" on init containers (the sim runtime ends them at once; others ignore it)
LABEL_INIT_CONTAINER = "labkit.init-container"

#: called with a short human line while a slow step (an image build or pull) runs
ProgressFn = Callable[[str], None]

ContainerState = Literal["created", "running", "exited", "unknown"]


class CRIError(Exception):
    """A runtime call failed; ``reason`` is what the kubelet reports (e.g. ``CreateContainerError``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def port_forward_error(pod: str, ip: str, port: int, error: OSError) -> CRIError:
    """A port-forward connection the pod refused, in the words a kubelet uses (Go's dial error)."""
    cause = f"connect: {os.strerror(error.errno).lower()}" if error.errno else str(error)
    return CRIError("PortForwardError", f"error forwarding port {port} to pod {pod}: dial tcp4 {ip}:{port}: {cause}")


class ImagePullError(CRIError):
    """The image cannot be had (reason ``ErrImagePull``; the kubelet turns repeats into ``ImagePullBackOff``)."""

    def __init__(self, message: str) -> None:
        super().__init__("ErrImagePull", message)


@dataclasses.dataclass(frozen=True, slots=True)
class PortMapping:
    container_port: int
    protocol: str = "TCP"
    host_port: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class PodSandboxConfig:
    """What the runtime needs to create a pod's sandbox (``PodSandboxConfig``)."""

    name: str
    namespace: str
    uid: str
    node: str
    ip: str  # assigned by labkit's network (the CNI's job in Kubernetes)
    hostname: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ports: Sequence[PortMapping] = ()
    #: extra /etc/hosts entries (name -> ip) so Services resolve by name inside the pod
    hosts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    dns_search: Sequence[str] = ()
    dns_options: Sequence[str] = ()  # resolv.conf's ``options`` line


@dataclasses.dataclass(frozen=True, slots=True)
class Mount:
    container_path: str
    host_path: str
    read_only: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerConfig:
    """One container to create in a sandbox (``ContainerConfig``); limits already resolved."""

    name: str
    image: str
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    working_dir: str = ""
    mounts: Sequence[Mount] = ()
    cpu_limit_millis: int = 0  # 0 = no limit
    cpu_request_millis: int = 0
    memory_limit_bytes: int = 0  # 0 = no limit
    memory_request_bytes: int = 0
    oom_score_adj: int = 0  # by the pod's QoS class (labkit.kubelet.qos)
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    restart_count: int = 0  # attempt number, as the CRI metadata carries it


@dataclasses.dataclass(frozen=True, slots=True)
class ImageRef:
    """A pulled (or built) image: ``ref`` is what ``imageID`` reports; ``stand_in`` names what runs instead
    of ``image`` when the runtime substitutes it ("" when the image itself runs) and ``note`` says why;
    ``size`` in bytes, None where the runtime keeps no images (process, sim)."""

    image: str
    ref: str
    note: str = ""
    stand_in: str = ""
    size: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerStatus:
    id: str
    name: str
    sandbox_id: str
    state: ContainerState
    image: str = ""
    image_ref: str = ""
    created_at: float = 0.0  # unix seconds
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""  # OOMKilled, Error, Completed, ...
    message: str = ""
    attempt: int = 0
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxStatus:
    id: str
    name: str
    namespace: str
    uid: str
    ip: str
    state: Literal["ready", "notready"]
    created_at: float = 0.0
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerStats:
    """One running container's usage (CRI ``ContainerStats``), sampled at ``timestamp`` (unix seconds):
    CPU time used since it started (``usage_core_nano_seconds``) and its memory working set
    (``working_set_bytes``). ``name`` is the container's name in its pod; ``alias`` the runtime's
    name for it (Docker's container name), ``image`` the image its pod names."""

    id: str
    sandbox_id: str
    name: str
    started_at: float
    timestamp: float
    cpu_usage_core_nanoseconds: int
    memory_working_set_bytes: int
    alias: str = ""
    image: str = ""


class ExecSession(abc.ABC):
    """A running exec or attach: stdin in, stdout/stderr out, an exit code at the end."""

    @abc.abstractmethod
    async def write_stdin(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def close_stdin(self) -> None: ...

    @abc.abstractmethod
    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """``(stream, data)`` chunks until both streams end; stream 1 = stdout, 2 = stderr (a TTY merges them
        into 1)."""

    @abc.abstractmethod
    async def wait(self) -> int:
        """The exit code."""

    @abc.abstractmethod
    async def resize(self, width: int, height: int) -> None: ...

    @abc.abstractmethod
    async def kill(self) -> None: ...


class Runtime(abc.ABC):
    """The CRI a kubelet talks to. One instance per node; every call is async."""

    name: str = ""
    #: no processes behind the containers (sim): the kubelet treats every probe as passing
    simulated: bool = False
    #: why CPU/memory limits are not enforced, in one line ("" when they are): the kubelet warns on pods
    #: that set them
    limits_not_enforced: str = ""

    # --- images ---
    @abc.abstractmethod
    async def pull_image(self, image: str, *, progress: ProgressFn | None = None) -> ImageRef:
        """Make ``image`` available; raise :class:`ImagePullError` when it cannot be had."""

    # --- sandboxes ---
    @abc.abstractmethod
    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...

    @abc.abstractmethod
    async def stop_pod_sandbox(self, sandbox_id: str) -> None: ...

    @abc.abstractmethod
    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...

    @abc.abstractmethod
    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        """This node's sandboxes (so a restarted kubelet adopts them)."""

    # --- containers ---
    @abc.abstractmethod
    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: PodSandboxConfig) -> str: ...

    @abc.abstractmethod
    async def start_container(self, container_id: str) -> None: ...

    @abc.abstractmethod
    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""

    @abc.abstractmethod
    async def remove_container(self, container_id: str) -> None: ...

    @abc.abstractmethod
    async def container_status(self, container_id: str) -> ContainerStatus: ...

    @abc.abstractmethod
    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    @abc.abstractmethod
    async def list_container_stats(self) -> list[ContainerStats]:
        """The usage of this node's running containers (``ListContainerStats``)."""

    async def get_container_events(self, on_event: Callable[[str], None], connected: Callable[[], None]) -> None:
        """CRI's ``GetContainerEvents``, a stream the kubelet's Evented PLEG reads: ``on_event`` is called
        with a pod's UID when one of its containers or its sandbox starts, exits or is removed, from the
        time ``connected`` is called. Runs until cancelled; raises :class:`CRIError` when the stream
        fails or ends (``Unimplemented``: this runtime has none, and the kubelet only relists it)."""
        raise CRIError("Unimplemented", f"the {self.name} runtime reports no container events")

    async def container_cgroup(self, container_id: str) -> Cgroup:
        """The cgroup of a running container: its limits and throttling counters."""
        raise CRIError("Unimplemented", f"the {self.name} runtime gives containers no cgroup of their own")

    # --- streaming ---
    @abc.abstractmethod
    def logs(self, container_id: str, *, follow: bool = False, tail_lines: int | None = None,
             since_seconds: int | None = None, timestamps: bool = False,
             limit_bytes: int | None = None) -> AsyncIterator[bytes]:
        """The container's output (stdout and stderr interleaved), as ``kubectl logs`` shows it."""

    @abc.abstractmethod
    async def exec(self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool) -> ExecSession: ...

    @abc.abstractmethod
    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> ExecSession: ...

    @abc.abstractmethod
    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` inside the pod's network namespace."""

    async def open_connection(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection from this node's network (where the kubelet's probes come from)."""
        return await asyncio.open_connection(host, port)

    # --- lifecycle ---
    async def cleanup(self) -> None:  # noqa: B027 - a default no-op, for runtimes that leave nothing behind
        """Remove everything this runtime created for its cluster (on stop, and leftovers on start)."""

    async def close(self) -> None:  # noqa: B027 - a default no-op, for runtimes that hold no client
        """Release client resources (not the containers: see :meth:`cleanup`)."""

