"""The Docker runtime: pods as real containers, through the Docker SDK.

Mirrors dockershim (``pkg/kubelet/dockershim`` before Kubernetes 1.24, now ``cri-dockerd``): a pod
is a *sandbox* container running a pause program, which owns the pod's network namespace, IP,
hostname and /etc/hosts; the pod's containers join it with ``network_mode=container:<sandbox>``
(and its IPC namespace). Names follow dockershim's ``k8s_<container>_<pod>_<namespace>_<uid>_<attempt>``
and the same ``io.kubernetes.*`` labels, so ``docker ps`` reads like a node's.

Networking is one bridge per cluster (:class:`DockerNetwork`): every node's pods sit on it, so pods
reach each other by IP across "nodes", and the host reaches them through the bridge's gateway (which
is how :meth:`DockerRuntime.port_forward` works). As root, labkit wires each sandbox to it as a CNI
plugin would (:mod:`labkit.network.cni`); otherwise Docker attaches it.

The SDK blocks, so every call runs in a private thread pool (not the loop's default executor, which
long-lived streams would exhaust); exec and attach hand the daemon's hijacked socket to asyncio.
Containers' starts and exits come from Docker's events API, one stream per node read by a thread of
its own (:meth:`DockerRuntime.get_container_events`, CRI's ``GetContainerEvents``), so the kubelet
need not relist the daemon every second.

Limits are the values kube's CRI asks for (:mod:`labkit.kubelet.runtime.cgroups`: CFS quota and
period, shares, memory with no swap beyond it) and the kubelet's ``oom_score_adj``; Docker writes them
to the container's cgroup. Container stats (usage, throttling) are read from that cgroup as cAdvisor
reads them, not through Docker's stats API, which answers once a second per container at best.

Left out: pod-level cgroups (limits are per container), the sandbox's ``oom_score_adj`` (-998 in
dockershim), seccomp/AppArmor profiles, image garbage
collection, a shared PID namespace, registries with credentials, a Docker daemon on another machine
(port-forward and exec kill need the bridge and the daemon's processes to be local).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import ipaddress
import logging
import math
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors

from labkit import images, owner
from labkit.kubelet.runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerConfig,
    ContainerState,
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
    port_forward_error,
)
from labkit.kubelet.runtime.cgroups import (
    CPU_PERIOD_US,
    Cgroup,
    cgroup_of,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    usage_of_pid,
)
from labkit.network import agent, cni
from labkit.network.agent import AgentClient, AgentError
from labkit.network.cidr import docker_subnet
from labkit.network.hostnet import BridgeNetwork
from labkit.network.slots import SLOTS

#: the creating process (pid and its start time) and host, so leftovers of a dead one can be found
LABEL_PID = "labkit.pid"
LABEL_PID_START = "labkit.pid-start"
LABEL_HOST = "labkit.host"
#: the creating account: on a machine whose /proc hides other accounts' processes (hidepid), their
#: running clusters would look dead, so a clean-up removes only its own account's leftovers (root: all)
LABEL_UID = "labkit.uid"
#: dockershim's labels: sandbox or container, the owning sandbox, the attempt
LABEL_TYPE = "io.kubernetes.docker.type"
LABEL_SANDBOX_ID = "io.kubernetes.sandbox.id"
LABEL_RESTART_COUNT = "io.kubernetes.container.restartCount"
#: what a container of the cluster that is no pod's is for (the network agent)
LABEL_ROLE = "labkit.role"
#: the image the pod asked for (the container may run a stand-in)
LABEL_IMAGE = "labkit.image"
#: a sandbox's IP when labkit wired its network (docker's network settings know only its own)
LABEL_POD_IP = "labkit.pod-ip"
_INTERNAL_PREFIXES = ("labkit.", "io.kubernetes.")
#: Docker's container events that are CRI's started, stopped and deleted ones (an OOM kill is told at once)
_CONTAINER_EVENTS = ("start", "die", "oom", "destroy")
#: how long a cancelled event stream waits for its reading thread (only a hung daemon makes it wait)
EVENTS_CLOSE_TIMEOUT = 5.0

#: candidate cluster subnets; the first that overlaps no docker network or host route is used
CANDIDATE_SUBNETS = tuple(docker_subnet(i) for i in range(SLOTS))

T = TypeVar("T")
log = logging.getLogger(__name__)


def _owner_labels() -> dict[str, str]:
    pid = os.getpid()
    return {LABEL_PID: str(pid), LABEL_PID_START: owner.start_time(pid), LABEL_HOST: socket.gethostname(),
            LABEL_UID: str(os.getuid())}


def _owner_is_gone(labels: dict[str, str]) -> bool:
    """A leftover of this host, of this account (any, for root), whose creating process no longer runs."""
    if labels.get(LABEL_HOST) != socket.gethostname() or not labels.get(LABEL_PID, "").isdigit():
        return False
    if os.getuid() != 0 and labels.get(LABEL_UID, str(os.getuid())) != str(os.getuid()):
        return False
    return not owner.alive(_owner_tag(labels))


def docker_client() -> docker.APIClient:
    """The low-level SDK client from the environment (``DOCKER_HOST`` ...), pooled for concurrent calls.

    On a local socket (``http+docker://``) it reads no proxy, netrc or CA settings from the environment
    for each call (``requests``' ``trust_env``), which none of them can apply to: that was a third of
    each call's CPU, and an idle cluster still calls it for every metrics scrape (and for every relist
    while the kubelet's container events are down)."""
    api = docker.from_env(max_pool_size=64).api
    if api.base_url.startswith("http+docker://"):
        api.trust_env = False
    return api


def leftovers(api: docker.APIClient | None = None) -> list[owner.Leftover]:
    """Containers, then networks, of labkit clusters whose process is gone (this account's, any for root)."""
    api = api or docker_client()
    found = []
    for c in api.containers(all=True, filters={"label": LABEL_CLUSTER}):
        if _owner_is_gone(c["Labels"]):
            name = (c.get("Names") or [c["Id"][:12]])[0].lstrip("/")
            found.append(owner.Leftover("docker container", name, _owner_tag(c["Labels"]),
                                        functools.partial(_remove_container, api, c["Id"])))
    for n in api.networks(filters={"label": LABEL_CLUSTER}):
        if _owner_is_gone(n.get("Labels") or {}):
            found.append(owner.Leftover("docker network", n["Name"], _owner_tag(n["Labels"]),
                                        functools.partial(_remove_network, api, n)))
    return found


def _owner_tag(labels: dict[str, str]) -> str:
    return f"{labels[LABEL_PID]}:{labels.get(LABEL_PID_START, '')}"


def _remove_network(api: docker.APIClient, network: dict[str, Any]) -> bool:
    try:
        api.remove_network(network["Id"])
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as e:  # a container labkit did not make is still attached
        log.warning("left docker network %s in place: %s", network["Name"], e.explanation or e)
        return False


def cleanup_leftovers(api: docker.APIClient | None = None) -> int:
    """Remove containers and networks of labkit clusters whose process is gone; return how many."""
    return owner.remove_all(leftovers(api))


def _remove_container(api: docker.APIClient, container: str, timeout: float = 10.0) -> bool:
    """Remove ``container`` (its volumes too) and return whether this call did; one that another
    removal already has in hand (409: a kubelet's, another process's clean-up) is waited for, since
    its network can be removed only once it is gone."""
    try:
        api.remove_container(container, force=True, v=True)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as e:
        if e.status_code != 409:
            raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api.inspect_container(container)
        except docker.errors.NotFound:
            break
        time.sleep(0.1)
    return False


def _used_subnets(api: docker.APIClient) -> list[ipaddress.IPv4Network]:
    """Subnets of existing docker networks and of the host's routes (a bridge must overlap none)."""
    used = []
    for n in api.networks():
        for pool in (n.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(KeyError, ValueError):
                used.append(ipaddress.ip_network(pool["Subnet"], strict=False))
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            dest, mask = (ipaddress.IPv4Address(struct.pack("<I", int(f, 16))) for f in (fields[1], fields[7]))
            if int(mask):  # the default route overlaps everything and means nothing here
                used.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    return [u for u in used if u.version == 4]


class DockerNetwork:
    """One labelled docker bridge per cluster: the pod network (a CNI plugin's job in Kubernetes).

    ``subnet`` is the slot's bridge (:func:`labkit.network.cidr.docker_subnet`, a /18);
    ``cluster_cidr`` (its lower half) is what node IPAM cuts into per-node /24
    podCIDRs, and the kubelet picks pod IPs there. The upper half holds the gateway (the host's
    side of the bridge, last address) and any address docker assigns itself, so the two never
    collide. Attributes for kube-proxy and DNS: ``name``, ``id``, ``interface``, ``subnet``,
    ``cluster_cidr``, ``gateway``. Valid after :meth:`ensure`.

    How a sandbox gets its network namespace and joins the bridge, ``pod_wiring``:

    - ``"cni"``: as containerd's CRI plugin does, the namespace is made first, then a CNI plugin
      (:mod:`labkit.network.cni`) wires it to the bridge: a veth pair, the pod's IP. Docker cannot
      be handed a namespace, so the sandbox makes its own: it starts outside docker's networking
      (``network_mode=host``) and its first act is ``unshare --net``, which is all CAP_SYS_ADMIN is
      added for; the pod's containers join it. resolv.conf names the cluster DNS itself, as a
      kubelet writes it. ``docker inspect`` shows such a sandbox's network mode as ``host``; its
      IP is the ``labkit.pod-ip`` label.
    - ``"docker"``: the sandbox is attached to the docker network with the pod's IP; Docker creates
      the namespace and the veth pair, and its embedded DNS (127.0.0.11) forwards to the cluster
      DNS. A sandbox takes twice as long to start this way: Docker sets up a namespace by running a
      second dockerd process as a hook (about 110 ms here) and the embedded DNS (60-130 ms).

    ``wire_pods=None`` chooses ``"cni"`` where it can work (a daemon on this machine; else
    ``wiring_note`` says why not). Pods with a hostPort always use ``"docker"``: Docker publishes it.

    Without root, what needs privilege (wiring, the Service CIDR's addresses on the bridge, low ports
    on them) goes to the cluster's network agent (:mod:`labkit.network.agent`), a container this
    class starts with the bridge (``agent``, None as root; ``use_agent=True`` starts it as root too).
    ``service_cidr`` bounds what it may add.
    """

    def __init__(self, cluster_id: str, *, api: docker.APIClient | None = None,
                 candidates: Sequence[str] = CANDIDATE_SUBNETS, wire_pods: bool | None = None,
                 service_cidr: str = "10.96.0.0/12", use_agent: bool | None = None) -> None:
        self.cluster_id = cluster_id
        self.api = api or docker_client()
        self.name = f"labkit-{cluster_id}"
        self.id = self.interface = ""
        self.subnet = self.cluster_cidr = self.gateway = ""
        self.pod_wiring, self.wiring_note = "docker", ""
        self.service_cidr = service_cidr
        self.agent: AgentClient | None = None
        self._wire_pods = wire_pods
        self._use_agent = not cni.privileged() if use_agent is None else use_agent
        self._candidates = candidates
        self._lock = threading.Lock()

    def _adopt(self, info: dict[str, Any]) -> None:
        subnet = ipaddress.ip_network(info["IPAM"]["Config"][0]["Subnet"])
        self.id, self.subnet = info["Id"], str(subnet)
        self.interface = (info.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{self.id[:12]}"
        self.cluster_cidr = str(next(subnet.subnets(prefixlen_diff=1)))
        self.gateway = str(subnet.broadcast_address - 1)
        reason = cni.unavailable(self.interface)
        if reason is None and self._use_agent:  # for Services too, however pods are wired
            try:
                self.agent = self._start_agent()
            except (AgentError, docker.errors.APIError, images.BuildError) as e:
                reason = f"labkit's network agent could not start: {e}"
        if self._wire_pods is False:
            reason = "turned off (wire_pods=False)"
        if reason is None:
            self.pod_wiring, self.wiring_note = "cni", ""
        elif self._wire_pods:
            raise CRIError("NetworkError", f"cannot wire pods to {self.interface}: {reason}")
        else:
            self.pod_wiring, self.wiring_note = "docker", reason

    def _start_agent(self) -> AgentClient:
        """Start this cluster's network agent container and connect to it. Blocking."""
        image = images.ensure_built(self.api, images.BUSYBOX)
        address = f"labkit-agent-{self.cluster_id}-{secrets.token_hex(4)}"
        labels = _owner_labels()
        command = ["chroot", "/host", sys.executable, "-E", "-s", agent.__file__, "--address", address,
                   "--bridge", self.interface, "--subnet", self.subnet, "--service-cidr", self.service_cidr,
                   "--owner-uid", str(os.getuid()), "--owner-pid", labels[LABEL_PID],
                   "--owner-start", labels[LABEL_PID_START]]
        host_config = self.api.create_host_config(
            network_mode="host", pid_mode="host", cap_add=["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"],
            binds={"/": {"bind": "/host", "mode": "ro"}})
        container = self.api.create_container(
            image, command=command, name=f"labkit-agent-{self.cluster_id}", host_config=host_config,
            labels={LABEL_CLUSTER: self.cluster_id, LABEL_ROLE: "network-agent", **labels})["Id"]
        self.api.start(container)

        def exited() -> str | None:
            info = self.api.inspect_container(container)["State"]
            if info["Running"]:
                return None
            logs = self.api.logs(container, tail=5).decode(errors="replace").strip()
            return f"its container exited with {info['ExitCode']}: {logs}"

        client = AgentClient(address)
        try:
            client.connect(alive=exited)
        except AgentError:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(container, force=True)
            raise
        return client

    def describe(self) -> str:
        """How pods get onto this network, in one line for people."""
        if self.pod_wiring == "cni":
            how = (" (through labkit's network agent, a container with CAP_NET_ADMIN: you are not root, and the "
                   "docker group may start one)") if self.agent else ""
            return (f"labkit wires each pod to bridge {self.interface} ({self.subnet}): a veth pair, as the CNI "
                    f"bridge plugin does{how}")
        return (f"Docker attaches each pod to its network {self.name} ({self.subnet}), which starts pods slower "
                f"than labkit's own wiring; that is off: {self.wiring_note}")

    def fall_back(self, reason: str) -> None:
        """Attach sandboxes the docker way from now on (wiring one failed for ``reason``)."""
        if self.pod_wiring == "cni":
            log.warning("pod network of %s: %s; sandboxes join the docker network from now on", self.name, reason)
            self.pod_wiring, self.wiring_note = "docker", reason

    def wire(self, sandbox_id: str, ip: str) -> None:
        """Connect a started sandbox, once in a network namespace of its own, to the bridge with ``ip``
        (CNI ADD). Blocking."""
        pid = self.api.inspect_container(sandbox_id)["State"]["Pid"]
        if self.agent is not None:
            try:
                self.agent.wire(pid, owner=sandbox_id, ip=ip)
            except AgentError as e:
                raise cni.CNIError(str(e)) from e
            return
        cni.add(pid, owner=sandbox_id, ip=ip, prefixlen=ipaddress.ip_network(self.subnet).prefixlen,
                gateway=self.gateway, bridge=self.interface)

    def bridge(self) -> BridgeNetwork:
        """kube-proxy's and the DNS's view of this network (:class:`labkit.network.BridgeNetwork`)."""
        return BridgeNetwork(interface=self.interface, gateway=self.gateway, subnet=self.subnet, agent=self.agent)

    def kill(self, pid: int, *, container: str) -> None:
        """SIGKILL host process ``pid`` of ``container`` (the agent does it when the daemon's processes
        are not ours to signal)."""
        if self.agent is not None:
            self.agent.kill(pid, owner=container)
        else:
            os.kill(pid, signal.SIGKILL)

    def ensure_sync(self) -> None:
        """Create the bridge (or adopt this cluster's existing one). Blocking; idempotent."""
        with self._lock:
            if self.id:
                return
            for existing in self.api.networks(names=[self.name]):
                if existing["Name"] == self.name:
                    info = self.api.inspect_network(existing["Id"])
                    if (info.get("Labels") or {}).get(LABEL_CLUSTER) != self.cluster_id:
                        raise CRIError("NetworkError", f"docker network {self.name} exists and is not labkit's")
                    return self._adopt(info)
            for attempt in range(2):
                if (info := self._create_network()) is not None:
                    return self._adopt(info)
                if attempt == 0 and not self._reclaim():
                    break
            raise CRIError("NetworkError", f"no free subnet among {', '.join(self._candidates)} for {self.name}")

    def _reclaim(self) -> bool:
        """Remove the bridges, and their containers, of dead clusters that hold one of this cluster's
        subnets (a clean-up at start can lose a race with another's, or find a container still going);
        whether any was."""
        wanted = [ipaddress.ip_network(c) for c in self._candidates]
        reclaimed = False
        for n in self.api.networks(filters={"label": LABEL_CLUSTER}):
            labels = n.get("Labels") or {}
            subnets = [ipaddress.ip_network(p["Subnet"]) for p in (n.get("IPAM") or {}).get("Config") or []]
            if _owner_is_gone(labels) and any(s.overlaps(w) for s in subnets for w in wanted):
                for c in self.api.containers(all=True, filters={"label": f"{LABEL_CLUSTER}={labels[LABEL_CLUSTER]}"}):
                    _remove_container(self.api, c["Id"])
                reclaimed = _remove_network(self.api, n) or reclaimed
        return reclaimed

    def _create_network(self) -> dict[str, Any] | None:
        """Create the bridge on the first free candidate subnet; its inspection, or None if none is free."""
        used = _used_subnets(self.api)
        for candidate in map(ipaddress.ip_network, self._candidates):
            if any(candidate.overlaps(u) for u in used):
                continue
            upper = list(candidate.subnets(prefixlen_diff=1))[1]
            pool = docker.types.IPAMPool(subnet=str(candidate), iprange=str(upper),
                                         gateway=str(candidate.broadcast_address - 1))
            try:
                created = self.api.create_network(
                    self.name, driver="bridge", check_duplicate=True,
                    ipam=docker.types.IPAMConfig(pool_configs=[pool]),
                    labels={LABEL_CLUSTER: self.cluster_id, **_owner_labels()})
            except docker.errors.APIError as e:
                if "overlap" in str(e).lower():  # another cluster took it between our look and create
                    continue
                raise CRIError("NetworkError", f"creating docker network {self.name}: {e.explanation or e}") from e
            return self.api.inspect_network(created["Id"])
        return None

    async def ensure(self) -> None:
        await asyncio.to_thread(self.ensure_sync)

    def remove_sync(self) -> None:
        """Remove every container of this cluster (all nodes, the agent), then the bridge. Blocking."""
        if self.agent is not None:
            self.agent.close()
            self.agent = None
        for c in self.api.containers(all=True, filters={"label": f"{LABEL_CLUSTER}={self.cluster_id}"}):
            _remove_container(self.api, c["Id"])
        for n in self.api.networks(filters={"label": f"{LABEL_CLUSTER}={self.cluster_id}"}):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_network(n["Id"])
        with self._lock:
            self.id = ""

    async def remove(self) -> None:
        await asyncio.to_thread(self.remove_sync)


def _timestamp(value: str) -> float:
    """Docker's RFC 3339 times as unix seconds; its zero time (``0001-01-01``) as 0."""
    if not value or value.startswith("0001-"):
        return 0.0
    return datetime.fromisoformat(value).timestamp()


def _user_labels(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if not k.startswith(_INTERNAL_PREFIXES)}


def _api_error(reason: str, e: docker.errors.APIError) -> CRIError:
    return CRIError(reason, str(e.explanation or e))


class _HijackedSession(ExecSession):
    """An exec or attach over the daemon's hijacked HTTP connection, driven by asyncio.

    Without a TTY the daemon multiplexes stdout and stderr in frames of an 8-byte header
    (stream, 0, 0, 0, big-endian length) and the payload; with one, the bytes arrive raw.
    """

    def __init__(self, raw: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tty: bool,
                 wait: Callable[[], Awaitable[int]], resize: Callable[[int, int], Awaitable[Any]],
                 kill: Callable[[], Awaitable[None]] | None) -> None:
        self._response_socket, self._reader, self._writer, self._tty = raw, reader, writer, tty
        self._wait, self._resize, self._kill = wait, resize, kill

    @classmethod
    async def connect(cls, raw: Any, **kwargs: Any) -> _HijackedSession:
        # the SDK's socket belongs to its HTTP response; a duplicate gives asyncio a descriptor of its own
        sock = raw._sock.dup()
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(raw, reader, writer, **kwargs)

    async def write_stdin(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close_stdin(self) -> None:
        if self._writer.can_write_eof():
            self._writer.write_eof()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        reader = self._reader
        try:
            while True:
                if self._tty:
                    data = await reader.read(65536)
                    if not data:
                        return
                    yield 1, data
                    continue
                try:
                    header = await reader.readexactly(8)
                    stream, length = header[0], struct.unpack(">I", header[4:])[0]
                    data = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionResetError):
                    return
                yield (2 if stream == 2 else 1), data
        finally:
            self._close()

    async def wait(self) -> int:
        return await self._wait()

    async def resize(self, width: int, height: int) -> None:
        await self._resize(width, height)

    async def kill(self) -> None:
        if self._kill is not None:
            await self._kill()
        self._close()

    def _close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            self._response_socket.close()


class DockerRuntime(Runtime):
    """One node's CRI over a Docker daemon; all nodes of a cluster share one :class:`DockerNetwork`."""

    name = "docker"

    def __init__(self, cluster_id: str, node: str, *, network: DockerNetwork, dns_servers: Sequence[str] = (),
                 workers: int = 32) -> None:
        self.cluster_id, self.node, self.network = cluster_id, node, network
        self.api = network.api
        #: nameservers for pods' resolv.conf (docker's embedded DNS forwards to them); the cluster DNS
        self.dns_servers = list(dns_servers)
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=f"docker-{node}")
        self._labels = {LABEL_CLUSTER: cluster_id, LABEL_NODE: node, **_owner_labels()}
        self._image_sizes: dict[str, int] = {}  # image id -> bytes
        self._running: dict[str, tuple[int, float]] = {}  # container id -> (its main pid, started at)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def _filters(self, **labels: str) -> dict[str, list[str]]:
        base = {LABEL_CLUSTER: self.cluster_id, LABEL_NODE: self.node, **labels}
        return {"label": [f"{k}={v}" for k, v in base.items()]}

    def _thread_progress(self, progress: ProgressFn | None) -> ProgressFn | None:
        """``progress`` called on the event loop although the build runs in a worker thread."""
        if progress is None:
            return None
        loop = asyncio.get_running_loop()
        def report(line: str) -> None:
            loop.call_soon_threadsafe(progress, line)
        return report

    # --- images ---

    def _local_image_id(self, image: str) -> str | None:
        definition = images.lookup(image)
        if definition is not None and images.repository(image) == definition.repository:
            return images.current_image_id(self.api, definition)  # labkit's own: stale builds do not count
        try:
            return self.api.inspect_image(image)["Id"]
        except docker.errors.ImageNotFound:
            return None

    async def image_present(self, image: str) -> bool:
        """Whether ``image`` itself is on this machine (a stand-in does not count: pulling explains it)."""
        return await self._call(self._local_image_id, image) is not None

    def _pull_sync(self, image: str, progress: ProgressFn | None) -> ImageRef:
        definition = images.lookup(image)
        if definition is not None and images.repository(image) == definition.repository:
            return self._image_ref(image, images.ensure_built(self.api, definition, progress=progress))
        try:
            for chunk in self.api.pull(image, stream=True, decode=True):
                if "error" in chunk:
                    raise docker.errors.APIError(chunk["error"])
                if progress and chunk.get("status"):
                    progress(" ".join(filter(None, (chunk.get("id"), chunk["status"], chunk.get("progress")))))
            return self._image_ref(image, self.api.inspect_image(image)["Id"])
        except docker.errors.APIError as e:
            failure = str(e.explanation or e)
            if definition is None:
                raise ImagePullError(f'failed to pull image "{image}": {failure}') from e
        note = (f'pulling "{image}" failed ({failure}); running labkit\'s stand-in {definition.tag} instead: '
                f"{definition.summary}")
        return dataclasses.replace(self._image_ref(image, images.ensure_built(self.api, definition, progress=progress)),
                                   note=note, stand_in=definition.tag)

    def _image_ref(self, image: str, image_id: str) -> ImageRef:
        """``image`` as ``image_id`` with its size (an image's size never changes: asked once per id)."""
        size = self._image_sizes.get(image_id)
        if size is None:
            size = self._image_sizes[image_id] = int(self.api.inspect_image(image_id).get("Size") or 0)
        return ImageRef(image, "docker://" + image_id, size=size)

    async def pull_image(self, image: str, *, progress: ProgressFn | None = None) -> ImageRef:
        """Pull ``image``; labkit's own images are built; a failed pull of a stand-in's image builds the stand-in."""
        try:
            return await self._call(self._pull_sync, image, self._thread_progress(progress))
        except images.BuildError as e:
            raise ImagePullError(str(e)) from e

    def _resolve_image(self, image: str) -> str:
        """The image id a container of ``image`` runs: the image itself, else its stand-in."""
        if (image_id := self._local_image_id(image)) is not None:
            return image_id
        if (definition := images.lookup(image)) is not None:
            return images.ensure_built(self.api, definition)
        raise CRIError("CreateContainerError", f'image "{image}" is not present: pull it first')

    # --- sandboxes ---

    def _create_named(self, name: str, *, image: str, command: list[str] | None = None, stdin_once: bool = False,
                      **kwargs: Any) -> str:
        """Create a container; on a name conflict (a leftover) retry with a random suffix, as dockershim did."""
        config = self.api.create_container_config(image=image, command=command, detach=True, **kwargs)
        config["StdinOnce"] = stdin_once  # the SDK ties it to attaching at create time
        try:
            return self.api.create_container_from_config(config, name=name)["Id"]
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise
            return self.api.create_container_from_config(config, name=f"{name}_{secrets.token_hex(4)}")["Id"]

    def _run_sandbox_sync(self, config: PodSandboxConfig) -> str:
        self.network.ensure_sync()
        pause = images.ensure_built(self.api, images.PAUSE)
        labels = {**config.labels, **self._labels, LABEL_TYPE: "podsandbox", LABEL_POD_NAME: config.name,
                  LABEL_POD_NAMESPACE: config.namespace, LABEL_POD_UID: config.uid, LABEL_CONTAINER_NAME: "POD"}
        published = [p for p in config.ports if p.host_port]  # hostPort: published on the sandbox, like pause
        wired = self.network.pod_wiring == "cni" and not published and bool(config.ip)
        hosts = dict(config.hosts)
        if wired:  # what docker writes for a container on its network: the pod's own name and IP
            labels[LABEL_POD_IP] = hosts[config.hostname] = config.ip
        host_config = self.api.create_host_config(
            # wired: no namespace from docker; pause makes its own (the capability is for unshare only)
            network_mode="host" if wired else self.network.name, cap_add=["SYS_ADMIN"] if wired else None,
            ipc_mode="shareable", extra_hosts=hosts or None, dns=self.dns_servers or None,
            dns_search=list(config.dns_search) or None, dns_opt=list(config.dns_options) or None,
            port_bindings={f"{p.container_port}/{p.protocol.lower()}": p.host_port for p in published} or None)
        networking = None if wired else self.api.create_networking_config(
            {self.network.name: self.api.create_endpoint_config(ipv4_address=config.ip or None)})
        try:
            sandbox_id = self._create_named(
                f"k8s_POD_{config.name}_{config.namespace}_{config.uid}_0", image=pause, hostname=config.hostname,
                entrypoint=["unshare", "--net", "/pause"] if wired else None, labels=labels,
                ports=[(p.container_port, p.protocol.lower()) for p in published] or None,
                host_config=host_config, networking_config=networking)
        except docker.errors.APIError as e:
            if not wired or e.status_code != 400:
                raise
            self.network.fall_back(f"docker refuses a sandbox on the host network: {e.explanation or e}")
            return self._run_sandbox_sync(config)
        try:
            self.api.start(sandbox_id)
            if wired:
                self.network.wire(sandbox_id, config.ip)
        except cni.CNIError as e:
            self.api.remove_container(sandbox_id, force=True)
            self.network.fall_back(str(e))
            return self._run_sandbox_sync(config)
        except docker.errors.APIError:
            self.api.remove_container(sandbox_id, force=True)
            raise
        return sandbox_id

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        try:
            return await self._call(self._run_sandbox_sync, config)
        except docker.errors.APIError as e:
            raise _api_error("CreatePodSandboxError", e) from e
        except images.BuildError as e:
            raise CRIError("CreatePodSandboxError", str(e)) from e

    def _sandbox_containers(self, sandbox_id: str) -> list[str]:
        return [c["Id"] for c in self.api.containers(all=True, filters=self._filters(**{LABEL_SANDBOX_ID: sandbox_id}))]

    def _stop_sandbox_sync(self, sandbox_id: str) -> None:
        # CRI: stopping a sandbox force-stops whatever still runs in it
        for cid in self._sandbox_containers(sandbox_id):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.stop(cid, timeout=0)
        with contextlib.suppress(docker.errors.NotFound):
            self.api.stop(sandbox_id, timeout=2)

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        await self._call(self._stop_sandbox_sync, sandbox_id)

    def _remove_sandbox_sync(self, sandbox_id: str) -> None:
        for cid in [*self._sandbox_containers(sandbox_id), sandbox_id]:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(cid, force=True, v=True)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self._call(self._remove_sandbox_sync, sandbox_id)

    def _ip(self, labels: dict[str, str], network_settings: dict[str, Any] | None) -> str:
        """A sandbox's IP: the label labkit's wiring set, else what docker's network gave it."""
        networks = (network_settings or {}).get("Networks") or {}
        return labels.get(LABEL_POD_IP) or (networks.get(self.network.name) or {}).get("IPAddress", "")

    def _sandbox_status(self, c: dict[str, Any]) -> SandboxStatus:
        labels = c["Labels"]
        return SandboxStatus(
            id=c["Id"], name=labels.get(LABEL_POD_NAME, ""), namespace=labels.get(LABEL_POD_NAMESPACE, ""),
            uid=labels.get(LABEL_POD_UID, ""), ip=self._ip(labels, c.get("NetworkSettings")),
            state="ready" if c["State"] == "running" else "notready", created_at=float(c["Created"]),
            labels=_user_labels(labels))

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        found = await self._call(self.api.containers, all=True, filters=self._filters(**{LABEL_TYPE: "podsandbox"}))
        return [self._sandbox_status(c) for c in found]

    async def sandbox_ip(self, sandbox_id: str) -> str:
        info = await self._call(self.api.inspect_container, sandbox_id)
        return self._ip(info["Config"]["Labels"] or {}, info.get("NetworkSettings"))

    # --- containers ---

    def _create_container_sync(self, sandbox_id: str, config: ContainerConfig, sandbox: PodSandboxConfig) -> str:
        image_id = self._resolve_image(config.image)
        labels = {**config.labels, **self._labels, LABEL_TYPE: "container", LABEL_SANDBOX_ID: sandbox_id,
                  LABEL_POD_NAME: sandbox.name, LABEL_POD_NAMESPACE: sandbox.namespace, LABEL_POD_UID: sandbox.uid,
                  LABEL_CONTAINER_NAME: config.name, LABEL_RESTART_COUNT: str(config.restart_count),
                  LABEL_IMAGE: config.image}
        limits: dict[str, Any] = {"cpu_shares": milli_cpu_to_shares(config.cpu_request_millis),
                                  "oom_score_adj": config.oom_score_adj}
        if config.memory_limit_bytes:  # no swap beyond the limit, as the kubelet sets it
            limits.update(mem_limit=config.memory_limit_bytes, memswap_limit=config.memory_limit_bytes)
        if config.cpu_limit_millis:
            limits.update(cpu_period=CPU_PERIOD_US, cpu_quota=milli_cpu_to_quota(config.cpu_limit_millis))
        host_config = self.api.create_host_config(
            network_mode=f"container:{sandbox_id}", ipc_mode=f"container:{sandbox_id}",
            binds=[f"{m.host_path}:{m.container_path}:{'ro' if m.read_only else 'rw'}" for m in config.mounts] or None,
            **limits)
        # Kubernetes' command replaces the image's ENTRYPOINT (and drops its CMD); args replace CMD
        return self._create_named(
            f"k8s_{config.name}_{sandbox.name}_{sandbox.namespace}_{sandbox.uid}_{config.restart_count}",
            image=image_id, entrypoint=list(config.command) or None, command=list(config.args) or None,
            environment=[f"{k}={v}" for k, v in config.env.items()], working_dir=config.working_dir or None,
            labels=labels, tty=config.tty, stdin_open=config.stdin, stdin_once=config.stdin_once,
            host_config=host_config)

    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: PodSandboxConfig) -> str:
        try:
            return await self._call(self._create_container_sync, sandbox_id, config, sandbox)
        except docker.errors.APIError as e:
            raise _api_error("CreateContainerError", e) from e
        except images.BuildError as e:
            raise CRIError("CreateContainerError", str(e)) from e

    async def start_container(self, container_id: str) -> None:
        try:
            await self._call(self.api.start, container_id)
        except docker.errors.APIError as e:
            raise _api_error("RunContainerError", e) from e

    async def stop_container(self, container_id: str, timeout: float) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            await self._call(self.api.stop, container_id, timeout=math.ceil(timeout))

    async def remove_container(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            await self._call(self.api.remove_container, container_id, force=True, v=True)

    @staticmethod
    def _container_status(info: dict[str, Any]) -> ContainerStatus:
        labels, state = info["Config"]["Labels"], info["State"]
        states: dict[str, ContainerState] = {"created": "created", "running": "running", "paused": "running",
                                             "restarting": "running", "exited": "exited", "dead": "exited"}
        status = states.get(state["Status"], "unknown")
        reason = ""
        if status == "exited":
            reason = "OOMKilled" if state.get("OOMKilled") else "Completed" if state["ExitCode"] == 0 else "Error"
        return ContainerStatus(
            id=info["Id"], name=labels.get(LABEL_CONTAINER_NAME, ""), sandbox_id=labels.get(LABEL_SANDBOX_ID, ""),
            state=status, image=labels.get(LABEL_IMAGE, ""), image_ref="docker://" + info["Image"],
            created_at=_timestamp(info["Created"]), started_at=_timestamp(state.get("StartedAt", "")),
            finished_at=_timestamp(state.get("FinishedAt", "")) if status == "exited" else 0.0,
            exit_code=state.get("ExitCode", 0), reason=reason, message=state.get("Error", ""),
            attempt=int(labels.get(LABEL_RESTART_COUNT, "0")), labels=_user_labels(labels))

    async def container_status(self, container_id: str) -> ContainerStatus:
        try:
            return self._container_status(await self._call(self.api.inspect_container, container_id))
        except docker.errors.NotFound as e:
            raise _api_error("NotFound", e) from e

    def _list_containers_sync(self, sandbox_id: str | None) -> list[ContainerStatus]:
        labels = {LABEL_TYPE: "container", **({LABEL_SANDBOX_ID: sandbox_id} if sandbox_id else {})}
        found = []
        for c in self.api.containers(all=True, filters=self._filters(**labels)):
            with contextlib.suppress(docker.errors.NotFound):  # removed between list and inspect
                found.append(self._container_status(self.api.inspect_container(c["Id"])))
        return found

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return await self._call(self._list_containers_sync, sandbox_id)

    def _container_stats_sync(self) -> list[ContainerStats]:
        listed = self.api.containers(filters={**self._filters(**{LABEL_TYPE: "container"}), "status": ["running"]})
        self._running = {c["Id"]: self._running[c["Id"]] for c in listed if c["Id"] in self._running}
        stats = []
        for c in listed:
            try:
                if c["Id"] not in self._running:  # a container's pid is asked once: it keeps it while it runs
                    state = self.api.inspect_container(c["Id"])["State"]
                    self._running[c["Id"]] = (state["Pid"], _timestamp(state.get("StartedAt", "")))
                pid, started = self._running[c["Id"]]
                now, usage = time.time(), usage_of_pid(pid)
            except (docker.errors.NotFound, OSError):  # it stopped since the list
                self._running.pop(c["Id"], None)
                continue
            stats.append(ContainerStats(id=c["Id"], sandbox_id=c["Labels"].get(LABEL_SANDBOX_ID, ""),
                                        name=c["Labels"].get(LABEL_CONTAINER_NAME, ""), started_at=started,
                                        timestamp=now, cpu_usage_core_nanoseconds=usage.cpu_nanoseconds,
                                        memory_working_set_bytes=usage.working_set_bytes,
                                        alias=c["Names"][0].lstrip("/") if c.get("Names") else "",
                                        image=c["Labels"].get(LABEL_IMAGE) or c.get("Image", "")))
        return stats

    async def list_container_stats(self) -> list[ContainerStats]:
        return await self._call(self._container_stats_sync)

    async def get_container_events(self, on_event: Callable[[str], None], connected: Callable[[], None]) -> None:
        """CRI ``GetContainerEvents`` from Docker's events API (``docker events``): one stream of this node's
        containers' and sandboxes' starts, exits, OOM kills and removals, each named by its pod's UID (a
        label of each). A thread of its own reads the stream; when the stream
        drops (the daemon restarted) this raises ``Unavailable``; when cancelled it closes the stream's
        connection and waits for the thread to end."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[Exception | None] = loop.create_future()
        lock, opened = threading.Lock(), []
        cancelled = False

        def call(fn: Callable[..., Any], *args: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed first
                loop.call_soon_threadsafe(fn, *args)

        def read() -> None:
            error: Exception | None = None
            try:
                # since the start of this second: what happens before the daemon subscribes us is sent too
                stream = self.api.events(since=int(time.time()), decode=True, filters={
                    **self._filters(), "type": ["container"], "event": list(_CONTAINER_EVENTS)})
                with lock:
                    opened.append(stream)
                    if cancelled:
                        stream.close()
                        return
                call(connected)
                for event in stream:
                    call(on_event, ((event.get("Actor") or {}).get("Attributes") or {}).get(LABEL_POD_UID, ""))
            except Exception as e:  # noqa: BLE001 - the loop's side raises it as a CRIError
                error = e
            finally:
                call(lambda: None if ended.done() else ended.set_result(error))

        threading.Thread(target=read, name=f"docker-events-{self.cluster_id}-{self.node}", daemon=True).start()
        try:
            error = await asyncio.shield(ended)
        except asyncio.CancelledError:
            with lock:
                cancelled = True
                for stream in opened:
                    with contextlib.suppress(OSError):
                        stream.close()  # unblocks the thread's read
            await asyncio.wait([ended], timeout=EVENTS_CLOSE_TIMEOUT)
            raise
        raise CRIError("Unavailable", f"docker's event stream ended: {error or 'the daemon closed it'}")

    def _container_cgroup_sync(self, container_id: str) -> Cgroup:
        state = self.api.inspect_container(container_id)["State"]
        try:
            if state["Running"]:
                return cgroup_of(state["Pid"])
        except OSError:  # it exited meanwhile
            pass
        raise CRIError("FailedPrecondition", f"container {container_id[:12]} is not running")

    async def container_cgroup(self, container_id: str) -> Cgroup:
        try:
            return await self._call(self._container_cgroup_sync, container_id)
        except docker.errors.NotFound as e:
            raise _api_error("NotFound", e) from e

    # --- streaming ---

    async def logs(self, container_id: str, *, follow: bool = False, tail_lines: int | None = None,
                   since_seconds: int | None = None, timestamps: bool = False,
                   limit_bytes: int | None = None) -> AsyncIterator[bytes]:
        since = int(time.time()) - since_seconds if since_seconds is not None else None
        try:
            stream = await self._call(self.api.logs, container_id, stream=True, follow=follow, timestamps=timestamps,
                                      tail="all" if tail_lines is None else tail_lines, since=since)
        except docker.errors.NotFound as e:
            raise _api_error("NotFound", e) from e
        remaining = limit_bytes
        try:
            async for chunk in _iterate_in_thread(stream):
                if remaining is not None:
                    chunk = chunk[:remaining]
                    remaining -= len(chunk)
                yield chunk
                if remaining == 0:
                    return
        finally:
            stream.close()  # unblocks the reading thread of a followed log

    async def exec(self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool) -> ExecSession:
        try:
            exec_id = (await self._call(self.api.exec_create, container_id, list(command), stdin=stdin, tty=tty))["Id"]
            raw = await self._call(self.api.exec_start, exec_id, tty=tty, socket=True)
        except docker.errors.APIError as e:
            raise _api_error("ExecError", e) from e

        async def wait() -> int:
            delay = 0.01
            while (info := await self._call(self.api.exec_inspect, exec_id))["Running"]:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
            return info["ExitCode"]

        async def kill() -> None:
            # docker has no exec-kill API: signal the exec'd process, whose host pid the daemon reports
            pid = (await self._call(self.api.exec_inspect, exec_id)).get("Pid")
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    await self._call(self.network.kill, pid, container=container_id)

        return await _HijackedSession.connect(raw, tty=tty, wait=wait, kill=kill,
                                resize=lambda w, h: self._call(self.api.exec_resize, exec_id, height=h, width=w))

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> ExecSession:
        params = {"stdin": int(stdin), "stdout": 1, "stderr": 1, "stream": 1}
        try:
            raw = await self._call(self.api.attach_socket, container_id, params=params)
        except docker.errors.APIError as e:
            raise _api_error("AttachError", e) from e

        async def wait() -> int:
            return (await self._call(self.api.wait, container_id, timeout=None))["StatusCode"]

        # kill() only detaches: ending an attach never stops the container
        return await _HijackedSession.connect(raw, tty=tty, wait=wait, kill=None,
                                resize=lambda w, h: self._call(self.api.resize, container_id, height=h, width=w))

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect from the host to the pod's IP on the bridge (a service bound to the pod's 127.0.0.1 is not
        reachable)."""
        try:
            ip = await self.sandbox_ip(sandbox_id)
        except docker.errors.NotFound as e:
            raise _api_error("NotFound", e) from e
        try:
            return await asyncio.open_connection(ip, port)
        except OSError as e:
            raise port_forward_error(sandbox_id, ip, port, e) from e

    # --- lifecycle ---

    def _cleanup_sync(self) -> None:
        for c in self.api.containers(all=True, filters=self._filters()):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(c["Id"], force=True, v=True)

    async def cleanup(self) -> None:
        """Remove this node's containers. The bridge and other nodes' pods go with :meth:`DockerNetwork.remove`."""
        await self._call(self._cleanup_sync)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def _iterate_in_thread(stream: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Items of a blocking iterator, read by a dedicated thread (a followed log may block for hours)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for item in stream:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except BaseException as e:  # noqa: BLE001 - the consumer re-raises it (or has gone and closed the stream)
            with contextlib.suppress(RuntimeError):  # the loop closed first
                loop.call_soon_threadsafe(queue.put_nowait, e)

    threading.Thread(target=pump, name="docker-logs", daemon=True).start()
    while (item := await queue.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item
