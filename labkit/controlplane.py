"""The control plane of an HA cluster: several members, each an etcd member, a kube-apiserver, a
kube-scheduler and a kube-controller-manager, behind one load-balanced endpoint.

Mirrors the topology ``kubeadm init --control-plane-endpoint`` and ``kubeadm join --control-plane``
build ("stacked etcd"): on every control-plane node a static Pod each for etcd, the API server (its
``--etcd-servers`` the member on its own node), the scheduler and the controller manager (both
talking to their own node's API server, both electing a leader through a Lease in kube-system, so
only one of each works at a time). Clients (kubectl, the kubelets, kube-proxy) reach the API servers
through the load balancer (:mod:`labkit.network.loadbalancer`). Members are named as kind names its
nodes: ``labkit-control-plane``, ``labkit-control-plane2`` ...

**How a member runs, and how it dies.** Each etcd member is a process of its own: killing it
(SIGKILL) or pausing it (SIGSTOP) is exactly what it is on a real node. A member's API server,
scheduler and controller manager run in this Python process, on a thread and asyncio loop of the
member's own, so that one member blocked on its etcd (a paused member, a lost quorum) holds up only
itself. :meth:`ControlPlaneMember.kill` is a crash, not a stop: the etcd member gets SIGKILL, the API
server's listening socket and every connection it holds are closed at once (clients see their
connections reset, new ones refused), and the loop stops between two steps, so nothing is given
back: the scheduler and the controller manager keep their Leases until they expire, as after a
kernel panic. What this leaves out: the real kubelet would restart the static Pods on its own; here
:meth:`ControlPlaneMember.restart` does it when the lesson says so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from labkit.apiserver.aggregator import APIServiceBackend
from labkit.apiserver.aggregator_proxy import Dial
from labkit.apiserver.pki import PKI, EtcdPKI
from labkit.apiserver.server import APIServer
from labkit.apiserver.streaming.kubelet_api import KubeletAPI
from labkit.client import Client
from labkit.component import Component
from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.manager import ControllerManager
from labkit.ids import IdSource
from labkit.leaderelection import LeaderElectionConfig, LeaderElector
from labkit.scheduler import Scheduler
from labkit.scheduler.config import DEFAULT_CONFIGURATION, SchedulerConfiguration
from labkit.store import StoreError
from labkit.store._gateway import Gateway
from labkit.store.etcd import EtcdStore
from labkit.store.etcd_member import EtcdMember
from labkit.trace import Trace

T = TypeVar("T")
log = logging.getLogger(__name__)
#: how long a member's components may take to stop gracefully (with the cluster)
STOP_SECONDS = 8.0


@dataclasses.dataclass(frozen=True)
class MemberSettings:
    """What every member of one cluster shares: the CAs, the trace, the kubelets it reaches, the servers
    of its APIServices (metrics-server), its policies."""

    pki: PKI
    etcd_pki: EtcdPKI
    trace: Trace
    kubelets: dict[str, KubeletAPI]
    api_services: dict[str, APIServiceBackend]
    service_cidr: str
    authorization: str
    controllers: ControllerManagerConfig
    scheduler_election: LeaderElectionConfig
    seed: int | None = None
    #: held by a Service create from reading the allocated addresses until it is stored, on every member
    service_allocation: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class ControlPlaneMember:
    """One control-plane node: its etcd member (a process), API server, scheduler and controller
    manager (on a loop of their own). :meth:`start`, :meth:`kill`, :meth:`stop`."""

    def __init__(self, name: str, index: int, etcd: EtcdMember, settings: MemberSettings) -> None:
        self.name = name
        self.index = index
        self.etcd = etcd
        self.settings = settings
        self.port = 0  # the API server's; kept across restarts, so the load balancer finds it again
        self.store: EtcdStore | None = None
        self.apiserver: APIServer | None = None
        self.scheduler: Scheduler | None = None
        #: what its kube-scheduler runs with (``Cluster.configure_scheduler``)
        self.scheduler_configuration = DEFAULT_CONFIGURATION
        self.controller_manager: ControllerManager | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: list[Client] = []
        self._dead: list[tuple[asyncio.AbstractEventLoop, list[Client]]] = []  # what killed incarnations left
        #: where its API server's aggregator dials extension API servers (the cluster's pod network), once known
        self.dial: Dial | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}" if self.port else ""

    @property
    def running(self) -> bool:
        """Its API server, scheduler and controller manager run (its etcd member may not)."""
        return self._loop is not None and self._loop.is_running()

    @property
    def components(self) -> list[Component]:
        return [c for c in (self.controller_manager, self.scheduler) if c is not None]

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start the API server, scheduler and controller manager on a new loop (the etcd member must
        run already); blocks until the API server answers."""
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name=f"labkit-{self.name}", daemon=True)
        self._thread.start()
        self.run(self._start(), timeout=timeout)

    async def _start(self) -> None:
        s = self.settings
        cert, key = s.etcd_pki.pair("apiserver-etcd-client")
        self.store = await asyncio.to_thread(EtcdStore, [self.etcd.client_url], ca_file=s.etcd_pki.ca_cert,
                                             cert_file=cert, key_file=key)
        seed = None if s.seed is None else s.seed + self.index  # uids must differ between API servers
        self.apiserver = APIServer(self.store, s.pki, ids=IdSource(seed), trace=s.trace, service_cidr=s.service_cidr,
                                   authorization=s.authorization, name=self.name, kubelets=s.kubelets,
                                   service_allocation=s.service_allocation, api_services=s.api_services)
        if self.dial is not None:
            self.apiserver.aggregator.dial = self.dial
        url = await self.apiserver.start(port=self.port)
        self.port = int(url.rsplit(":", 1)[1])
        identity = f"{self.name}_{uuid.uuid4()}"  # kube's hostname_<uuid>: the member is the host
        self.controller_manager = ControllerManager(
            self._client("system:kube-controller-manager", "kube-controller-manager"),
            config=dataclasses.replace(s.controllers), identity=identity)
        self.scheduler = self._kube_scheduler(identity)
        for component in self.components:
            component.attach_trace(s.trace)
            await component.start()

    def _kube_scheduler(self, identity: str) -> Scheduler:
        s = self.settings
        election = s.scheduler_election
        client = self._client("system:kube-scheduler", "kube-scheduler")
        elector = LeaderElector(client, name="kube-scheduler", identity=identity,
                                lease_duration=election.lease_duration, renew_deadline=election.renew_deadline,
                                retry_period=election.retry_period) if election.leader_elect else None
        seed = None if s.seed is None else s.seed + self.index
        return self.scheduler_configuration.scheduler(client, elector=elector, seed=seed)

    def restart_scheduler(self, configuration: SchedulerConfiguration) -> None:
        """Restart this member's kube-scheduler with ``configuration`` (kept for the member's own restarts,
        as its static Pod's manifest is); a member that is down takes it when it comes back."""
        self.scheduler_configuration = configuration
        if self.running:
            self.run(self._restart_scheduler())

    async def _restart_scheduler(self) -> None:
        old, self.scheduler = self.scheduler, self._kube_scheduler(f"{self.name}_{uuid.uuid4()}")
        if old is not None:
            await old.stop()
            self.scheduler.keep_held_as(old)
        self.scheduler.attach_trace(self.settings.trace)
        await self.scheduler.start()
        self.scheduler.decide("leases", "kube-system/kube-scheduler", f"{self.name}: restarted with a new "
                              f"configuration: {self.scheduler_configuration.describe()}")

    def _client(self, user: str, agent: str) -> Client:
        """A component's client for this member's own API server (kubeadm's ``scheduler.conf`` and
        ``controller-manager.conf`` name the local API server, not the load balancer)."""
        cert, key = self.settings.pki.issue_client_cert(f"{self.name}-{user}", user=user)
        client = Client(self.url, ca_file=self.settings.pki.directory / "ca.crt", cert_file=cert, key_file=key,
                        user_agent=f"{agent}/labkit")
        self._clients.append(client)
        return client

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on this member's loop and wait for it."""
        return run_on(self._loop, coro, timeout, f"control-plane member {self.name}")

    def call_soon(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(fn, *args)

    def kill(self) -> None:
        """Crash the member: SIGKILL its etcd member, drop every socket of its API server at once and
        stop its loop mid-step. Nothing is released; the Leases it holds run out on their own."""
        self.etcd.kill()
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        done = threading.Event()
        apiserver = self.apiserver

        def crash() -> None:
            try:
                if apiserver is not None:
                    apiserver.drop_connections()
                # every socket the member's loop holds (idle keep-alive connections, its components'
                # clients), closed unanswered as the kernel closes a dead process's: the selector loop's
                # own table of them, which no public API lists
                for transport in list(getattr(loop, "_transports", {}).values()):
                    transport.abort()
            finally:
                loop.call_soon(loop.stop)  # after the callbacks abort() queued, which close the sockets
                done.set()

        loop.call_soon_threadsafe(crash)
        done.wait(5)
        if self._thread is not None:
            self._thread.join(5)
        if self.store is not None:  # what the kernel does to a dead process's etcd connections
            self.store.close()
        self._dead.append((loop, self._clients))
        self._loop = self._thread = None
        self.apiserver = self.scheduler = self.controller_manager = None
        self.store = None
        self._clients = []

    def revive_etcd(self) -> bool:
        """Resume a paused etcd member, or start a killed one again on its data and ports, without
        waiting; whether it had to be started."""
        self.etcd.resume()
        if self.etcd.running:
            return False
        self.etcd.restart()
        return True

    def stop(self) -> None:
        """Stop gracefully (Leases given back), and close what killed incarnations left."""
        if self.running:
            with contextlib.suppress(Exception):  # a member blocked on a dead etcd: stop it anyway
                self.run(self._stop(), timeout=STOP_SECONDS + 2)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            self._dead.append((self._loop, []))  # what its components left pending (watch caches' tasks)
        for loop, clients in self._dead:
            if not loop.is_running():  # one still blocked on its etcd is left to its daemon thread
                _discard(loop, clients)
        self._dead.clear()
        if self.store is not None:
            self.store.close()
        self._loop = self._thread = None

    async def _stop(self) -> None:
        for component in reversed(self.components):
            try:
                await asyncio.wait_for(component.stop(), STOP_SECONDS)
            except TimeoutError:
                log.warning("%s on %s did not stop within %gs", component.name, self.name, STOP_SECONDS)
        for client in self._clients:
            await client.close()
        self._clients.clear()
        if self.apiserver is not None:
            await self.apiserver.stop()


def run_on(loop: asyncio.AbstractEventLoop | None, coro: Coroutine[Any, Any, T], timeout: float | None,
           what: str) -> T:
    """Run ``coro`` on ``loop`` (another thread's) and wait for its result, ``timeout`` seconds at most."""
    if loop is None or not loop.is_running():
        coro.close()  # never to run: closed now, or Python warns "was never awaited" into the notebook
        raise RuntimeError(f"{what} is not running" + (": call start() first" if what == "the cluster" else ""))
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"{what} did not finish within {timeout}s") from None


