"""The kubelet: the node agent that turns pods bound to its node into running containers.

Mirrors ``pkg/kubelet/kubelet.go`` (``Run``, ``SyncPod``, ``SyncTerminatingPod``), the container
runtime manager ``pkg/kubelet/kuberuntime`` (``computePodActions``: sandbox, then init containers in
order, then containers; restart policy; ``doBackOff`` with 10 s doubling to 5 min), the image
manager's pull back-off (``ErrImagePull`` then ``ImagePullBackOff``), the PLEG (``pkg/kubelet/pleg``:
a relist of the runtime every ``pleg_period``, kube's generic PLEG; and, as the Evented PLEG kube has
behind a feature gate, the runtime's container events, which wake a pod's worker at once and, while
their stream is up, slow the relist to kube's 300 s), the pods' DNS search path
(``pkg/kubelet/network/dns``) and the node status and lease loops with the node's events
(``Starting``, ``NodeReady`` and the other condition events at start, ``NodeNotSchedulable`` /
``NodeSchedulable`` when it is cordoned or uncordoned).
labkit's own addition: when the runtime runs a stand-in for an image that cannot be pulled, the pod
gets a Warning event (``ImageStandIn``) and the ``labkit.dev/image-stand-in`` annotation.
It talks to the cluster only through the API server, as ``system:node:NAME``.

Layout: ``registration.py`` (the Node), ``nodelease.py`` (heartbeat), ``podworkers.py`` (one worker
per pod, through the gate), ``status.py`` (pod status), ``prober.py``, ``envvars.py``,
``volumes.py``, ``ipam.py`` (pod IPs), ``server.py`` (logs/exec/attach/port-forward), ``runtime/``,
``certbootstrap.py`` (the TLS bootstrap of a kubelet that joins with a bootstrap token).

Left out: cgroups and eviction, static pods, sidecar init containers, lifecycle hooks, the
``activeDeadlineSeconds`` timer, image garbage collection, node status from real host metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any, TypedDict

from labkit import owner
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import to_bytes, to_millicores
from labkit.apimachinery.timeutil import go_duration, now_utc, rfc3339
from labkit.client import APIStatusError, Client, resource_path
from labkit.component import Component, RepeatedFailure
from labkit.events import EventRecorder
from labkit.informer import Informer
from labkit.kubelet import registration
from labkit.kubelet import status as podstatus
from labkit.kubelet.envvars import expand, make_environment
from labkit.kubelet.ipam import HostLocalIPAM, fallback_cidr
from labkit.kubelet.nodelease import NodeLease
from labkit.kubelet.podworkers import PodWorker, PodWorkers
from labkit.kubelet.prober import ProbeWorker
from labkit.kubelet.qos import container_oom_score_adjust, lowest_oom_score_adj
from labkit.kubelet.runtime import (
    LABEL_CONTAINER_NAME,
    LABEL_INIT_CONTAINER,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerConfig,
    ContainerStatus,
    CRIError,
    ImagePullError,
    ImageRef,
    PodSandboxConfig,
    PortMapping,
    Runtime,
)
from labkit.kubelet.simpods import NodePods
from labkit.kubelet.volumes import MOUNT_RETRY_INTERVAL, MountError, mounts_for, prepare_volumes, remove_pod_dir

log = logging.getLogger(__name__)
#: labkit's own: on a pod whose image the runtime replaced, ``"nginx:latest -> labkit/nginx:1"`` per image
STAND_IN_ANNOTATION = "labkit.dev/image-stand-in"
STOP_FLUSH_SECONDS = 5.0  # how long a stopping kubelet waits for its events to be written
#: kube's ``eventedPlegRelistPeriod``: the relist, a safety net while the runtime's container events come
EVENTED_PLEG_RELIST_PERIOD = 300.0


@dataclasses.dataclass
class KubeletConfig:
    """``KubeletConfiguration`` fields labkit honours (teaching defaults may be shorter)."""

    cpu: str = "2"
    memory: str = "4Gi"
    pods: int = 110
    address: str = "127.0.0.1"
    cluster_cidr: str = "10.244.0.0/16"  # the fallback pod range is taken from it when no podCIDR comes
    pod_cidr_timeout: float = 5.0
    # kube: a 40 s lease renewed every 10 s, status every 10 s; labkit's node lifecycle notices a silent
    # node after 8 s (ControllerManagerConfig.node_monitor_grace_period), so it renews every 2 s
    lease_duration: int = 8
    renew_interval: float = 2.0
    status_update_interval: float = 4.0  # nodeStatusUpdateFrequency
    backoff_base: float = 10.0  # crash-loop and image-pull back-off: base doubling to backoff_max
    backoff_max: float = 300.0
    # how often the runtime is relisted for container changes (kube's genericPlegRelistPeriod), and
    # retried for its container events, while their stream is down
    pleg_period: float = 1.0
    cluster_domain: str = "cluster.local"  # clusterDomain: the pods' DNS search path ends in it
    events: bool = True  # False: record no Events, as KWOK's simulated nodes (large sim clusters)


class Backoff:
    """``flowcontrol.Backoff``: per key, ``base`` doubling to ``cap``; forgotten after 2 x ``cap`` quiet."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap = base, cap
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (duration, last update, monotonic)

    def next(self, key: str) -> float:
        duration, last = self._entries.get(key, (0.0, 0.0))
        now = time.monotonic()
        duration = self.base if duration == 0 or now - last > 2 * self.cap else min(duration * 2, self.cap)
        self._entries[key] = (duration, now)
        return duration

    def remaining(self, key: str, since: float) -> float:
        """Seconds left of the back-off counted from ``since`` (monotonic); 0 when not backing off."""
        duration, _ = self._entries.get(key, (0.0, 0.0))
        return max(since + duration - time.monotonic(), 0.0)

    def duration(self, key: str) -> float:
        return self._entries.get(key, (0.0, 0.0))[0]


