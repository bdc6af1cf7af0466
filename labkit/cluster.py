"""``labkit.Cluster``: a whole cluster in this Python process, for notebooks, tests and ``labkit up``.

What ``kind`` or ``kubeadm`` would set up, in-process: a PKI, the store, the API server on a free
loopback port, and the nodes, each registering itself with its own identity. Everything runs on one
background thread with its own asyncio loop, so notebook cells (and the official ``kubernetes``
client, which blocks) never wait on themselves. Starting a cluster points this process's
``KUBECONFIG`` at the cluster's kubeconfig, so ``config.load_kube_config()`` works as written; the
user's ``~/.kube/config`` is never touched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import gc
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from asyncio import sslproto
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from labkit import bootstrap, localpath, owner
from labkit import store as kv
from labkit.apimachinery.timeutil import now_utc
from labkit.apiserver.aggregator import APIServiceBackend
from labkit.apiserver.pki import CA_CERT, CA_KEY, PKI, EtcdPKI, write_kubeconfig
from labkit.apiserver.server import APIServer, check_authorization_mode
from labkit.apiserver.streaming.kubelet_api import KubeletAPI, KubeletError
from labkit.client import APIStatusError, Client, ConnectionPool, resource_path
from labkit.component import Component
from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.manager import ControllerManager
from labkit.controlplane import (
    ENDPOINT_MEMBERS,
    ControlPlane,
    ControlPlaneMember,
    MemberSettings,
    member_names,
    member_port,
    member_root,
    parse_endpoint,
    run_on,
)
from labkit.ids import IdSource
from labkit.kubelet import Kubelet, KubeletConfig
from labkit.kubelet.runtime import Runtime, proccgroups
from labkit.kubelet.runtime.cgroups import Cgroup
from labkit.kubelet.runtime.simload import SimLoads
from labkit.kubelet.server import KubeletServer
from labkit.kubelet.simpods import SimPodSource
from labkit.leaderelection import LeaderElectionConfig, LeaderElector
from labkit.localpath import deploy as localpath_deploy
from labkit.metricsserver import MetricsServer
from labkit.metricsserver import deploy as metrics_deploy
from labkit.metricsserver.api import GROUP_VERSION as METRICS_GROUP_VERSION
from labkit.metricsserver.server import METRIC_RESOLUTION
from labkit.network import AddressPlan, LoopbackNetwork, address_plan, cluster_dns_ip, docker_subnet, slots
from labkit.network.loadbalancer import Backend, LoadBalancer, LoadBalancerError, load_balancer
from labkit.network.loadbalancer import cleanup_leftovers as cleanup_load_balancers
from labkit.network.netns import HOST, HostNamespace, NamespaceUnavailable, UserNamespace, unprivileged_port_start
from labkit.proxy import KubeProxy
from labkit.proxy.dns import ClusterDNS
from labkit.proxy.loadgen import LoadReport, generate_load
from labkit.scheduler import Scheduler
from labkit.scheduler.config import DEFAULT_CONFIGURATION, SchedulerConfiguration, load_configuration
from labkit.store import etcd_member
from labkit.store.etcd import EtcdStore
from labkit.trace import Trace

T = TypeVar("T")
log = logging.getLogger(__name__)
RUNTIMES = ("docker", "process", "sim")
#: how long one component may take to stop before the cluster goes on without it (stop() allows 30 s)
COMPONENT_STOP_SECONDS = 8.0
CONFIG_MAP = "labkit-config"
#: above this many sim nodes, heartbeats use Kubernetes' timings instead of the short teaching ones
LARGE = 100
#: the garbage collector's thresholds while a cluster runs (Python's defaults: 700, 10, 10)
GC_THRESHOLD = (50_000, 20, 100)
#: asyncio gives every TLS connection a 256 KiB read buffer, and both ends of each of a cluster's
#: connections (one per watch) live in this process: 26 MiB of a 3-node cluster. 64 KiB is four
#: TLS records, as much as one read can decrypt at a time anyway.
TLS_READ_BUFFER = 64 * 1024
#: what cluster.reset() removes from the default namespace (controllers' objects go with their owners);
#: quotas and limit ranges first, so that none holds back what a next lab creates
RESET_IN_DEFAULT = (("v1", "resourcequotas"), ("v1", "limitranges"),
                    ("apps/v1", "deployments"), ("apps/v1", "replicasets"), ("apps/v1", "daemonsets"),
                    ("v1", "replicationcontrollers"), ("batch/v1", "cronjobs"), ("batch/v1", "jobs"), ("v1", "pods"),
                    ("v1", "services"), ("v1", "configmaps"), ("v1", "secrets"), ("v1", "serviceaccounts"),
                    ("v1", "events"), ("rbac.authorization.k8s.io/v1", "roles"),
                    ("rbac.authorization.k8s.io/v1", "rolebindings"),
                    ("apps/v1", "statefulsets"), ("v1", "persistentvolumeclaims"))  # their volumes go with them


async def _stop_component(component: Component) -> None:
    """Stop one component; one that hangs is left behind with a warning, so that the containers,
    processes and ports the cluster made are still removed after it."""
    try:
        await asyncio.wait_for(component.stop(), COMPONENT_STOP_SECONDS)
    except TimeoutError:
        log.warning("%s did not stop within %gs; the cluster stops without it", component.name, COMPONENT_STOP_SECONDS)


@dataclasses.dataclass(frozen=True)
class DockerAccess:
    """Whether this process may use a Docker daemon, and what that daemon is."""

    why_not: str = ""  # "" when a daemon answers
    rootless: bool = False

    def describe(self) -> str:
        """Who the daemon runs as, and what reaching it means, in a few words."""
        if self.why_not:
            return self.why_not
        if self.rootless:
            return "a rootless Docker daemon answers"
        if os.geteuid() == 0:
            return "a Docker daemon answers, and this process is root"
        return "a root-owned Docker daemon answers: this account is in the docker group, which is root on the host"


def docker_access(timeout: float = 2.0) -> DockerAccess:
    """Ask the Docker daemon of the environment (``DOCKER_HOST`` ...) who it is: rootless when its
    ``SecurityOptions`` name ``rootless``, as ``docker info`` shows them."""
    try:
        import docker

        info = docker.DockerClient.from_env(timeout=timeout).info()
    except Exception as e:  # noqa: BLE001 - no SDK, no socket, no permission, no daemon: each says why
        if "Permission denied" in str(e):
            return DockerAccess("this account cannot use Docker: it is not in the docker group, which is root on "
                                "the host; on a shared server that is on purpose")
        return DockerAccess("no Docker daemon answers")
    return DockerAccess(rootless=any("name=rootless" in o for o in info.get("SecurityOptions") or []))


def docker_unavailable(timeout: float = 2.0) -> str:
    """Why no Docker daemon can be used from this process ("" when one answers)."""
    return docker_access(timeout).why_not


def docker_available(timeout: float = 2.0) -> bool:
    """True when a Docker daemon answers (the default runtime is docker then, else process)."""
    return not docker_unavailable(timeout)


#: why a rootless daemon is not chosen by itself (the README's table of machines)
ROOTLESS_UNTRIED = ("labkit's docker runtime is untried on it (its bridge lives in Docker's own namespace, not on "
                    "this machine's network)")


def choose_runtime(runtime: str | None, access: DockerAccess | None = None) -> tuple[str, str]:
    """The runtime, and why it was chosen (``access``: the Docker daemon, asked when needed)."""
    if runtime:
        return runtime, "asked for"
    if os.environ.get("LABKIT_RUNTIME") == "process":  # as a workshop's hub sets it: say why too, if Docker is out
        why_not = (access or docker_access()).why_not
        return "process", "LABKIT_RUNTIME" + (f"; {why_not}" if why_not else "")
    if os.environ.get("LABKIT_RUNTIME"):
        return os.environ["LABKIT_RUNTIME"], "LABKIT_RUNTIME"
    access = access or docker_access()
    if access.rootless:
        return "process", f"a rootless Docker daemon answers, but {ROOTLESS_UNTRIED} (LABKIT_RUNTIME=docker to try)"
    return ("process" if access.why_not else "docker"), access.describe()


class Cluster:
    """A labkit cluster. Use as ``with Cluster(nodes=2) as c: ...`` or ``c = Cluster().start()``.

    ``runtime``: ``docker`` (real containers), ``process`` (host processes) or ``sim`` (simulated
    nodes); by default ``$LABKIT_RUNTIME``, else docker when a daemon answers, else process.

    A sim cluster of more than 100 nodes runs them as KWOK does: Kubernetes' own lease and status
    intervals, one pod watch for all nodes, and no Events from the kubelets (pass ``kubelet=`` a
    ``KubeletConfig`` to choose otherwise).

    ``store``: ``memory``, ``sqlite:PATH`` (a file that outlives the cluster), ``etcd`` (the cluster
    starts one etcd member of its own, TLS with client certificates as kubeadm sets it up, and stops
    it with the cluster; :meth:`etcdctl` talks to it) or ``etcd://HOST:PORT[,HOST:PORT...]`` (an etcd
    you run: :func:`labkit.store.etcd.open_etcd` says how to give it certificates).

    ``authorization``: ``RBAC`` (kubeadm's choice: each component may do what its role allows, and
    a user what their bindings grant; the notebook and kubectl are ``system:masters``) or
    ``AlwaysAllow``.

    The scheduler and the controller manager each take a Lease in kube-system (``kube-scheduler``,
    ``kube-controller-manager``) and work only while they hold it, as with ``--leader-elect`` on a real
    control plane; both use kube's timings unless ``scheduler_leader_election`` and ``controllers``
    shorten them.

    ``control_planes``: more than one runs kubeadm's HA topology (:mod:`labkit.controlplane`): that many
    members, each with an etcd member of one Raft cluster, an API server, a scheduler and a controller
    manager, behind a load balancer (``load_balancer``: ``haproxy`` when installed, else ``built-in``;
    :mod:`labkit.network.loadbalancer`) whose address the kubeconfig and every node use.
    :attr:`control_plane` kills and restores members.

    ``control_plane_endpoint`` (``HOST:PORT``, ``kubeadm init --control-plane-endpoint``): the load
    balancer listens there, even for one member, with backends for :data:`~labkit.controlplane.ENDPOINT_MEMBERS`
    members at ``127.0.0.1:PORT+1 ...`` (:func:`~labkit.controlplane.member_port`), so that members joining
    later (:mod:`labkit.kubeadm`) serve where it expects them; the API servers' certificates name HOST.

    ``metrics_server`` (on by default, off by default above 100 sim nodes): runs metrics-server
    (:mod:`labkit.metricsserver`), which scrapes every kubelet each ``metric_resolution`` seconds (5 by
    default, a third of its manifest's 15 s, which a lesson may set to show what a real cluster does)
    and serves ``metrics.k8s.io`` for ``kubectl top`` and the HPA. A pod shows once it has two points,
    or one taken 10 s or more after it started: at 5 s that is 5 to 10 s after it starts, at 15 s 10
    to 25 s.
    """

    def __init__(self, *, nodes: int = 1, runtime: str | None = None, store: str = "memory", seed: int | None = None,
                 kubeconfig: str | Path | None = None, port: int = 0, set_kubeconfig_env: bool = True,
                 controllers: ControllerManagerConfig | None = None, kubelet: KubeletConfig | None = None,
                 authorization: str = "RBAC", scheduler_leader_election: LeaderElectionConfig | None = None,
                 control_planes: int = 1, load_balancer: str | None = None,
                 control_plane_endpoint: str | None = None, metrics_server: bool | None = None,
                 metric_resolution: float = METRIC_RESOLUTION) -> None:
        runtime, self._runtime_reason = choose_runtime(runtime)
        if control_planes < 1:
            raise ValueError("control_planes must be >= 1")
        self._endpoint = parse_endpoint(control_plane_endpoint) if control_plane_endpoint else None
        if self._endpoint and control_planes > ENDPOINT_MEMBERS:
            raise ValueError(f"a --control-plane-endpoint load balancer lists {ENDPOINT_MEMBERS} members")
        ha = control_planes > 1 or self._endpoint is not None
        if ha and store not in ("memory", "etcd"):
            raise ValueError(f"an HA control plane runs its own etcd cluster: store={store!r} cannot be used "
                             f"with control_planes={control_planes}")
        if ha:
            store = "etcd"
        self.control_planes = control_planes
        self._lb_kind = load_balancer
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
        self.authorization = check_authorization_mode(authorization)
        if nodes < 0:
            raise ValueError("nodes must be >= 0")
        self.node_names = [f"node-{i + 1}" for i in range(nodes)]
        self.runtime = runtime
        self.store_spec = store
        self.seed = seed
        self.port = port
        self.trace = Trace()
        self.controller_config = controllers or ControllerManagerConfig()
        self.scheduler_leader_election = scheduler_leader_election or LeaderElectionConfig()
        self.kubelet_config = kubelet or KubeletConfig()
        self._metrics_wanted = (metrics_server if metrics_server is not None
                                else not (runtime == "sim" and nodes > LARGE))
        self.metric_resolution = metric_resolution
        #: the cluster's metrics-server (``metrics_server=True``), once started
        self.metrics_server: MetricsServer | None = None
        if nodes > LARGE and runtime == "sim":  # nodes as KWOK runs them: Kubernetes' own timings, no events
            if kubelet is None:
                self.kubelet_config = dataclasses.replace(self.kubelet_config, lease_duration=40, renew_interval=10.0,
                                                          status_update_interval=60.0, events=False)
            if controllers is None:
                self.controller_config.node_monitor_grace_period = 50.0
        self._kubeconfig_arg = Path(kubeconfig) if kubeconfig else None
        self._set_env = set_kubeconfig_env
        self._workdir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: str | None = None
        self._clients: list[Client] = []
        self._pki: PKI | None = None
        self._runtimes: list[Runtime] = []
        self._docker_network: Any = None
        self._slot: slots.Slot | None = None
        self._admin: Client | None = None
        self._sim_pods: SimPodSource | None = None
        self._sim_loads = SimLoads()  # the sim nodes' load generators (set_sim_load)
        self._gc_threshold: tuple[int, ...] | None = None
        self._progress: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._cluster_id, self._cluster_cidr = "", ""
        self._pool: ConnectionPool | None = None
        self._plan: AddressPlan | None = None
        self._netns: HostNamespace = HOST
        self._netns_note = ""
        self.components: list[Component] = []
        self.store: kv.Store | None = None
        #: the etcd member this cluster runs (``store="etcd"``), and its certificates
        self.etcd: etcd_member.EtcdMember | None = None
        self.etcd_pki: EtcdPKI | None = None
        self._apiserver: APIServer | None = None
        self.kubeconfig: Path | None = None
        self._scheduler: Scheduler | None = None
        #: what kube-scheduler runs with (:meth:`configure_scheduler`): kube's default profile until changed
        self.scheduler_configuration: SchedulerConfiguration = DEFAULT_CONFIGURATION
        self._controller_manager: ControllerManager | None = None
        self.proxy: KubeProxy | None = None
        self.dns: ClusterDNS | None = None
        self.kubelets: dict[str, Kubelet] = {}
        self._stopped_kubelets: dict[str, Kubelet] = {}  # stop_kubelet(): what start_kubelet() starts again
        #: the HA control plane's members (``control_planes`` > 1), its etcd members and load balancer
        self.members: list[ControlPlaneMember] = []
        self.etcd_members: list[etcd_member.EtcdMember] = []
        self.load_balancer: LoadBalancer | None = None
        self._kubelet_apis: dict[str, KubeletAPI] = {}  # what every API server reaches the nodes through
        self._api_services: dict[str, APIServiceBackend] = {}  # and the servers of its APIServices

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 60, *, announce: bool = True) -> Cluster:
        """Start every component; ``announce`` prints :attr:`path`, the runtime and network chosen."""
        if self._thread is not None:
            return self
        self._workdir = owner.make_workdir()
        # The kernel holds ~10^5 long-lived objects (modules, clients, aiohttp); freezing them
        # keeps the garbage collector's full passes (60-300 ms) off every request's path.
        gc.collect()
        gc.freeze()
        # What the cluster creates (a thousand nodes as it starts, thousands of pods decoded in several
        # caches as it runs) makes each pass longer: collecting less often keeps a large cluster's
        # start and throughput (1000 sim nodes spent 1.5 s of 7 in full passes). Restored on stop.
        self._gc_threshold = gc.get_threshold()
        gc.set_threshold(*(max(now, tuned) for now, tuned in
                           zip(self._gc_threshold, GC_THRESHOLD, strict=True)))
        sslproto.SSLProtocol.max_size = min(sslproto.SSLProtocol.max_size, TLS_READ_BUFFER)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="labkit-cluster", daemon=True)
        self._thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
            self._wait_showing_progress(future, timeout)
        except BaseException:
            self.stop()
            raise
        if self._set_env:
            self._point_kubeconfig_here()
        if announce:
            print(f"labkit: {self.path}", flush=True)
            if isinstance(self.store, EtcdStore):
                print(f"labkit: {self.etcd_description}", flush=True)
        return self

    def _wait_showing_progress(self, future: concurrent.futures.Future[None], timeout: float) -> None:
        """Wait for the start, printing what a slow step (an image build) reports, from this thread:
        a notebook cell shows it, and nothing prints from the cluster's thread."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                future.result(timeout=0.1)
                break
            except concurrent.futures.TimeoutError:
                if time.monotonic() > deadline:
                    future.cancel()
                    raise TimeoutError(f"the cluster did not start within {timeout}s") from None
            finally:
                while not self._progress.empty():
                    print(f"labkit: {self._progress.get_nowait()}", flush=True)

    async def _prebuild_images(self) -> None:
        """Build labkit's images now (once per machine), so the first pods do not wait on a build."""
        from labkit.images import HELLO, NGINX, PAUSE, ensure_built
        from labkit.kubelet.runtime.docker import docker_client

        def report(line: str) -> None:  # one line per image, not docker's build steps
            if line.startswith("building "):
                self._progress.put(f"{line} - first start on this machine only")

        api = docker_client()
        for image in (PAUSE, NGINX, HELLO):
            await asyncio.to_thread(ensure_built, api, image, progress=report)

    async def _start(self) -> None:
        assert self._workdir is not None
        cluster_id = self._workdir.name.removeprefix("labkit-").lower().replace("_", "")
        await asyncio.to_thread(etcd_member.cleanup_leftovers)  # the etcd of a cluster whose process died
        await asyncio.to_thread(cleanup_load_balancers)  # and its haproxy
        self.store = await asyncio.to_thread(self._open_store)
        saved = self._saved_config()
        if saved.get("runtime", self.runtime) != self.runtime:
            raise ValueError(f"this store holds a {saved['runtime']} cluster; start it with "
                             f"runtime={saved['runtime']!r}")
        if "slot" in saved:
            kept = address_plan(self.runtime, int(saved["slot"])).service_cidr
            if saved.get("serviceCIDR", str(kept)) != str(kept):
                raise ValueError(f"this store's cluster was made by a labkit with another address plan (Services "
                                 f"in {saved['serviceCIDR']}, now {kept} for slot {saved['slot']}): start a new "
                                 "cluster (remove the store's file) with this labkit")
        if self.runtime != "sim":
            self._slot = slots.acquire(only=int(saved["slot"]) if "slot" in saved else None)
        plan = address_plan(self.runtime, self._slot.number if self._slot else 0, nodes=len(self.node_names))
        cluster_cidr, service_cidr = str(plan.cluster_cidr), plan.service_cidr
        if self.runtime == "docker":
            from labkit.kubelet.runtime.docker import DockerNetwork, cleanup_leftovers

            await asyncio.to_thread(cleanup_leftovers)  # what a crashed cluster left behind
            assert self._slot is not None
            self._docker_network = DockerNetwork(cluster_id, candidates=(docker_subnet(self._slot.number),),
                                                 service_cidr=str(service_cidr))
            await self._docker_network.ensure()
            cluster_cidr = self._docker_network.cluster_cidr
            await self._prebuild_images()
        elif self.runtime == "process":
            from labkit.kubelet.runtime.process import cleanup_leftovers as cleanup_processes

            await asyncio.to_thread(cleanup_processes)  # what a crashed cluster left running
            await asyncio.to_thread(self._open_namespace)
        # and the work directories of crashed clusters (each once nothing of its cluster runs any more)
        await asyncio.to_thread(owner.cleanup_workdirs)
        pki = self._pki = PKI.create(self._workdir / "pki",
                                     hosts=["127.0.0.1", "localhost", *([self._endpoint[0]] if self._endpoint else [])])
        self.controller_config.cluster_cidr = cluster_cidr
        self.controller_config.root_ca = pki.ca_cert_pem.decode()
        self.controller_config.cluster_signing_cert_file = str(pki.directory / CA_CERT)
        self.controller_config.cluster_signing_key_file = str(pki.directory / CA_KEY)
        if self.control_planes > 1 or self._endpoint:
            url = await self._start_control_plane(str(service_cidr))
        else:
            self._apiserver = APIServer(self.store, pki, ids=IdSource(self.seed), trace=self.trace,
                                       service_cidr=str(service_cidr), authorization=self.authorization,
                                        kubelets=self._kubelet_apis, api_services=self._api_services)
            url = await self._apiserver.start(port=self.port)
        cert, key = pki.issue_client_cert("admin", user="kubernetes-admin", groups=["system:masters"])
        self.kubeconfig = self._kubeconfig_arg or self._workdir / "kubeconfig"
        write_kubeconfig(self.kubeconfig, server=url, ca_pem=pki.ca_cert_pem, user="kubernetes-admin",
                         client_cert=cert, client_key=key)
        self._save_config(plan)
        await bootstrap.upload_cluster_info(self.admin(), url, pki.ca_cert_pem)  # kubeadm init's cluster-info

        if not self.members:
            self._controller_manager = await self._add(ControllerManager(
                self.client_for("system:kube-controller-manager", agent="kube-controller-manager"),
                config=self.controller_config))
            self._scheduler = await self._add(self._kube_scheduler())
        if self.runtime != "sim":
            network = (LoopbackNetwork(netns=self._netns, plan=plan) if self.runtime == "process"
                       else self._docker_network.bridge())
            for member in self.members:  # kube-aggregator's proxy dials pods where they live
                member.dial = network.open_connection
            for server in [m.apiserver for m in self.members] or [self._apiserver]:
                if server is not None:
                    server.aggregator.dial = network.open_connection
            self.proxy = await self._add(KubeProxy(self.client_for("system:kube-proxy", agent="kube-proxy"),
                                                   network=network))
            if self.runtime == "docker":
                self.dns = await self._add(ClusterDNS(self.client_for("system:coredns", agent="coredns"),
                                                      address=cluster_dns_ip(service_cidr), network=network))
        self._cluster_id, self._plan, self._cluster_cidr = cluster_id, plan, cluster_cidr
        if self.runtime == "sim":  # KWOK-style nodes: token identities over one shared connection pool
            self._pool = ConnectionPool(ca_file=pki.directory / "ca.crt")
            if len(self.node_names) > LARGE:  # and, as KWOK does, one pod watch for all of them
                self._sim_pods = await self._add(SimPodSource(self._node_client(
                    "system:serviceaccount:kube-system:kwok-controller", ["system:serviceaccounts"], "kwok")))
        await asyncio.gather(*(self._start_node(name) for name in self.node_names))
        await self._start_local_path_provisioner()
        if self._metrics_wanted:
            await self._start_metrics_server()
        for server in [m.apiserver for m in self.members] or [self.apiserver]:
            if server is not None:
                server.ready = True

    def _kube_scheduler(self) -> Scheduler:
        client = self.client_for("system:kube-scheduler", agent="kube-scheduler")
        election = self.scheduler_leader_election
        elector = LeaderElector(client, name="kube-scheduler", lease_duration=election.lease_duration,
                                renew_deadline=election.renew_deadline,
                                retry_period=election.retry_period) if election.leader_elect else None
        return self.scheduler_configuration.scheduler(client, elector=elector, seed=self.seed)

    def configure_scheduler(self, config: str | Mapping[str, Any]) -> SchedulerConfiguration:
        """Restart kube-scheduler with ``config``, a ``KubeSchedulerConfiguration``
        (``kubescheduler.config.k8s.io/v1``, YAML or a dict, as kube-scheduler's ``--config`` file):
        ``profiles[]`` by ``schedulerName``, ``plugins.score`` ``enabled`` (with ``weight``) and
        ``disabled``, ``pluginConfig`` for ``NodeResourcesFit`` (``scoringStrategy``: ``LeastAllocated``,
        ``MostAllocated`` or ``RequestedToCapacityRatio``). :mod:`labkit.scheduler.config` says what applies.

        kube-scheduler reads its file only when it starts, so, as on a real control plane after the
        static Pod's manifest changes, the scheduler is stopped (giving back its Lease) and a new one
        starts with the file: it rebuilds its cache from the API and schedules pending pods with the
        new profiles; pods already bound stay where they are. On an HA control plane every member's
        scheduler restarts. The trace records the restart (``cluster.story("lease/kube-scheduler",
        namespace="kube-system")``). A configuration kube-scheduler would refuse raises
        :class:`~labkit.scheduler.config.InvalidConfiguration` with its message, and nothing changes.
        Returns the checked configuration (``.describe()`` sums it up)."""
        configuration = load_configuration(config)
        if self._loop is None:
            raise RuntimeError("the cluster is not started: call start() first")
        self.scheduler_configuration = configuration
        for member in self.members:
            member.restart_scheduler(configuration)
        if not self.members:
            self.run(self._restart_scheduler(), timeout=30)
        return configuration

    async def _restart_scheduler(self) -> None:
        old, new = self._scheduler, self._kube_scheduler()
        if old is not None:
            self.components.remove(old)
            await old.stop()
            new.keep_held_as(old)
        self._scheduler = await self._add(new)
        self._scheduler.decide("leases", "kube-system/kube-scheduler",
                               f"restarted with a new configuration: {self.scheduler_configuration.describe()}")

    async def _start_local_path_provisioner(self) -> None:
        """The default StorageClass ``standard`` and its provisioner, as kind installs them
        (:mod:`labkit.localpath`): volumes are directories under the work directory."""
        assert self._workdir is not None and self._pki is not None
        await localpath.install(self.admin())
        # a service account's token, as the provisioner's pod has (its name is too long for a certificate's CN)
        client = Client(self.url, ca_file=self._pki.directory / "ca.crt", user_agent="local-path-provisioner/labkit",
                        token=self._pki.issue_token(user=localpath_deploy.USER, groups=list(localpath_deploy.GROUPS)))
        self._clients.append(client)
        await self._add(localpath.LocalPathProvisioner(client, base=self._workdir / "local-path-provisioner"))

    async def _start_metrics_server(self) -> None:
        """metrics-server as its manifest installs it, with its own identity; the API server then serves
        ``metrics.k8s.io/v1beta1`` from it in this process and marks its APIService available (every API
        server of an HA control plane: they share :attr:`_api_services`)."""
        await metrics_deploy.install(self.admin())
        self.metrics_server = await self._add(MetricsServer(
            self.client_for(metrics_deploy.USER, metrics_deploy.GROUPS, agent="metrics-server"), self._kubelet_apis,
            metric_resolution=self.metric_resolution))
        self._api_services[METRICS_GROUP_VERSION] = self.metrics_server.api
        await metrics_deploy.mark_available(self.client_for("system:apiserver", ["system:masters"],
                                                            agent="kube-apiserver"), now_utc())

    def set_sim_usage(self, pod: str, *, cpu: str | None = None, memory: str | None = None,
                      namespace: str = "default", container: str = "") -> None:
        """On a sim cluster, what ``pod``'s containers (or ``container``) use from now on: ``cpu`` as a
        quantity (``"500m"``), ``memory`` (``"64Mi"``); :class:`~labkit.kubelet.runtime.sim.SimRuntime`
        says how the model works. ValueError when no node runs the pod."""
        from labkit.kubelet.runtime.sim import SimRuntime

        async def set_on_nodes() -> int:
            return sum(r.set_usage(namespace, pod, cpu=cpu, memory=memory, container=container)
                       for r in self._runtimes if isinstance(r, SimRuntime))

        if self.runtime != "sim":
            raise RuntimeError(f"this is a {self.runtime} cluster: its pods use what they really use")
        if not self.run(set_on_nodes(), timeout=10):
            raise ValueError(f"no node runs pod {namespace}/{pod} (it has no running container yet)")

    def generate_load(self, service: str, *, requests: int = 100, duration: float = 10.0, concurrency: int = 1,
                      namespace: str = "default", path: str = "/", port: int | str | None = None,
                      timeout: float = 2.0) -> LoadReport:
        """Send ``requests`` HTTP GETs to Service ``service`` through its ClusterIP, ``concurrency`` at a
        time, for at most ``duration`` seconds (both limits are required, and capped: a run must end),
        recording for each the pod that answered and the latency (:mod:`labkit.proxy.loadgen`).
        ``print(report)`` sums it up: requests per pod, errors, p50 and p99; ``report.by_pod()`` counts.
        ``cluster.widgets.traffic(service)`` shows the same connections as kube-proxy saw them."""
        if self.runtime == "sim":
            raise RuntimeError("this is a sim cluster: its pods run no processes, so nothing would answer a "
                               "request; send load on runtime='process' or 'docker' (on sim, set_sim_load "
                               "models the CPU a load would cost)")
        if self.proxy is None:
            raise RuntimeError("the cluster is not started: call start() first")
        return generate_load(self.proxy, service, namespace=namespace, requests=requests, duration=duration,
                             concurrency=concurrency, path=path, port=port, timeout=timeout)

    def cgroup(self, pod: str, *, namespace: str = "default", container: str = "") -> Cgroup:
        """The cgroup of ``pod``'s running container (its only one, or ``container``), read now: the limits
        its runtime set from the pod's resources (``cpu_quota_us``/``cpu_period_us``, ``cpu_shares`` or
        v2's ``cpu_weight``, ``memory_limit_bytes``; ``files()`` names them as the cgroup does) and what
        they did (``nr_periods``, ``nr_throttled``, ``throttled_seconds``, ``oom_kills``). ValueError when
        the container has none (a sim cluster; the process runtime without root) or is not running."""

        async def read() -> Cgroup:
            node = (await self.admin().get(resource_path("v1", "pods", namespace=namespace, name=pod)))[
                "spec"].get("nodeName", "")
            kubelet = self._kubelet_apis.get(node)
            if not isinstance(kubelet, KubeletServer):
                raise ValueError(f"pod {namespace}/{pod} is not running on a node of this cluster yet")
            return await kubelet.container_cgroup(namespace, pod, container)

        try:
            return self.run(read(), timeout=10)
        except KubeletError as e:
            raise ValueError(e.message) from None

    def set_sim_load(self, name: str, *, selector: str, cpu: str | None, namespace: str = "default") -> int:
        """On a sim cluster, a load generator named ``name``: ``cpu`` (``"1200m"``) of work shared by the
        running pods of ``selector`` in ``namespace``, less each as there are more of them
        (:mod:`labkit.kubelet.runtime.simload`); ``cpu=None`` stops it. Returns how many pods share it."""
        if self.runtime != "sim":
            raise RuntimeError(f"this is a {self.runtime} cluster: send it real requests to load its pods")

        async def set_load() -> int:
            return self._sim_loads.set(name, namespace=namespace, selector=selector, cpu=cpu)

        return self.run(set_load(), timeout=10)

    async def _start_control_plane(self, service_cidr: str) -> str:
        """kubeadm's HA topology: the first member (``kubeadm init``), the others (``kubeadm join
        --control-plane``) at once, then the load balancer in front of their API servers. Returns its URL."""
        assert self._pki is not None and self.etcd_pki is not None and self._workdir is not None
        settings = MemberSettings(pki=self._pki, etcd_pki=self.etcd_pki, trace=self.trace, kubelets=self._kubelet_apis,
                                  api_services=self._api_services,
                                  service_cidr=service_cidr, authorization=self.authorization,
                                  controllers=self.controller_config, scheduler_election=self.scheduler_leader_election,
                                  seed=self.seed)
        self.members = [ControlPlaneMember(m.name, i, m, settings) for i, m in enumerate(self.etcd_members)]
        host, port = self._endpoint or ("127.0.0.1", self.port)
        if self._endpoint:  # the guide's haproxy lists every control-plane node up front
            for member in self.members:
                member.port = member_port(port, member.index)
        await asyncio.to_thread(self.members[0].start)  # it bootstraps the API's objects, alone
        await asyncio.gather(*(asyncio.to_thread(m.start) for m in self.members[1:]))
        if self._endpoint:
            backends = [Backend(n, "127.0.0.1", member_port(port, i))
                        for i, n in enumerate(member_names(ENDPOINT_MEMBERS))]
        else:
            backends = [Backend(m.name, "127.0.0.1", m.port) for m in self.members]
        self.load_balancer = load_balancer(backends, workdir=self._workdir / "load-balancer", host=host, port=port,
                                           kind=self._lb_kind)
        await self.load_balancer.start()
        return self.load_balancer.url

    async def _start_node(self, name: str) -> Kubelet:
        """A node: its runtime, and a kubelet that registers it with its own identity."""
        assert self.apiserver is not None and self._workdir is not None and self._plan is not None
        runtime = self._runtime_for(self._cluster_id, name)
        self._runtimes.append(runtime)
        address = self._plan.node_address(self.node_names.index(name))
        config = dataclasses.replace(self.kubelet_config, address=address, cluster_cidr=self._cluster_cidr)
        return await self._run_kubelet(name, runtime, config)

    async def _run_kubelet(self, name: str, runtime: Runtime, config: KubeletConfig) -> Kubelet:
        """A kubelet for node ``name`` over ``runtime``, started, and reachable from the API server."""
        assert self._workdir is not None
        kubelet = Kubelet(self._node_client(f"system:node:{name}", ["system:nodes"], "kubelet"), node_name=name,
                          runtime=runtime, root_dir=self._workdir / "nodes" / name, config=config,
                          pods=self._sim_pods.view(name) if self._sim_pods else None,
                          services=self._sim_pods.services if self._sim_pods else None)
        self._kubelet_apis[name] = KubeletServer(kubelet)
        self.kubelets[name] = await self._add(kubelet)
        return kubelet

    def stop_kubelet(self, node: str, timeout: float = 60) -> None:
        """Stop the kubelet of ``node``, as ``systemctl stop kubelet`` on that machine would: its containers
        keep running, but nothing renews the node's Lease or reports on its pods any more, and the API
        server no longer reaches it (``kubectl logs`` of its pods fails). :meth:`start_kubelet` brings it back."""
        kubelet = self.kubelets.get(node)
        if kubelet is None:
            known = node in self._stopped_kubelets
            raise ValueError(f"the kubelet of {node} is already stopped" if known else f"there is no node {node!r}")
        del self.kubelets[node]
        self._kubelet_apis.pop(node, None)
        self.components.remove(kubelet)
        self._stopped_kubelets[node] = kubelet
        self.run(kubelet.stop(), timeout=timeout)
        if self._sim_pods is not None:  # the next kubelet gets a fresh view of the node's pods
            self._sim_pods.nodes.pop(node, None)

    def start_kubelet(self, node: str, timeout: float = 60) -> Kubelet:
        """Start the kubelet of ``node`` again after :meth:`stop_kubelet` (``systemctl start kubelet``): a
        new kubelet on the same runtime posts the node's status (Ready), renews its Lease, adopts the
        containers that kept running and takes up the node's pods."""
        old = self._stopped_kubelets.get(node)
        if old is None:
            raise ValueError(f"the kubelet of {node} is running" if node in self.kubelets
                             else f"there is no node {node!r}")
        kubelet = self.run(self._run_kubelet(node, old.runtime, old.config), timeout=timeout)
        del self._stopped_kubelets[node]
        return kubelet

    def _node_client(self, user: str, groups: Sequence[str], agent: str) -> Client:
        """A node-side identity (``system:node:NAME``): a certificate, or on sim a token sharing one pool."""
        if self._pool is None:
            return self.client_for(user, groups, agent=agent)
        assert self._pki is not None and self.apiserver is not None
        client = Client(self.url, ca_file=self._pki.directory / "ca.crt",
                        token=self._pki.issue_token(user=user, groups=list(groups)), pool=self._pool,
                        user_agent=f"{agent}/labkit")
        self._clients.append(client)
        return client

    def add_node(self, name: str | None = None, timeout: float = 60) -> str:
        """Start one more node (a kubelet over a new runtime); it registers itself as nodes do when they
        join a cluster. Returns its name."""
        name = name or f"node-{len(self.node_names) + 1}"
        if name in self.node_names:
            raise ValueError(f"node {name!r} already exists")
        self.node_names.append(name)
        try:
            self.run(self._start_node(name), timeout=timeout)
        except BaseException:
            self.node_names.remove(name)
            raise
        return name

    def _runtime_for(self, cluster_id: str, node: str) -> Runtime:
        if self.runtime == "docker":
            from labkit.kubelet.runtime.docker import DockerRuntime

            dns = [self.dns.address] if self.dns else []
            return DockerRuntime(cluster_id, node, network=self._docker_network, dns_servers=dns)
        if self.runtime == "process":
            from labkit.kubelet.runtime.process import ProcessRuntime

            assert self._workdir is not None
            return ProcessRuntime(root_dir=self._workdir / "runtime" / node, node=node, netns=self._netns)
        from labkit.kubelet.runtime.sim import SimRuntime

        return SimRuntime(node=node, loads=self._sim_loads)

    def _open_store(self) -> kv.Store:
        """The store: for ``etcd``, first the etcd certificates (``pki/etcd/``) and a member of this cluster's
        own, which the API server reaches with its ``apiserver-etcd-client`` certificate, as kubeadm sets it up."""
        if self.store_spec != "etcd":
            return kv.open_store(self.store_spec)
        assert self._workdir is not None
        names = member_names(self.control_planes)
        pki = self.etcd_pki = EtcdPKI.create(self._workdir / "pki", node_name=names[0])
        self.etcd_members = [etcd_member.EtcdMember(
            member_root(self._workdir, name), etcd_member.MemberTLS(
                pki.ca_cert, *(pki.pair("server") + pki.pair("peer") if i == 0 else pki.issue_member(name))),
            name=name) for i, name in enumerate(names)]
        self.etcd = self.etcd_members[0]
        if len(self.etcd_members) == 1:
            self.etcd.start()
        else:
            etcd_member.start_cluster(self.etcd_members)
        cert, key = pki.pair("apiserver-etcd-client")
        return EtcdStore([m.client_url for m in self.etcd_members], ca_file=pki.ca_cert, cert_file=cert, key_file=key)

    @property
    def etcd_description(self) -> str:
        """Which etcd holds this cluster's state, in one line (empty for the memory and SQLite stores)."""
        if not isinstance(self.store, EtcdStore):
            return ""
        endpoints = ", ".join(self.store.endpoints)
        if self.etcd is not None and self.etcd.binary is not None:
            count = len(self.etcd_members)
            members = (f"one member at {endpoints} (pid {self.etcd.pid})" if count == 1 else
                       f"{count} members of one Raft cluster at {endpoints} "
                       f"(pids {', '.join(str(m.pid) for m in self.etcd_members)})")
            return f"etcd: {self.etcd.binary.describe()}, {members}, TLS with client certificates"
        return f"etcd: {self.store.server_version()} at {endpoints}"

    def etcdctl_command(self, *args: str) -> list[str]:
        """The ``etcdctl`` command line for this cluster's etcd, then ``args``: with the
        ``healthcheck-client`` certificate of ``pki/etcd/`` (the one kubeadm gives probes and admins) for
        the cluster's own member, with the store's certificate for an ``etcd://`` one."""
        if not isinstance(self.store, EtcdStore):
            raise RuntimeError(f"this cluster's store is {self.store_spec!r}: etcdctl needs store='etcd'")
        if self.etcd is not None and self.etcd_pki is not None:
            command = etcd_member.etcdctl_command(self.etcd.binary, [m.client_url for m in self.etcd_members],
                                                  self.etcd_pki.ca_cert, *self.etcd_pki.pair("healthcheck-client"))
        else:
            command = etcd_member.etcdctl_command(None, self.store.endpoints, self.store.ca_file,
                                                  self.store.cert_file, self.store.key_file)
        return [*command, *args]

    def etcdctl(self, *args: str, timeout: float = 30) -> str:
        """Run ``etcdctl`` on this cluster's etcd (:meth:`etcdctl_command`) and return what it prints,
        e.g. ``cluster.etcdctl("get", "--prefix", "/registry/pods/", "--keys-only")``."""
        done = subprocess.run(self.etcdctl_command(*args), capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "ETCDCTL_API": "3"})
        if done.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def _saved_config(self) -> dict[str, str]:
        """The address plan a persistent store was created with (``kube-system/labkit-config``)."""
        assert self.store is not None
        found = self.store.range(f"/registry/configmaps/kube-system/{CONFIG_MAP}").kvs
        return json.loads(found[0].value).get("data", {}) if found else {}

    def _save_config(self, plan: AddressPlan) -> None:
        """What kubeadm records at init: the cluster's configuration (here its runtime and address plan,
        in ``kube-system/labkit-config``) and the cluster DNS Service at the tenth service address."""
        assert self.apiserver is not None
        if self._saved_config():
            return
        data = {"runtime": self.runtime, "clusterCIDR": str(plan.cluster_cidr), "serviceCIDR": str(plan.service_cidr)}
        if self._slot is not None:
            data["slot"] = str(self._slot.number)
        self.apiserver.registry("configmaps").create("kube-system", {"metadata": {"name": CONFIG_MAP}, "data": data})
        self.apiserver.registry("services").create("kube-system", {
            "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"clusterIP": cluster_dns_ip(plan.service_cidr),
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}]}})

    async def _add(self, component: T) -> T:
        assert isinstance(component, Component)
        component.attach_trace(self.trace)
        self.components.append(component)
        await component.start()
        return component

    def client_for(self, user: str, groups: Sequence[str] = (), *, agent: str = "labkit") -> Client:
        """An API client with its own client certificate for ``user`` (a component's identity)."""
        if self._pki is None or self.apiserver is None:
            raise RuntimeError("the cluster is not started: call start() first")
        cert, key = self._pki.issue_client_cert(user, user=user, groups=list(groups))
        client = Client(self.url, ca_file=self._pki.directory / "ca.crt", cert_file=cert, key_file=key,
                        user_agent=f"{agent}/labkit")
        self._clients.append(client)
        return client

    def add(self, component: T, timeout: float = 60) -> T:
        """Start a component on the cluster's loop; it stops with the cluster."""
        return self.run(self._add(component), timeout=timeout)

    # --- joining it (kubeadm's bootstrap tokens) -------------------------------------------------

    @property
    def pki(self) -> PKI:
        """The cluster's CA and what it signed (``pki/``; the etcd CA is :attr:`etcd_pki`)."""
        if self._pki is None:
            raise RuntimeError("the cluster is not started: call start() first")
        return self._pki

    def create_token(self, *, ttl: dt.timedelta | None = bootstrap.DEFAULT_TTL, description: str = "") -> str:
        """A new bootstrap token (``kubeadm token create``): a Secret ``bootstrap-token-<id>`` in
        kube-system that authenticates as ``system:bootstrap:<id>`` and signs ``cluster-info``."""
        return self.run(bootstrap.create_token(self.admin(), ttl=ttl, description=description))

    def join_command(self, token: str | None = None, *, control_plane: bool = False) -> str:
        """``labkit join ENDPOINT --token ... --discovery-token-ca-cert-hash sha256:...`` as ``kubeadm
        token create --print-join-command`` prints it (a new token unless one is given)."""
        assert self._pki is not None
        return bootstrap.join_command(self.url, token or self.create_token(), self._pki.ca_cert_pem,
                                      control_plane=control_plane)

    # --- seeing it ------------------------------------------------------------------------------

    def story(self, obj: Any, *, namespace: str = "default") -> Any:
        """The story so far of ``obj`` (``"pod/web"``, ``"deploy/web"``): every request, store write,
        watch event and decision about it, in order (:mod:`labkit.widgets.story`)."""
        from labkit.widgets.story import story

        return story(self, obj, namespace=namespace)

    @property
    def widgets(self) -> Widgets:
        """Views of this cluster: ``cluster.widgets.cluster()``, ``.timeline("pod/web")`` ..."""
        return Widgets(self)

    # --- labs ------------------------------------------------------------------------------------

    def reset(self, timeout: float = 60) -> None:
        """Return the cluster to a clean state between labs: every namespace but the system ones is
        deleted, and everything a user created in ``default`` goes; the control loops resume. It all
        happens through the API server, as ``kubectl delete`` would do it."""
        self.resume()
        self.run(self._reset(), timeout=timeout)

    async def _reset(self) -> None:
        client = self.admin()
        keep = {"default", "kube-system", "kube-public", "kube-node-lease"}
        namespaces = await client.get(resource_path("v1", "namespaces"))
        for ns in namespaces["items"]:
            if ns["metadata"]["name"] not in keep:
                await client.delete(resource_path("v1", "namespaces", name=ns["metadata"]["name"]))
        for api_version, plural in RESET_IN_DEFAULT:
            listed = await client.get(resource_path(api_version, plural, namespace="default"))
            for item in listed["items"]:
                name = item["metadata"]["name"]
                if (plural, name) in (("services", "kubernetes"), ("endpoints", "kubernetes"),
                                      ("serviceaccounts", "default"), ("configmaps", "kube-root-ca.crt")):
                    continue
                try:
                    await client.delete(resource_path(api_version, plural, namespace="default", name=name),
                                        {"propagationPolicy": "Background"})
                except APIStatusError as e:
                    if e.code != 404:
                        raise
        while True:  # wait until the namespaces and pods are really gone
            left = [n for n in (await client.get(resource_path("v1", "namespaces")))["items"]
                    if n["metadata"]["name"] not in keep]
            pods = (await client.get(resource_path("v1", "pods", namespace="default")))["items"]
            if not left and not pods:
                return
            await asyncio.sleep(0.1)

    def admin(self) -> Client:
        """An API client with cluster-admin rights (``system:masters``), for notebooks and tests."""
        if self._admin is None:
            self._admin = self.client_for("kubernetes-admin", ["system:masters"], agent="labkit-notebook")
        return self._admin

    # --- step mode -------------------------------------------------------------------------------

    def _gates(self) -> list[tuple[Any, Callable[..., None]]]:
        """Every gate, with how to call on its loop: the cluster's, or its control-plane member's."""
        gates: list[tuple[Any, Callable[..., None]]] = [(g, self._loop_call) for c in self.components for g in c.gates]
        for member in self.members:
            gates += [(g, member.call_soon) for c in member.components for g in c.gates]
        return gates

    def pause(self) -> None:
        """Hold every control loop between work items (the members' too, on an HA control plane)."""
        for gate, call in self._gates():
            call(gate.pause)

    def resume(self) -> None:
        for gate, call in self._gates():
            call(gate.resume)

    def step(self, component: str | None = None, n: int = 1) -> str:
        """Let one work item through: of the named component or loop (``"scheduler"``,
        ``"replicaset-controller"``, ``"kubelet-node-1"``), or of the first loop with an item waiting.
        Returns the name of the loop that stepped (empty if nothing was waiting)."""
        components = [(c, self._loop_call) for c in self.components]
        components += [(c, m.call_soon) for m in self.members for c in m.components]
        gates = [(g, call) for c, call in components for g in c.gates if component in (None, c.name, g.name)]
        chosen = next(((g, call) for g, call in gates if g.waiting),
                      gates[0] if gates and component is not None else None)
        if chosen is None:
            return ""
        gate, call = chosen
        call(gate.step, n)
        return str(gate.name)

    def _loop_call(self, fn: Any, *args: Any) -> None:
        if self._loop is None:
            raise RuntimeError("the cluster is not started: call start() first")
        self._loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        """Stop every component and remove what the cluster created (workdir, kubeconfig env)."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            try:
                self.run(self._stop(), timeout=30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        for member in self.members:  # the loop was gone: stop the members before their files go
            member.stop()
        for etcd in self.etcd_members:
            etcd.stop()
        self.members, self.etcd_members, self.etcd = [], [], None
        self._restore_kubeconfig_env()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None
        if self._kubeconfig_arg is not None:
            self._kubeconfig_arg.unlink(missing_ok=True)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._loop = self._thread = self._workdir = None

    async def _stop(self) -> None:
        for view in [c for c in self.components if c.stops_first]:
            await _stop_component(view)
            self.components.remove(view)
        kubelets = [c for c in self.components if isinstance(c, Kubelet)]
        await asyncio.gather(*(_stop_component(c) for c in kubelets))  # nodes at once
        for component in reversed(self.components):
            if not isinstance(component, Kubelet):
                await _stop_component(component)
        self.components.clear()
        self._stopped_kubelets.clear()
        self._api_services.clear()
        self._sim_pods, self.metrics_server = None, None
        for runtime in self._runtimes:
            await runtime.cleanup()
            await runtime.close()
        self._runtimes.clear()
        if self._docker_network is not None:
            await self._docker_network.remove()
        if isinstance(self._netns, UserNamespace):
            self._netns.stop()
            self._netns = HOST
        if self._slot is not None:
            self._slot.release()
        self._admin = None
        for client in self._clients:
            await client.close()
        self._clients.clear()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self.load_balancer is not None:
            await self.load_balancer.stop()
            self.load_balancer = None
        if self.members:  # their etcd first: a member blocked on a paused one then fails fast and stops
            await asyncio.gather(*(asyncio.to_thread(m.kill) for m in self.etcd_members))
            await asyncio.gather(*(asyncio.to_thread(m.stop) for m in self.members))
        elif self.apiserver is not None:
            await self.apiserver.stop()
        if self.store is not None:
            self.store.close()
        await asyncio.gather(*(asyncio.to_thread(m.stop) for m in self.etcd_members))
        self.members, self.etcd_members, self.etcd = [], [], None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def apiserver(self) -> APIServer | None:
        """The API server; of an HA control plane, the first running member's."""
        if self.members:
            return next((m.apiserver for m in self.members if m.running and m.apiserver is not None), None)
        return self._apiserver

    @property
    def scheduler(self) -> Scheduler | None:
        """The scheduler; of an HA control plane, the running one that holds the Lease (else the first
        running one)."""
        if self.members:
            running = [m.scheduler for m in self.members if m.running and m.scheduler is not None]
            return next((s for s in running if s.elector is not None and s.elector.is_leader),
                        running[0] if running else None)
        return self._scheduler

    @property
    def controller_manager(self) -> ControllerManager | None:
        """The controller manager; of an HA control plane, the running one that holds the Lease (else
        the first running one)."""
        if self.members:
            running = [m.controller_manager for m in self.members if m.running and m.controller_manager is not None]
            return next((cm for cm in running if cm.is_leader), running[0] if running else None)
        return self._controller_manager

    @property
    def control_plane(self) -> ControlPlane:
        """The HA control plane's faults and state (a cluster started with ``control_planes`` > 1)."""
        if not self.members or self.etcd_pki is None:
            raise RuntimeError("this cluster has one control-plane member: start it with control_planes=3 "
                               "for the HA lesson")
        return ControlPlane(self.members, self.etcd_pki, self._read_lease, self._balancer_states)

    def _balancer_states(self) -> dict[str, str]:
        if self.load_balancer is None:
            return {}
        try:
            return {b.name: b.state for b in self.run(self.load_balancer.status(), timeout=5)}
        except LoadBalancerError as e:  # its admin socket did not answer: no member counts as UP
            return {b.name: f"unknown ({e})" for b in self.load_balancer.backends}

    def _read_lease(self, name: str) -> dict[str, Any] | None:
        try:
            lease: dict[str, Any] = self.run(self.admin().get(resource_path(
                "coordination.k8s.io/v1", "leases", namespace="kube-system", name=name)), timeout=10)
            return lease
        except APIStatusError as e:
            if e.code == 404:
                return None
            raise

    @property
    def url(self) -> str:
        """Where clients reach the API: the load balancer of an HA control plane, else the API server."""
        if self.load_balancer is not None:
            return self.load_balancer.url
        return self.apiserver.url if self.apiserver else ""

    @property
    def pod_network(self) -> str:
        """How pods get their IPs on this cluster's runtime, in one line."""
        if self._docker_network is not None:
            return str(self._docker_network.describe())
        if self.runtime == "process":
            where = ("in the cluster's own network namespace (you are not root; Services answer on their ports "
                     "there, from pods and from this notebook)" if self._netns is not HOST else "on this machine")
            return (f"each pod is a host process with a loopback address of its own, from {self._cluster_cidr}, "
                    f"{where}{self._netns_note}")
        return "simulated: pod IPs are recorded, nothing answers on them"

    @property
    def path(self) -> str:
        """Which runtime and network this cluster runs on, why, and what another would give, in one line."""
        limits = "" if proccgroups.unavailable() is None else " with their limits"  # as root, cgroups enforce them
        gain = {"docker": "",
                "process": f"; with Docker (as root or in the docker group) pods would be real containers{limits}",
                "sim": "; with docker or process, pods would really run"}[self.runtime]
        return f"{self.runtime} runtime ({self._runtime_reason}): {self.pod_network}{gain}"

    def _open_namespace(self) -> None:
        """The process runtime's network: this machine's as root, else the cluster's own (if allowed)."""
        if HOST.can_bind(80):
            return
        try:
            self._netns = UserNamespace().start()
        except NamespaceUnavailable as e:
            self._netns_note = (f"; ports below {unprivileged_port_start()} are closed to you, so Services on them "
                                f"do not answer and the nginx stand-in listens on 10080: {e}")

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        """Run a coroutine on the cluster's loop from any other thread and wait for its result."""
        return run_on(self._loop, coro, timeout, "the cluster")

    def _point_kubeconfig_here(self) -> None:
        self._saved_env = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = str(self.kubeconfig)
        module = sys.modules.get("kubernetes.config.kube_config")
        if module is not None:  # it reads KUBECONFIG once, at import
            setattr(module, "KUBE_CONFIG_DEFAULT_LOCATION", str(self.kubeconfig))  # noqa: B010 - a module's global

    def _restore_kubeconfig_env(self) -> None:
        if not self._set_env or self.kubeconfig is None or os.environ.get("KUBECONFIG") != str(self.kubeconfig):
            return
        if self._saved_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = self._saved_env
        module = sys.modules.get("kubernetes.config.kube_config")
        if module is not None:
            setattr(module, "KUBE_CONFIG_DEFAULT_LOCATION", self._saved_env or "~/.kube/config")  # noqa: B010

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.apiserver and self.apiserver.ready else "stopped"
        return f"<labkit.Cluster nodes={len(self.node_names)} runtime={self.runtime} store={self.store_spec} {state}>"