def _discard(loop: asyncio.AbstractEventLoop, clients: list[Client]) -> None:
    """Finish what a killed member's loop still had pending (cancelled, in rounds: a cancelled task may
    start another), close its clients, then the loop; on a thread of its own, as the caller may be
    running a loop. Nothing is left for the garbage collector to find half-open."""
    async def finish() -> None:
        for _ in range(5):
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            if not tasks:
                break
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=1)
        for client in clients:
            await client.close()
        await loop.shutdown_asyncgens()

    def run() -> None:
        with contextlib.suppress(Exception):
            loop.run_until_complete(finish())
        loop.close()

    thread = threading.Thread(target=run, name="labkit-discard", daemon=True)
    thread.start()
    thread.join(10)


def member_names(count: int, prefix: str = "labkit") -> list[str]:
    """kind's names for control-plane nodes: ``<prefix>-control-plane``, ``<prefix>-control-plane2`` ..."""
    return [f"{prefix}-control-plane{i + 1 if i else ''}" for i in range(count)]


#: the members a ``--control-plane-endpoint`` load balancer lists up front, as the HA guide's haproxy
#: lists every control-plane node: the ones not yet joined are DOWN until they come
ENDPOINT_MEMBERS = 3


def member_port(endpoint_port: int, index: int) -> int:
    """Where member ``index`` (0 the first) serves its API behind an endpoint on ``endpoint_port``:
    the ports after it, on 127.0.0.1 (the control-plane nodes of one machine)."""
    return endpoint_port + 1 + index


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``HOST[:PORT]`` of ``--control-plane-endpoint`` (kubeadm: without a port, the API server's 6443)."""
    host, sep, port = endpoint.rpartition(":")
    if not sep:
        host, port = endpoint, "6443"
    if not host or not port.isdigit() or not 0 < int(port) < 65536 - ENDPOINT_MEMBERS:
        raise ValueError(f"control-plane endpoint {endpoint!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def free_endpoint(host: str = "127.0.0.1") -> str:
    """``HOST:PORT`` for ``labkit init --control-plane-endpoint`` on this machine: a port free now with
    the :data:`ENDPOINT_MEMBERS` after it (its members' API servers), below the kernel's ephemeral range
    so that no outgoing connection takes one of them before ``init`` binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(10_000, max(10_001, low - ENDPOINT_MEMBERS - 1))
        held: list[socket.socket] = []
        try:
            for port in range(base, base + ENDPOINT_MEMBERS + 1):
                held.append(socket.socket())
                held[-1].bind((host, port))
            return f"{host}:{base}"
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError(f"no {ENDPOINT_MEMBERS + 1} consecutive free ports on {host}")


def member_root(workdir: Path, name: str) -> Path:
    return workdir / "control-plane" / name


@dataclasses.dataclass(frozen=True)
class EtcdMemberStatus:
    """One etcd member as ``etcdctl endpoint status`` shows it (``Maintenance.Status``)."""

    name: str
    endpoint: str
    state: str  # "leader", "follower", "no leader", "paused" (SIGSTOP), "down" (killed), or why it did not answer
    raft_term: int = 0
    applied_index: int = 0
    pid: int | None = None


def etcd_status(member: EtcdMember, etcd_pki: EtcdPKI, timeout: float = 0.5) -> EtcdMemberStatus:
    """Ask one member for its Raft state, with kubeadm's ``healthcheck-client`` certificate."""
    base = functools.partial(EtcdMemberStatus, member.name, member.client_url, pid=member.pid)
    if not member.running:
        return base(state="down")
    if member.paused:
        return base(state="paused")
    context = ssl.create_default_context(cafile=str(etcd_pki.ca_cert))
    context.load_cert_chain(*map(str, etcd_pki.pair("healthcheck-client")))
    gateway = Gateway([member.client_url], context, timeout=timeout)
    try:
        answer = gateway.call("/v3/maintenance/status", {})
    except (StoreError, OSError) as e:
        return base(state=f"no answer ({e})")
    finally:
        gateway.close()
    leader, me = answer.get("leader", "0"), answer.get("header", {}).get("member_id")
    state = "leader" if leader == me else "follower" if leader != "0" else "no leader"
    return base(state=state, raft_term=int(answer.get("raftTerm", 0)),
                            applied_index=int(answer.get("raftAppliedIndex", answer.get("raftIndex", 0))))


class ControlPlane:
    """An HA cluster's control plane as a lesson drives it: faults (:meth:`kill`, :meth:`kill_etcd`,
    :meth:`pause_etcd`), :meth:`restore`, and what each member is doing now. Members are named
    (``"labkit-control-plane2"``) or numbered from 1, as the nodes are."""

    def __init__(self, members: list[ControlPlaneMember], etcd_pki: EtcdPKI,
                 lease: Callable[[str], dict[str, Any] | None], balancer: Callable[[], dict[str, str]]) -> None:
        self.members = members
        self._etcd_pki = etcd_pki
        self._lease = lease
        self._balancer = balancer  # member name -> UP / DOWN, as the load balancer's checks see it

    def member(self, which: str | int) -> ControlPlaneMember:
        for m in self.members:
            if which in (m.name, m.index + 1):
                return m
        names = ", ".join(m.name for m in self.members)
        raise ValueError(f"no control-plane member {which!r}: the members are {names} (or 1-{len(self.members)})")

    def kill(self, which: str | int) -> ControlPlaneMember:
        """Crash one member: its etcd member, API server, scheduler and controller manager at once."""
        member = self.member(which)
        member.kill()
        return member

    def kill_etcd(self, which: str | int) -> ControlPlaneMember:
        """SIGKILL only the member's etcd; its API server stays, and can no longer serve."""
        member = self.member(which)
        member.etcd.kill()
        return member

    def pause_etcd(self, which: str | int) -> ControlPlaneMember:
        """SIGSTOP the member's etcd: a process that is there and answers nothing (a hung disk, a VM paused)."""
        member = self.member(which)
        member.etcd.pause()
        return member

    def restore(self, which: str | int | None = None, timeout: float = 30.0) -> None:
        """Bring back one member, or all: etcd resumed or started again (on its data and ports), the API
        server, scheduler and controller manager started again with new identities (as the kubelet
        restarts crashed static Pods). Every etcd member is started before any is waited for: with the
        quorum lost, none is healthy alone."""
        members = self.members if which is None else [self.member(which)]
        started = [m for m in members if m.revive_etcd()]
        for member in started:
            member.etcd.wait_healthy(timeout)
        for member in members:
            if not member.running:
                member.start(timeout)

    def not_ready(self) -> list[str]:
        """What keeps the control plane from being whole: etcd members without a leader, members not
        running, API servers the load balancer does not send to ([] when all is well)."""
        problems = [f"{s.name}: etcd {s.state}" for s in self.etcd() if s.state not in ("leader", "follower")]
        problems += [f"{m.name}: not running" for m in self.members if not m.running]
        names = {m.name for m in self.members}  # an endpoint's balancer lists slots not joined yet
        problems += [f"{name}: {state} at the load balancer" for name, state in sorted(self._balancer().items())
                     if state != "UP" and name in names]
        return problems

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until :meth:`not_ready` is empty (after :meth:`restore`: the load balancer needs two
        passing health checks, 2 s apart, before it sends to a member again)."""
        deadline = time.monotonic() + timeout
        while problems := self.not_ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the control plane is not whole after {timeout:g}s: {'; '.join(problems)}")
            time.sleep(0.2)

    def etcd(self) -> list[EtcdMemberStatus]:
        """Each etcd member's Raft state, asked of each member (as ``etcdctl endpoint status --cluster``)."""
        with concurrent.futures.ThreadPoolExecutor(len(self.members)) as pool:
            return list(pool.map(lambda m: etcd_status(m.etcd, self._etcd_pki), self.members))

    def etcd_leader(self, timeout: float = 5.0) -> str:
        """The member whose etcd leads now; during an election (or when a member is too busy to answer
        its status in time), asked again for ``timeout`` seconds, then "" (no leader)."""
        deadline = time.monotonic() + timeout
        while not (leader := next((s.name for s in self.etcd() if s.state == "leader"), "")):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return leader

    def lease_holder(self, lease: str = "kube-scheduler") -> str:
        """The member whose scheduler (``kube-scheduler``) or controller manager (``kube-controller-manager``)
        holds the Lease now: its ``holderIdentity`` is ``<member>_<uuid>``. Read through the API."""
        found = self._lease(lease)
        holder = str((found or {}).get("spec", {}).get("holderIdentity") or "")
        return holder.rsplit("_", 1)[0]