@dataclasses.dataclass
class PodState:
    """What this kubelet keeps about one pod between syncs."""

    sandbox_id: str = ""
    sandbox: PodSandboxConfig | None = None
    ip: str = ""
    volume_paths: dict[str, str] | None = None
    waiting: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    pull_failed_at: dict[str, float] = dataclasses.field(default_factory=dict)  # container -> monotonic
    # container id -> kind -> worker
    probes: dict[str, dict[str, ProbeWorker]] = dataclasses.field(default_factory=dict)
    killed_by_probe: set[str] = dataclasses.field(default_factory=set)
    start_time: str = ""
    warned_limits: bool = False


class DNSConfig(TypedDict, total=False):
    """The resolv.conf part of a sandbox's config (``PodSandboxConfig.dns_config``)."""

    dns_search: tuple[str, ...]
    dns_options: tuple[str, ...]


class Kubelet(Component):
    """One node's kubelet. ``root_dir`` holds pod volumes (by default a temporary directory, removed on stop);
    ``pods``: where its pods come from (by default its own informer on ``spec.nodeName=NODE``);
    ``services``: the Service cache for environment variables (by default its own, as the kubelet's
    service lister; a shared one is run by whoever shares it)."""

    name = "kubelet"

    def __init__(self, client: Client, *, node_name: str, runtime: Runtime, root_dir: str | Path | None = None,
                 config: KubeletConfig | None = None, pods: Informer | NodePods | None = None,
                 services: Informer | None = None) -> None:
        super().__init__(client)
        self.name = f"kubelet-{node_name}"
        self.node_name = node_name
        self.runtime = runtime
        self.config = config or KubeletConfig()
        self._owns_root = not root_dir
        self.root = Path(root_dir) if root_dir else owner.make_workdir(f"labkit-kubelet-{node_name}-")
        self.recorder = EventRecorder(client, "kubelet", host=node_name, record=self.config.events)
        self.status = podstatus.StatusManager(client)
        self.backoff = Backoff(self.config.backoff_base, self.config.backoff_max)
        self.pods = pods or Informer(client, "v1", "pods", field_selector=f"spec.nodeName={node_name}")
        self._owns_services = services is None
        self.services = services or Informer(client, "v1", "services")
        self.workers = PodWorkers(gate=self.gate(f"kubelet-{node_name}"), sync=self._sync,
                                  new_state=lambda _: PodState(), retry_after=min(1.0, self.config.backoff_base))
        self.node: Obj = {}
        self.lease = NodeLease(client, node=node_name, duration=self.config.lease_duration,
                               renew_interval=self.config.renew_interval)
        self.ipam: HostLocalIPAM | None = None
        self._ipam_lock = asyncio.Lock()
        self._pulled: dict[str, ImageRef] = {}
        self._adoptable: dict[str, Any] = {}  # pod uid -> sandbox status found at start
        self._last_unschedulable = False
        self._evented = False  # the runtime's container events stream is up
        self._relist_now = asyncio.Event()

    # --- startup ---------------------------------------------------------------------------------

    async def run(self) -> None:
        c = self.config
        node = registration.node_object(self.node_name, address=c.address, cpu=c.cpu, memory=c.memory, pods=c.pods,
                                        runtime=f"labkit://{self.runtime.name}", now=rfc3339(now_utc()))
        self.node = await registration.register(self.client, node)
        self._record_node_event("Normal", "Starting", "Starting kubelet.")
        for cond in self.node["status"]["conditions"]:  # "KubeletHasSufficientMemory" -> "NodeHasSufficientMemory"
            self._record_node_status_event("Node" + cond["reason"].removeprefix("Kubelet"))
        self.lease.node_uid = self.node["metadata"].get("uid", "")
        await self.lease.renew()
        self._adoptable = {s.labels.get(LABEL_POD_UID, s.uid): s for s in await self.runtime.list_pod_sandboxes()
                           if s.state == "ready"}
        self.pods.add_handlers(on_add=self.workers.update, on_update=self.workers.changed,
                               on_delete=lambda pod: self.workers.update(pod, deleted=True))
        self.spawn(self.pods.run(), "pod-informer")
        if self._owns_services:
            self.spawn(self.services.run(), "service-informer")
        self.spawn(self.lease.run(), "lease")
        self.spawn(self._node_status_loop(), "node-status")
        self.spawn(self._relist_loop(), "pleg")
        self.spawn(self._container_events_loop(), "evented-pleg")
        await self.pods.synced.wait()

    async def stop(self) -> None:
        """Stop the kubelet's loops; containers keep running (a new kubelet adopts them)."""
        for worker in list(self.workers.workers.values()):
            self._stop_probes(worker.state)
        await self.workers.stop()
        await self.recorder.flush(timeout=STOP_FLUSH_SECONDS)
        await super().stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    async def _node_status_loop(self) -> None:
        """``syncNodeStatus``: refresh the conditions' ``lastHeartbeatTime`` every ``status_update_interval``."""
        path = resource_path("v1", "nodes", name=self.node_name, subresource="status")
        failures = RepeatedFailure(log, f"{self.name}: node status update failed")
        while True:
            await asyncio.sleep(self.config.status_update_interval)
            now = rfc3339(now_utc())
            conds = [{**cond, "lastHeartbeatTime": now} for cond in self.node.get("status", {}).get("conditions", [])]
            try:
                self.node = await self.client.patch(path, {"status": {"conditions": conds}})
            except (APIStatusError, OSError) as e:
                failures.failed(e)
                continue
            failures.succeeded()
            unschedulable = bool(self.node.get("spec", {}).get("unschedulable"))
            if unschedulable != self._last_unschedulable:  # ``recordNodeSchedulableEvent``
                self._last_unschedulable = unschedulable
                self._record_node_status_event("NodeNotSchedulable" if unschedulable else "NodeSchedulable")

    def _record_node_event(self, type: str, reason: str, message: str) -> None:
        """An event about this node; as the kubelet's ``nodeRef``, its UID is the node's name."""
        self.recorder.event({"kind": "Node", "metadata": {"name": self.node_name, "uid": self.node_name}},
                            type, reason, message)

    def _record_node_status_event(self, status: str) -> None:
        self._record_node_event("Normal", status, f"Node {self.node_name} status is now: {status}")

    async def _container_events_loop(self) -> None:
        """The Evented PLEG (``pkg/kubelet/pleg/evented.go``): read the runtime's container events, each of
        which wakes its pod's worker at once. An event names the pod by its UID, as kube's
        ``PodLifecycleEvent`` does, so the sandbox's own start, which comes before the kubelet learns the
        sandbox's id, still resyncs the pod (and shows a failed pull's ``ImagePullBackOff`` at once, as
        the generic PLEG's first sight of the sandbox does). Each time the stream comes up or fails the
        runtime is relisted at once (what changed meanwhile went unreported); while it is down, every
        ``pleg_period``, as the generic PLEG, and the stream is tried again as often. kube gives up after
        five failures (``eventedPlegMaxStreamRetries``) and relists every second until the kubelet
        restarts; labkit keeps trying, so it follows a restarted Docker daemon again. Left out: the pod
        cache kube fills from the events (a woken worker reads its pod's containers itself) and the
        relist threshold of PLEG health (``eventedPlegRelistThreshold``)."""
        failures = RepeatedFailure(log, f"{self.name}: the runtime's container events")

        def connected() -> None:
            failures.succeeded()
            self._evented = True
            self._relist_now.set()

        while True:
            try:
                await self.runtime.get_container_events(self.workers.wake, connected=connected)
                error = "their stream ended"
            except CRIError as e:
                if e.reason == "Unimplemented":
                    return
                error = e.message
            self._evented = False
            self._relist_now.set()
            failures.failed(error)
            await asyncio.sleep(self.config.pleg_period)

    async def _relist_loop(self) -> None:
        """The PLEG: relist the runtime's containers and wake the workers of pods whose containers changed;
        every ``pleg_period``, or every :data:`EVENTED_PLEG_RELIST_PERIOD` while container events come."""
        seen: dict[str, tuple[tuple[str, str], ...]] = {}
        failures = RepeatedFailure(log, f"{self.name}: relist failed")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relist_now.wait(), EVENTED_PLEG_RELIST_PERIOD if self._evented
                                       else self.config.pleg_period)
            self._relist_now.clear()
            by_sandbox: dict[str, list[tuple[str, str]]] = {}
            try:
                listed = await self.runtime.list_containers()
            except (CRIError, OSError) as e:  # the runtime is away (a restarting Docker daemon): try again
                failures.failed(e)
                continue
            failures.succeeded()
            for c in listed:
                by_sandbox.setdefault(c.sandbox_id, []).append((c.id, c.state))
            for worker in list(self.workers.workers.values()):
                sid = worker.state.sandbox_id
                snapshot = tuple(sorted(by_sandbox.get(sid, [])))
                if sid and seen.get(sid) != snapshot:
                    seen[sid] = snapshot
                    self.workers.wake(worker.uid)

    # --- pod IPs ---------------------------------------------------------------------------------

    async def _pod_ipam(self, pod: Obj) -> HostLocalIPAM:
        """The node's range: ``spec.podCIDR`` once node IPAM set it; after ``pod_cidr_timeout`` a node-local one."""
        async with self._ipam_lock:
            if self.ipam is not None:
                return self.ipam
            deadline = time.monotonic() + self.config.pod_cidr_timeout
            cidr = self.node.get("spec", {}).get("podCIDR", "")
            pause = 0.1
            while not cidr and time.monotonic() < deadline:
                await asyncio.sleep(pause)
                pause = min(2 * pause, 1.0)  # a busy cluster is not asked more often than it can answer
                self.node = await self.client.get(resource_path("v1", "nodes", name=self.node_name))
                cidr = self.node.get("spec", {}).get("podCIDR", "")
            if not cidr:
                cidr = fallback_cidr(self.config.cluster_cidr, self.node_name)
                message = (f"node {self.node_name} has no spec.podCIDR after {self.config.pod_cidr_timeout:g}s "
                           f"(is the node IPAM controller running?): using the node-local range {cidr}")
                log.warning(message)
                self.recorder.event(pod, "Warning", "NoPodCIDR", message)
            self.ipam = HostLocalIPAM(cidr)
            for s in self._adoptable.values():
                self.ipam.reserve(s.ip)
            return self.ipam

    # --- syncing one pod -------------------------------------------------------------------------

    async def _sync(self, worker: PodWorker) -> float | None | str:
        pod, state = worker.pod, worker.state
        if worker.deleted or pod["metadata"].get("deletionTimestamp"):
            await self._terminate(worker)
            return "done"
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            self._stop_probes(state)
            return None
        created = not state.sandbox_id and await self._create_sandbox(pod, state)
        due = await self._sync_containers(pod, state, new_sandbox=created)
        await self._write_status(worker)
        return due

    async def _create_sandbox(self, pod: Obj, state: PodState) -> bool:
        """Run the pod's sandbox, or adopt the one a previous kubelet left; True when it is new."""
        meta, spec = pod["metadata"], pod.get("spec", {})
        ipam = await self._pod_ipam(pod)  # first: its range reserves every adoptable pod's IP
        adopted = self._adoptable.pop(meta["uid"], None)
        ip = adopted.ip if adopted is not None else ipam.allocate()
        ports = [PortMapping(container_port=p["containerPort"], protocol=p.get("protocol", "TCP"),
                             host_port=p.get("hostPort", 0))
                 for c in spec.get("containers", []) for p in c.get("ports") or []]
        state.sandbox = PodSandboxConfig(
            name=meta["name"], namespace=meta["namespace"], uid=meta["uid"], node=self.node_name, ip=ip,
            hostname=spec.get("hostname") or meta["name"], ports=ports,
            labels={**(meta.get("labels") or {}), LABEL_POD_UID: meta["uid"], LABEL_POD_NAME: meta["name"],
                    LABEL_POD_NAMESPACE: meta["namespace"], LABEL_NODE: self.node_name},
            annotations=dict(meta.get("annotations") or {}), **self._dns_config(pod))
        state.sandbox_id = adopted.id if adopted is not None else await self.runtime.run_pod_sandbox(state.sandbox)
        self._cri(pod, f"{'adopted sandbox' if adopted is not None else 'RunPodSandbox'} (pod IP {ip})",
                  sandbox=state.sandbox_id)
        state.ip = ip
        state.start_time = pod.get("status", {}).get("startTime") or rfc3339(now_utc())
        return adopted is None

    def _container_event(self, pod: Obj, container: str, type: str, reason: str, message: str) -> None:
        """An event about one container: ``involvedObject.fieldPath`` names it (``spec.containers{web}``),
        which ``kubectl get events`` shows as SUBOBJECT."""
        init = any(c.get("name") == container for c in pod.get("spec", {}).get("initContainers") or [])
        field = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
        self.recorder.event(pod, type, reason, message, field_path=field)

    def _cri(self, pod: Obj, summary: str, **data: str) -> None:
        """Record a runtime call for this pod in the cluster's trace (the story shows it)."""
        meta = pod["metadata"]
        self.decide("pods", f"{meta['namespace']}/{meta['name']}", summary, runtime=self.runtime.name, **data)

    def _dns_config(self, pod: Obj) -> DNSConfig:
        """``dns.go``: a ClusterFirst pod looks names up in its namespace's services first, and a name
        with fewer than five dots through the search path before as it is (``ndots:5``)."""
        spec, domain = pod.get("spec", {}), self.config.cluster_domain
        policy = spec.get("dnsPolicy", "ClusterFirst")
        if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork")):
            return {"dns_search": (f"{pod['metadata']['namespace']}.svc.{domain}", f"svc.{domain}", domain),
                    "dns_options": ("ndots:5",)}
        return {}

    async def _containers_by_name(self, state: PodState) -> dict[str, list[ContainerStatus]]:
        """The sandbox's containers per name, newest attempt first."""
        out: dict[str, list[ContainerStatus]] = {}
        for c in await self.runtime.list_containers(state.sandbox_id):
            out.setdefault(c.labels.get(LABEL_CONTAINER_NAME, c.name), []).append(c)
        for attempts in out.values():
            attempts.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
        return out

    async def _sync_containers(self, pod: Obj, state: PodState, *, new_sandbox: bool) -> float | None:
        """``computePodActions`` + ``SyncPod``: start what should run; returns when to look again.
        A sandbox created in this sync has no containers yet: the runtime is not asked."""
        spec = pod.get("spec", {})
        policy = spec.get("restartPolicy", "Always")
        existing = {} if new_sandbox else await self._containers_by_name(state)
        due: list[float] = []
        for c in spec.get("initContainers") or []:
            attempts = existing.get(c["name"], [])
            cur = attempts[0] if attempts else None
            if cur is not None and cur.state == "exited" and cur.exit_code == 0:
                continue
            if cur is None:
                due.append(await self._start(pod, state, c, attempt=0, init=True))
            elif cur.state == "exited" and policy != "Never":
                due.append(await self._restart(pod, state, c, cur, init=True))
            return min(due, default=None)
        for c in spec.get("containers", []):
            attempts = existing.get(c["name"], [])
            cur = attempts[0] if attempts else None
            if cur is None:
                due.append(await self._start(pod, state, c, attempt=0, init=False))
                continue
            if cur.state == "running":
                self._ensure_probes(pod, state, c, cur)
                failed = self._failed_probe(state, cur)
                if failed:
                    await self._kill_for_probe(pod, state, c, cur, failed)
                    cur = await self.runtime.container_status(cur.id)
            if cur.state == "exited":
                self._stop_probes(state, cur.id)
                if policy == "Always" or (policy == "OnFailure" and cur.exit_code != 0):
                    due.append(await self._restart(pod, state, c, cur, init=False))
                else:
                    state.waiting.pop(c["name"], None)
        return min(due, default=None)

    async def _restart(self, pod: Obj, state: PodState, c: Obj, dead: ContainerStatus, *, init: bool) -> float:
        """``doBackOff``: restart at once the first time, then wait the back-off since the container died."""
        key = f"{pod['metadata']['uid']}/{c['name']}"
        died = time.monotonic() - max(time.time() - dead.finished_at, 0)
        left = self.backoff.remaining(key, died)
        if left > 0:
            meta = pod["metadata"]
            delay = self.backoff.duration(key)
            message = (f"back-off {delay:g}s restarting failed container={c['name']} "
                       f"pod={meta['name']}_{meta['namespace']}({meta['uid']})")
            if state.waiting.get(c["name"], ("",))[0] != "CrashLoopBackOff":
                self._container_event(pod, c['name'], "Warning", "BackOff",
                                      f"Back-off restarting failed container {c['name']} in pod "
                                      f"{meta['name']}_{meta['namespace']}({meta['uid']})")
            state.waiting[c["name"]] = ("CrashLoopBackOff", message)
            return left
        self.backoff.next(key)
        return await self._start(pod, state, c, attempt=dead.attempt + 1, init=init, previous=dead)

    async def _start(self, pod: Obj, state: PodState, c: Obj, *, attempt: int, init: bool,
                     previous: ContainerStatus | None = None) -> float:
        """Pull, create and start one container (``startContainer``); returns seconds until a retry is due (0: none)."""
        name, image = c["name"], c.get("image", "")
        pull_key = f"{pod['metadata']['uid']}/{name}/image"
        failed_at = state.pull_failed_at.get(name)
        if failed_at is not None:
            left = self.backoff.remaining(pull_key, failed_at)
            if left > 0:
                if state.waiting.get(name, ("",))[0] != "ImagePullBackOff":
                    self._container_event(pod, name, "Normal", "BackOff", f'Back-off pulling image "{image}"')
                    self._container_event(pod, name, "Warning", "Failed", "Error: ImagePullBackOff")
                state.waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
                return left
        if not await self._pull(pod, state, c, pull_key):
            return self.backoff.duration(pull_key)
        try:
            config = await self._container_config(pod, state, c, attempt=attempt, init=init)
            assert state.sandbox is not None, "containers are created in a sandbox"
            cid = await self.runtime.create_container(state.sandbox_id, config, state.sandbox)
            self._cri(pod, f"CreateContainer {name} ({c.get('image', '')})", container=cid)
        except MountError as e:  # kube waits for volumes before the containers, retrying every 300 ms
            if state.waiting.get(name, ("",))[0] != "ContainerCreating":
                self.recorder.event(pod, "Warning", "FailedMount", e.message)
            state.waiting[name] = ("ContainerCreating", "")
            return MOUNT_RETRY_INTERVAL
        except CRIError as e:
            self._container_event(pod, name, "Warning", "Failed", f"Error: {e.message}")
            state.waiting[name] = (e.reason, e.message)
            return self.config.backoff_base
        self._container_event(pod, name, "Normal", "Created", f"Created container: {name}")
        try:
            await self.runtime.start_container(cid)
            self._cri(pod, f"StartContainer {name}", container=cid)
        except CRIError as e:
            self._container_event(pod, name, "Warning", "Failed", f"Error: {e.message}")
            state.waiting[name] = (e.reason, e.message)
            return self.config.backoff_base
        self._container_event(pod, name, "Normal", "Started", f"Started container {name}")
        state.waiting.pop(name, None)
        if previous is not None:  # keep one dead attempt (``kubectl logs --previous``), remove older ones
            for old in await self.runtime.list_containers(state.sandbox_id):
                if old.labels.get(LABEL_CONTAINER_NAME) == name and old.attempt < previous.attempt:
                    await self.runtime.remove_container(old.id)
        return 0.0

    async def _pull(self, pod: Obj, state: PodState, c: Obj, pull_key: str) -> bool:
        image, name = c.get("image", ""), c["name"]
        if image in self._pulled and c.get("imagePullPolicy") != "Always":
            self._container_event(pod, name, "Normal", "Pulled",
                                  f'Container image "{image}" already present on machine')
            await self._report_stand_in(pod, self._pulled[image])
            return True
        self._container_event(pod, name, "Normal", "Pulling", f'Pulling image "{image}"')
        self._cri(pod, f"PullImage {image}")
        started = time.monotonic()
        try:
            ref = await self.runtime.pull_image(image)
        except ImagePullError as e:
            self._container_event(pod, name, "Warning", "Failed", f'Failed to pull image "{image}": {e.message}')
            self._container_event(pod, name, "Warning", "Failed", "Error: ErrImagePull")
            state.waiting[name] = ("ErrImagePull", e.message)
            state.pull_failed_at[name] = time.monotonic()
            self.backoff.next(pull_key)
            return False
        state.pull_failed_at.pop(name, None)
        took = math.floor((time.monotonic() - started) * 1000) / 1000  # the message's durations, to the ms
        self._pulled[image] = ref
        note = f" ({ref.note})" if ref.note and not ref.stand_in else ""  # a stand-in gets its own Warning
        size = "" if ref.size is None else f" Image size: {ref.size} bytes."
        self._container_event(pod, name, "Normal", "Pulled",
                              f'Successfully pulled image "{image}" in {go_duration(took)} '
                              f"({go_duration(took)} including waiting).{size}{note}")
        await self._report_stand_in(pod, ref)
        return True

    async def _report_stand_in(self, pod: Obj, ref: ImageRef) -> None:
        """Say on the pod that another image runs in place of the one it names: a Warning event and
        the ``labkit.dev/image-stand-in`` annotation (labkit's own; a kubelet never substitutes images)."""
        if not ref.stand_in:
            return
        self.recorder.event(pod, "Warning", "ImageStandIn", f'"{ref.image}" runs as {ref.stand_in}: {ref.note}')
        meta = pod["metadata"]
        listed = [v for v in (meta.get("annotations") or {}).get(STAND_IN_ANNOTATION, "").split(", ") if v]
        entry = f"{ref.image} -> {ref.stand_in}"
        if entry in listed:
            return
        try:
            await self.client.patch(resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"]),
                                    {"metadata": {"uid": meta["uid"],
                                                  "annotations": {STAND_IN_ANNOTATION: ", ".join([*listed, entry])}}})
        except APIStatusError as e:
            if e.code not in (404, 409):
                raise

    async def _container_config(self, pod: Obj, state: PodState, c: Obj, *,
                                attempt: int, init: bool) -> ContainerConfig:
        if state.volume_paths is None:
            state.volume_paths = await prepare_volumes(self.root, pod, get=self._get_object,
                                                       request_token=self._service_account_token)
        pod_view = {**pod, "status": {**pod.get("status", {}), "podIP": state.ip, "podIPs": [{"ip": state.ip}],
                                      "hostIP": self.config.address, "hostIPs": [{"ip": self.config.address}]}}
        env = await make_environment(pod_view, c, get=self._get_object, services=await self._services(pod),
                                     allocatable=self.node.get("status", {}).get("allocatable", {}))
        limits, requests = ((c.get("resources") or {}).get("limits") or {},
                            (c.get("resources") or {}).get("requests") or {})
        if (limits or requests) and self.runtime.limits_not_enforced and not state.warned_limits:
            state.warned_limits = True
            self.recorder.event(pod, "Warning", "LimitsNotEnforced",
                                f"CPU and memory requests/limits are recorded but not enforced: "
                                f"{self.runtime.limits_not_enforced}")
        return ContainerConfig(
            name=c["name"], image=c.get("image", ""), command=[expand(w, env) for w in c.get("command") or []],
            args=[expand(w, env) for w in c.get("args") or []], env=env, working_dir=c.get("workingDir", ""),
            mounts=mounts_for(c, state.volume_paths),
            cpu_limit_millis=to_millicores(limits.get("cpu", 0)),
            cpu_request_millis=to_millicores(requests.get("cpu", 0)),
            memory_limit_bytes=to_bytes(limits.get("memory", 0)),
            memory_request_bytes=to_bytes(requests.get("memory", 0)),
            oom_score_adj=max(lowest_oom_score_adj(), container_oom_score_adjust(
                pod, c, to_bytes(self.node.get("status", {}).get("capacity", {}).get("memory", 0)))),
            tty=bool(c.get("tty")), stdin=bool(c.get("stdin")), stdin_once=bool(c.get("stdinOnce")),
            labels={LABEL_CONTAINER_NAME: c["name"], LABEL_POD_UID: pod["metadata"]["uid"],
                    **({LABEL_INIT_CONTAINER: "true"} if init else {})},
            restart_count=attempt)

    async def _service_account_token(self, pod: Obj, source: Obj) -> str:
        """A TokenRequest for the pod's service account, bound to the pod (the token manager's
        ``GetServiceAccountToken``)."""
        meta = pod["metadata"]
        account = pod.get("spec", {}).get("serviceAccountName") or "default"
        spec: Obj = {"expirationSeconds": source.get("expirationSeconds", 3600),
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}
        if source.get("audience"):
            spec["audiences"] = [source["audience"]]
        try:
            answer = await self.client.create(
                resource_path("v1", "serviceaccounts", namespace=meta["namespace"], name=account, subresource="token"),
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
        except APIStatusError as e:
            raise CRIError("TokenRequestFailed", f"failed to fetch token: {e.status.get('message', '')}") from None
        return str(answer["status"]["token"])

    async def _get_object(self, plural: str, namespace: str, name: str) -> Obj | None:
        try:
            return await self.client.get(resource_path("v1", plural, namespace=namespace, name=name))
        except APIStatusError as e:
            if e.code == 404:
                return None
            raise

    async def _services(self, pod: Obj) -> list[Obj]:
        """Services whose variables the pod gets, from the service cache (``getServiceEnvVarMap``): its
        namespace's (``enableServiceLinks``) and ``default/kubernetes``. As the kubelet does, containers
        wait until the cache has been filled once: variables from a half-read list would be wrong."""
        await self.services.synced.wait()
        namespace = pod["metadata"]["namespace"]
        out = sorted(self.services.list(namespace), key=lambda s: s["metadata"]["name"]) if pod.get(
            "spec", {}).get("enableServiceLinks", True) else []
        if namespace != "default" or not out:
            master = self.services.get("default/kubernetes")
            out = [s for s in out if s["metadata"]["name"] != "kubernetes"] + ([master] if master else [])
        return out

    # --- probes ----------------------------------------------------------------------------------

    def _ensure_probes(self, pod: Obj, state: PodState, c: Obj, cur: ContainerStatus) -> None:
        if cur.id in state.probes or self.runtime.simulated:
            return
        workers: dict[str, ProbeWorker] = {}
        uid = pod["metadata"]["uid"]

        def startup_done() -> bool:
            w = workers.get("startup")
            return w is None or bool(w.result)

        for kind in ("startup", "liveness", "readiness"):
            probe = c.get(f"{kind}Probe")
            if probe:
                workers[kind] = ProbeWorker(
                    kind=kind, probe=probe, container=c, container_id=cur.id, pod_ip=state.ip, runtime=self.runtime,
                    on_failure=lambda msg: self.recorder.event(self.pods.get(_key(pod)) or pod,
                                                               "Warning", "Unhealthy", msg),
                    on_change=lambda: self.workers.wake(uid), startup_done=startup_done)
                workers[kind].start()
        state.probes[cur.id] = workers

    def _probe_passed(self, probes: dict[str, ProbeWorker], c: Obj, kind: str) -> bool:
        """kube's prober has a worker for each probe from the pod's admission on, so a probe with no worker
        yet (its container started in this sync) has not succeeded either; sim nodes run no probes."""
        if kind in probes:
            return bool(probes[kind].result)
        return self.runtime.simulated or f"{kind}Probe" not in c

    def _failed_probe(self, state: PodState, cur: ContainerStatus) -> str:
        workers = state.probes.get(cur.id, {})
        for kind in ("startup", "liveness"):
            if kind in workers and workers[kind].result is False:
                return kind
        return ""

    async def _kill_for_probe(self, pod: Obj, state: PodState, c: Obj, cur: ContainerStatus, kind: str) -> None:
        self._container_event(pod, c['name'], "Normal", "Killing",
                              f"Container {c['name']} failed {kind} probe, will be restarted")
        self._stop_probes(state, cur.id)
        self._cri(pod, f"StopContainer {c['name']} (failed {kind} probe)", container=cur.id)
        await self.runtime.stop_container(cur.id, float(pod["spec"].get("terminationGracePeriodSeconds", 30)))

    def _stop_probes(self, state: PodState, container_id: str | None = None) -> None:
        for cid in [container_id] if container_id else list(state.probes):
            for w in state.probes.pop(cid, {}).values():
                w.stop()

    # --- status ----------------------------------------------------------------------------------

    async def _views(self, pod: Obj,
                     state: PodState) -> tuple[list[podstatus.ContainerView], list[podstatus.ContainerView]]:
        existing = await self._containers_by_name(state) if state.sandbox_id else {}
        init_views: list[podstatus.ContainerView] = []
        views: list[podstatus.ContainerView] = []
        for kind, out in (("initContainers", init_views), ("containers", views)):
            for c in pod.get("spec", {}).get(kind) or []:
                attempts = existing.get(c["name"], [])
                cur = attempts[0] if attempts else None
                prev = attempts[1] if len(attempts) > 1 else None
                view = podstatus.ContainerView(spec=c, current=cur, previous=prev, waiting=state.waiting.get(c["name"]))
                if kind == "initContainers":
                    view.ready = cur is not None and cur.state == "exited" and cur.exit_code == 0
                    view.started = cur is not None and cur.state == "running"
                elif cur is not None and cur.state == "running" and view.waiting is None:
                    probes = state.probes.get(cur.id, {})
                    view.started = self._probe_passed(probes, c, "startup")
                    view.ready = view.started and self._probe_passed(probes, c, "readiness")
                out.append(view)
        return init_views, views

    async def _write_status(self, worker: PodWorker, *, terminal: bool = False) -> None:
        pod, state = worker.pod, worker.state
        init_views, views = await self._views(pod, state)
        rt = self.runtime.name
        init_initializing = any(not v.ready for v in init_views)
        init = [podstatus.container_status(v, runtime=rt, default_waiting="PodInitializing") for v in init_views]
        regular = [podstatus.container_status(v, runtime=rt, default_waiting="PodInitializing" if init_initializing
                                              else "ContainerCreating") for v in views]
        pod_phase = podstatus.phase(pod.get("spec", {}), init, regular)
        if terminal and pod_phase not in ("Succeeded", "Failed"):
            pod_phase = "Succeeded" if all(s["state"].get("terminated", {}).get("exitCode", 1) == 0
                                           for s in regular) else "Failed"
        new: Obj = {"phase": pod_phase,
                    "conditions": podstatus.conditions(sandbox_ready=bool(state.sandbox_id) and not terminal,
                                                       init=init, regular=regular, pod_phase=pod_phase),
                    "hostIP": self.config.address, "hostIPs": [{"ip": self.config.address}],
                    "startTime": state.start_time, "containerStatuses": regular}
        if state.ip:
            new["podIP"], new["podIPs"] = state.ip, [{"ip": state.ip}]
        if init:
            new["initContainerStatuses"] = init
        written = await self.status.set_status(pod, new)
        # an update the informer delivered during the write (a deletion, say) is newer: keep that one
        if written is not None and worker.pod is pod:
            worker.pod = written

    # --- termination -----------------------------------------------------------------------------

    async def _terminate(self, worker: PodWorker) -> None:
        """``SyncTerminatingPod``: stop every container within the grace period, report, then remove the pod."""
        pod, state = worker.pod, worker.state
        meta = pod["metadata"]
        grace = 0.0 if worker.deleted else float(meta.get("deletionGracePeriodSeconds",
                                                          pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)))
        self._stop_probes(state)
        if state.sandbox_id:
            running = [c for c in await self.runtime.list_containers(state.sandbox_id)
                       if c.state in ("running", "created")]
            for c in running:
                self._container_event(pod, c.labels.get(LABEL_CONTAINER_NAME, c.name), "Normal", "Killing",
                                      f"Stopping container {c.labels.get(LABEL_CONTAINER_NAME, c.name)}")
            for c in running:
                self._cri(pod, f"StopContainer {c.labels.get(LABEL_CONTAINER_NAME, c.name)} (grace {grace:g}s)",
                          container=c.id)
            await asyncio.gather(*(self.runtime.stop_container(c.id, grace) for c in running))
            if not worker.deleted:
                await self._write_status(worker, terminal=True)
            await self.runtime.stop_pod_sandbox(state.sandbox_id)
            self._cri(pod, "StopPodSandbox", sandbox=state.sandbox_id)
        if not worker.deleted:
            try:  # the kubelet's final word: the pod's containers are gone, delete it for good
                await self.client.delete(resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"]),
                                         {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
            except APIStatusError as e:
                if e.code not in (404, 409):
                    raise
        if state.sandbox_id:
            await self.runtime.remove_pod_sandbox(state.sandbox_id)
            self._cri(pod, "RemovePodSandbox", sandbox=state.sandbox_id)
        if state.ip and self.ipam is not None:
            self.ipam.release(state.ip)
        remove_pod_dir(self.root, meta["uid"])


def _key(pod: Obj) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"

