"""The scheduler component: informers feed the cache and the queue; one loop schedules pod by pod.

Mirrors ``pkg/scheduler/scheduler.go`` and ``eventhandlers.go`` (which pods go where: assigned pods
into the cache, pending pods of our profiles into the queue; which events move unschedulable pods)
and ``schedule_one.go``'s ``scheduleOne`` around the algorithm: assume the pod on the chosen node,
run Reserve and Permit, then wait for Permit, PreBind, Bind and PostBind in the background (the
binding cycle) while the next pod is scheduled; a plugin's rejection after the node was chosen
reads as a FitError over that one node. When no node fits run PostFilter (preemption); on any
failure record a ``FailedScheduling`` event, set the pod's ``PodScheduled=False`` condition (and
``nominatedNodeName``) and hand the pod back to the queue. With an ``elector``
(:class:`labkit.leaderelection.LeaderElector`) the scheduling loop runs only while this instance
leads. Every attempt is kept for :meth:`Scheduler.explain` (the last ``explain_limit`` pods).
Left out: the nominator, extenders, metrics.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import now_utc, rfc3339
from labkit.client import APIStatusError, Client, resource_path
from labkit.component import Component
from labkit.events import EventRecorder
from labkit.informer import Informer, key_of
from labkit.scheduler.cache import Cache, is_terminal
from labkit.scheduler.explain import Attempt
from labkit.scheduler.framework import CycleState, Diagnosis, FitError, Framework, Handle, Status
from labkit.scheduler.profile import Profile
from labkit.scheduler.queue import QueuedPodInfo, SchedulingQueue
from labkit.scheduler.schedule_one import GenericScheduler

log = logging.getLogger(__name__)
FLUSH_BACKOFF_PERIOD = 1.0  # flushBackoffQCompleted runs every second
FLUSH_UNSCHEDULABLE_PERIOD = 30.0
# kube-scheduler has a core of its own; here it shares one event loop, so it schedules for this many
# seconds before letting the other components run (one pod per turn starved it on a busy loop)
TIME_SLICE = 0.005
AFFINITY_PLUGINS = frozenset({"InterPodAffinity", "PodTopologySpread"})  # what an assigned pod's arrival can help


def _node_changed(old: Obj, new: Obj) -> bool:
    """Did the node change in a way that could make a pod fit (``nodeSchedulingPropertiesChange``)?"""
    o, n = old.get("status") or {}, new.get("status") or {}
    return (old.get("spec") != new.get("spec") or old["metadata"].get("labels") != new["metadata"].get("labels")
            or o.get("allocatable") != n.get("allocatable") or o.get("images") != n.get("images"))


def _pod_changed(old: Obj, new: Obj) -> bool:
    """``isPodUpdated``: a change beyond status and resourceVersion (our own status writes do not count)."""
    om, nm = old["metadata"], new["metadata"]
    return (old.get("spec") != new.get("spec") or om.get("labels") != nm.get("labels")
            or om.get("annotations") != nm.get("annotations"))


class Scheduler(Component):
    """``Scheduler(client, profiles=[Profile()])``: add it with ``cluster.add(...)``."""

    name = "scheduler"

    def __init__(self, client: Client, *, profiles: Sequence[Profile] | None = None, elector: Any = None,
                 percentage_of_nodes_to_score: int = 0, explain_limit: int = 200, binds_in_flight: int = 32,
                 seed: int | None = None) -> None:
        super().__init__(client)
        profiles = list(profiles or [Profile()])
        self.profiles: dict[str, tuple[Profile, Framework]] = {p.scheduler_name: (p, p.framework()) for p in profiles}
        if profiles[0].scheduler_name != "default-scheduler":
            self.name = profiles[0].scheduler_name
        self.elector = elector
        self.cache = Cache()
        self.queue = SchedulingQueue(gate=self.gate("scheduler"))
        self.algorithm = GenericScheduler(percentage_of_nodes_to_score=percentage_of_nodes_to_score,
                                          rng=random.Random(seed))
        self.recorders = {name: EventRecorder(client, name) for name in self.profiles}
        self.explain_limit = explain_limit
        self._attempts: OrderedDict[str, list[Attempt]] = OrderedDict()
        self._binds = asyncio.Semaphore(binds_in_flight)
        self._loop_task: asyncio.Task[Any] | None = None
        self.nodes = Informer(client, "v1", "nodes")
        self.pods = Informer(client, "v1", "pods", field_selector="status.phase!=Succeeded,status.phase!=Failed")

    # --- lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        self.nodes.add_handlers(on_add=self._on_node_add, on_update=self._on_node_update,
                                on_delete=self._on_node_delete)
        self.pods.add_handlers(on_add=self._on_pod_add, on_update=self._on_pod_update, on_delete=self._on_pod_delete)
        for informer in (self.nodes, self.pods):
            self.spawn(informer.run(), f"informer-{informer.plural}")
        await self.nodes.synced.wait()
        await self.pods.synced.wait()
        self.spawn(self._flush_loop(), "flush")
        if self.elector is None:
            await self._start_scheduling()
        else:
            self.spawn(self.elector.run(self._start_scheduling, self._stop_scheduling), "leaderelection")

    async def _start_scheduling(self) -> None:
        self._loop_task = self.spawn(self._scheduling_loop(), "scheduleOne")

    async def _stop_scheduling(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None

    async def stop(self) -> None:
        for recorder in self.recorders.values():
            await recorder.flush()
        await super().stop()

    async def _flush_loop(self) -> None:
        since_unschedulable_flush = 0.0
        while True:
            await asyncio.sleep(FLUSH_BACKOFF_PERIOD)
            self.queue.flush_backoff_completed()
            since_unschedulable_flush += FLUSH_BACKOFF_PERIOD
            if since_unschedulable_flush >= FLUSH_UNSCHEDULABLE_PERIOD:
                since_unschedulable_flush = 0.0
                self.queue.flush_unschedulable_left_over()

    # --- event handlers (eventhandlers.go) ---------------------------------------------------------

    def _responsible_for(self, pod: Obj) -> bool:
        return (pod.get("spec") or {}).get("schedulerName", "default-scheduler") in self.profiles

    def _on_node_add(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff("NodeAdd")

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        if _node_changed(old, new):
            self.queue.move_all_to_active_or_backoff("NodeUpdate")

    def _on_node_delete(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    def _on_pod_add(self, pod: Obj) -> None:
        if pod["spec"].get("nodeName"):
            self.cache.add_pod(pod)
            self.queue.move_all_to_active_or_backoff("AssignedPodAdd", plugins=AFFINITY_PLUGINS)
        elif self._responsible_for(pod) and not is_terminal(pod):
            self.queue.add(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if new["spec"].get("nodeName"):
            if not old["spec"].get("nodeName"):
                self.queue.delete(key_of(new))  # bound (by us or by someone else)
            self.cache.add_pod(new)
            if old["metadata"].get("labels") != new["metadata"].get("labels"):
                self.queue.move_all_to_active_or_backoff("AssignedPodUpdate", plugins=AFFINITY_PLUGINS)
        elif self._responsible_for(new):
            self.queue.update(new, requeue=_pod_changed(old, new))

    def _on_pod_delete(self, pod: Obj) -> None:
        key = key_of(pod)
        if pod["spec"].get("nodeName"):
            self.cache.remove_pod(key)
            self.queue.move_all_to_active_or_backoff("AssignedPodDelete")
        else:
            self.queue.delete(key)

    # --- scheduling --------------------------------------------------------------------------------

    async def _scheduling_loop(self) -> None:
        slice_start = time.perf_counter()
        while True:
            qpi = await self.queue.pop()
            await self._binds.acquire()  # back-pressure: at most binds_in_flight bindings at once
            if not self.schedule_one(qpi):
                self._binds.release()
            if time.perf_counter() - slice_start >= TIME_SLICE:
                await asyncio.sleep(0)  # let informer events, bindings and the other components through
                slice_start = time.perf_counter()

    def schedule_one(self, qpi: QueuedPodInfo) -> bool:
        """One scheduling cycle; True when it chose a node and started the binding cycle in the background
        (which releases one ``_binds`` slot when done)."""
        pod = qpi.pod_info
        profile, fw = self.profiles[pod.spec.get("schedulerName", "default-scheduler")]
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        attempt = Attempt(pod.key, profile.scheduler_name, cycle)
        self._remember(attempt)
        try:
            node = self.algorithm.schedule_pod(fw, state, pod, self.cache.node_list, attempt)
        except FitError as e:
            handle = self._handle(fw, profile.scheduler_name)
            nominated = ""
            if fw.post_filter_plugins:
                status, nominated = fw.run_post_filter_plugins(state, pod, e.diagnosis.node_to_status, handle)
                e.diagnosis.post_filter_msg = "" if status.is_success() else status.message
            qpi.unschedulable_plugins = set(e.diagnosis.unschedulable_plugins)
            attempt.error, attempt.nominated_node = str(e), nominated
            self._failure(qpi, cycle, attempt, reason="Unschedulable", nominated=nominated)
            return False
        except (RuntimeError, ValueError) as e:  # a plugin failed (framework.Error)
            attempt.error = str(e)
            self._failure(qpi, cycle, attempt, reason="SchedulerError")
            return False
        attempt.node = node
        self.cache.assume_pod(pod, node)
        handle = self._handle(fw, profile.scheduler_name)
        status = fw.run_reserve_plugins_reserve(state, pod, node)
        if status.is_success():
            status = fw.run_permit_plugins(state, pod, node, handle)
        if not (status.is_success() or status.is_wait()):
            fw.run_reserve_plugins_unreserve(state, pod, node)
            self.cache.forget_pod(pod.key)
            self._rejected(qpi, cycle, attempt, node, status)
            return False
        self.spawn(self._bind(fw, handle, state, qpi, node, attempt), f"bind {pod.key}")
        return True

    async def _bind(self, fw: Framework, handle: Handle, state: CycleState, qpi: QueuedPodInfo, node: str,
                    attempt: Attempt) -> None:
        """The binding cycle: wait for Permit, PreBind, Bind, PostBind; on failure undo the reservation."""
        pod = qpi.pod_info
        try:
            if pod.uid in fw.waiting_pods:  # a pod held by Permit does not hold a binding slot
                self._binds.release()
                try:
                    status = await fw.wait_on_permit(pod)
                finally:
                    await self._binds.acquire()
            else:
                status = await fw.wait_on_permit(pod)
            if status.is_success():
                status = await fw.run_pre_bind_plugins(state, pod, node, handle)
            if status.is_success():
                status = await fw.run_bind_plugins(state, pod, node, handle)
        finally:
            self._binds.release()
        if status.is_success():
            self.queue.done(pod.key)
            self.recorders[attempt.profile].event(pod.pod, "Normal", "Scheduled",
                                                  f"Successfully assigned {pod.namespace}/{pod.name} to {node}")
            fw.run_post_bind_plugins(state, pod, node)
            return
        fw.run_reserve_plugins_unreserve(state, pod, node)
        self.cache.forget_pod(pod.key)
        self._rejected(qpi, attempt.cycle, attempt, node, status)

    def _rejected(self, qpi: QueuedPodInfo, cycle: int, attempt: Attempt, node: str, status: Status) -> None:
        """A failure after the node was chosen (Reserve, Permit, PreBind, Bind): a plugin's rejection reads
        as a FitError over the one node; anything else is a SchedulerError."""
        attempt.node = ""
        if status.is_rejected():
            diagnosis = Diagnosis()
            diagnosis.node_to_status[node] = status
            qpi.unschedulable_plugins = {status.plugin}
            attempt.error = str(FitError(qpi.pod_info, 1, diagnosis))
            self._failure(qpi, cycle, attempt, reason="Unschedulable")
        else:
            attempt.error = status.message
            self._failure(qpi, cycle, attempt, reason="SchedulerError")

    def _handle(self, fw: Framework, scheduler_name: str) -> Handle:
        return Handle(client=self.client, framework=fw, nodes=self.cache.node_list,
                      spawn=lambda coro: self.spawn(coro, "preemption"), recorder=self.recorders[scheduler_name])

    def _failure(self, qpi: QueuedPodInfo, cycle: int, attempt: Attempt, *, reason: str, nominated: str = "") -> None:
        """``handleSchedulingFailure``: back to the queue, an event, and the pod's condition."""
        self.queue.add_unschedulable(qpi, cycle, error=reason != "Unschedulable")
        pod = qpi.pod_info.pod
        self.recorders[attempt.profile].event(pod, "Warning", "FailedScheduling", attempt.error)
        self.spawn(self._update_pod_status(pod, reason, attempt.error, nominated), "status")

    async def _update_pod_status(self, pod: Obj, reason: str, message: str, nominated: str) -> None:
        status = pod.get("status") or {}
        current: Obj = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        if (current.get("status") == "False" and current.get("reason") == reason and current.get("message") == message
                and (not nominated or status.get("nominatedNodeName") == nominated)):
            return
        condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                     "lastProbeTime": None, "lastTransitionTime": rfc3339(now_utc())}
        patch: Obj = {"status": {"conditions": [condition]}}
        if nominated:
            patch["status"]["nominatedNodeName"] = nominated
        meta = pod["metadata"]
        try:
            await self.client.patch(resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"],
                                                  subresource="status"), patch,
                                    patch_type="application/strategic-merge-patch+json")
        except APIStatusError as e:
            log.debug("could not update the status of %s/%s: %s", meta["namespace"], meta["name"], e)

    # --- explanation -------------------------------------------------------------------------------

    def _remember(self, attempt: Attempt) -> None:
        attempts = self._attempts.pop(attempt.pod, [])
        attempts.append(attempt)
        self._attempts[attempt.pod] = attempts
        while len(self._attempts) > self.explain_limit:
            self._attempts.popitem(last=False)

    def explain(self, pod: str) -> list[Attempt]:
        """Every remembered attempt to schedule ``namespace/name``, oldest first."""
        return list(self._attempts.get(pod if "/" in pod else f"default/{pod}", []))