class Widgets:
    """The widgets of one cluster (see :mod:`labkit.widgets`), created on demand."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def cluster(self, **kw: Any) -> Any:
        from labkit.widgets import ClusterView

        return ClusterView(self._cluster, **kw)

    def control_plane(self, **kw: Any) -> Any:
        from labkit.widgets import ControlPlaneView

        return ControlPlaneView(self._cluster, **kw)

    def timeline(self, obj: Any, **kw: Any) -> Any:
        from labkit.widgets import Timeline

        return Timeline(self._cluster, obj, **kw)

    def scheduler(self, pod: Any, **kw: Any) -> Any:
        from labkit.widgets import SchedulerView

        return SchedulerView(self._cluster, pod, **kw)

    def store(self, **kw: Any) -> Any:
        from labkit.widgets import StoreView

        return StoreView(self._cluster, **kw)

    def pod(self, name: str, **kw: Any) -> Any:
        from labkit.widgets import PodLifecycle

        return PodLifecycle(self._cluster, name, **kw)

    def nodes(self, **kw: Any) -> Any:
        from labkit.widgets import NodeHealth

        return NodeHealth(self._cluster, **kw)

    def resources(self, **kw: Any) -> Any:
        from labkit.widgets import ResourcesView

        return ResourcesView(self._cluster, **kw)

    def traffic(self, service: str, **kw: Any) -> Any:
        from labkit.widgets import ServiceTraffic

        if self._cluster.proxy is None:
            raise RuntimeError("this cluster runs no kube-proxy (the sim runtime has no traffic to show)")
        return ServiceTraffic(self._cluster.proxy, service, **kw)
