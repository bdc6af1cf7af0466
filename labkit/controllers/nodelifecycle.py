"""Node lifecycle and taint-based eviction (``pkg/controller/nodelifecycle``, ``pkg/controller/tainteviction``).

``monitorNodeHealth``: a node's last sign of life is the newer of its Lease's ``renewTime`` (in
``kube-node-lease``) and its Ready condition's ``lastHeartbeatTime``. Silent for longer than
``node_monitor_grace_period``, its Ready (and the pressure conditions) turn ``Unknown`` with reason
``NodeStatusUnknown``, "Kubelet stopped posting node status."; if it was Ready, the node gets a
``NodeNotReady`` event and every pod on it has its Ready condition set to False (``MarkPodsNotReady``,
a ``NodeNotReady`` Warning on each), so Services stop sending it traffic before any eviction.
``doNoScheduleTaintingPass``: Ready=False / Unknown put ``node.kubernetes.io/not-ready`` /
``node.kubernetes.io/unreachable`` on the node (MemoryPressure, DiskPressure, PIDPressure and
NetworkUnavailable=True their own ``NoSchedule`` taints, a cordoned node, ``spec.unschedulable``,
``node.kubernetes.io/unschedulable``), and ``doNoExecuteTaintingPass`` the not-ready or unreachable
``NoExecute`` taint; each taint added carries ``timeAdded``; Ready=True removes them. The taint eviction
manager then deletes each pod on a ``NoExecute``-tainted node: at once if a taint is not tolerated,
otherwise after the smallest matching ``tolerationSeconds`` counted from the taint's ``timeAdded``
(the API server gives every pod 300 s for these two taints). A node seen for the first time gets a
``RegisteredNode`` event, a deleted one ``RemovingNode``. Every node is looked at again each
``node_monitor_period`` (:meth:`NodeLifecycleController.monitor_node_health`). Left out: zone
disruption states and eviction rate limits, ``NodeStatusNeverUpdated``.
"""

from __future__ import annotations

import datetime as dt

from labkit import codec
from labkit.apimachinery.meta import Obj, find_status_condition
from labkit.apimachinery.nodeutil import get_node_condition
from labkit.apimachinery.taints import tolerates_taint
from labkit.apimachinery.timeutil import now_utc, parse_time, rfc3339
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller, Result

NOT_READY, UNREACHABLE = "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
CONDITION_TAINTS = {"False": NOT_READY, "Unknown": UNREACHABLE}
#: ``nodeConditionToTaintKeyStatusMap``: (condition, status) -> the NoSchedule taint it puts on the node
NO_SCHEDULE_TAINTS = {("Ready", "False"): NOT_READY, ("Ready", "Unknown"): UNREACHABLE,
                      ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
                      ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
                      ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
                      ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure"}
CONTROLLER_TAINTS = frozenset({*NO_SCHEDULE_TAINTS.values(), UNSCHEDULABLE})


def eviction_time(pod: Obj, taints: list[Obj], now: dt.datetime | None = None) -> dt.datetime | None:
    """When the pod must go (``now`` if a taint is not tolerated), or None if it may stay forever."""
    now = now or now_utc()
    due: dt.datetime | None = None
    forever = True
    for taint in taints:
        matching = [t for t in pod["spec"].get("tolerations") or [] if tolerates_taint(t, taint)]
        if not matching:
            return now
        seconds = [t["tolerationSeconds"] for t in matching if t.get("tolerationSeconds") is not None]
        if len(seconds) == len(matching):  # every matching toleration is bounded
            forever = False
            at = (parse_time(taint.get("timeAdded")) or now) + dt.timedelta(seconds=max(min(seconds), 0))
            due = at if due is None else min(due, at)
    return None if forever else due


class NodeLifecycleController(Controller):
    name = "node-controller"

    def register(self) -> None:
        self._known_nodes: set[str] = set()  # ``knownNodeSet``
        self._pods_to_mark: set[str] = set()  # nodes whose pods are still to be marked not ready (``needsRetry``)
        self.informer("v1", "nodes").add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                                  on_delete=self._node_deleted)
        self.informer("coordination.k8s.io/v1", "leases")
        self.informer("v1", "pods").add_handlers(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n))

    def _node_deleted(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        if name in self._known_nodes:
            self._known_nodes.discard(name)
            self.recorder.event(node, "Normal", "RemovingNode",
                                f"Node {name} event: Removing Node {name} from Controller")

    def _pod_changed(self, pod: Obj) -> None:
        if pod["spec"].get("nodeName"):
            self.queue.add(pod["spec"]["nodeName"])

    async def run(self) -> None:
        await super().run()
        self.spawn(self._monitor(), "monitor")

    async def _monitor(self) -> None:
        while True:
            self.monitor_node_health()
            await self.clock.sleep(self.config.node_monitor_period)

    def monitor_node_health(self) -> None:
        """One tick of ``monitorNodeHealth``'s timer: every node is looked at again."""
        for node in self.informer("v1", "nodes").list():
            self.enqueue(node)

    def _last_heard(self, node: Obj) -> dt.datetime:
        name = node["metadata"]["name"]
        times = [parse_time(node["metadata"].get("creationTimestamp"))]
        lease = self.informer("coordination.k8s.io/v1", "leases").get(f"kube-node-lease/{name}")
        if lease is not None:
            times.append(parse_time((lease.get("spec") or {}).get("renewTime")))
        ready = get_node_condition(node, "Ready")
        if ready is not None:
            times.append(parse_time(ready.get("lastHeartbeatTime")))
        return max(t for t in times if t is not None)


    async def sync(self, key: str) -> Result | None:
        node = self.informer("v1", "nodes").get(key)
        if node is None:
            return None
        if key not in self._known_nodes:
            self._known_nodes.add(key)
            self.recorder.event(node, "Normal", "RegisteredNode",
                                f"Node {key} event: Registered Node {key} in Controller")
        node = await self._check_health(node)
        if (get_node_condition(node, "Ready") or {}).get("status") == "True":
            self._pods_to_mark.discard(key)
        elif key in self._pods_to_mark:
            await self._mark_pods_not_ready(key)
            self._pods_to_mark.discard(key)
        node = await self._sync_taints(node)
        return await self._evict(node)

    async def _check_health(self, node: Obj) -> Obj:
        silent = (self.clock.now() - self._last_heard(node)).total_seconds()
        ready = get_node_condition(node, "Ready")
        if silent <= self.config.node_monitor_grace_period or (ready is not None and ready["status"] == "Unknown"):
            return node
        was_ready = ready is not None and ready.get("status") == "True"
        node = codec.clone(node)
        now = rfc3339(self.clock.now())
        conditions = node.setdefault("status", {}).setdefault("conditions", [])
        if ready is None:
            conditions.append({"type": "Ready"})
        for c in conditions:
            if c.get("status") != "Unknown":
                c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                         lastTransitionTime=now)
                c.setdefault("lastHeartbeatTime", now)
        updated = await self.client.update(resource_path("v1", "nodes", name=key_name(node), subresource="status"),
                                           node)
        if was_ready:  # RecordNodeStatusChange and MarkPodsNotReady happen on the way out of Ready only
            self.recorder.event(node, "Normal", "NodeNotReady", f"Node {key_name(node)} status is now: NodeNotReady")
            self._pods_to_mark.add(key_name(node))
        return updated

    async def _mark_pods_not_ready(self, name: str) -> None:
        """``MarkPodsNotReady``: every pod on the node gets Ready=False through ``pods/NAME/status``."""
        now = rfc3339(self.clock.now())
        for pod in self.informer("v1", "pods").list():
            ready = find_status_condition((pod.get("status") or {}).get("conditions"), "Ready")
            if pod["spec"].get("nodeName") != name or ready is None or ready.get("status") == "False":
                continue
            pod = codec.clone(pod)
            for c in pod["status"]["conditions"]:
                if c.get("type") == "Ready":
                    c.update(status="False", lastTransitionTime=now)
            meta = pod["metadata"]
            try:
                await self.client.update(resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"],
                                                       subresource="status"), pod)
            except APIStatusError as e:
                if e.code == 404:
                    continue
                raise
            self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")

    async def _sync_taints(self, node: Obj) -> Obj:
        """``doNoScheduleTaintingPass`` and ``doNoExecuteTaintingPass``; every taint added carries
        ``timeAdded``, as ``SwapNodeControllerTaint`` stamps it."""
        conditions = (node.get("status") or {}).get("conditions") or []
        wanted = [(NO_SCHEDULE_TAINTS[(c.get("type"), c.get("status"))], "NoSchedule") for c in conditions
                  if (c.get("type"), c.get("status")) in NO_SCHEDULE_TAINTS]
        if (node.get("spec") or {}).get("unschedulable"):
            wanted.append((UNSCHEDULABLE, "NoSchedule"))
        ready = get_node_condition(node, "Ready")
        if ready is not None and ready.get("status") in CONDITION_TAINTS:
            wanted.append((CONDITION_TAINTS[ready["status"]], "NoExecute"))
        taints = list((node.get("spec") or {}).get("taints") or [])
        kept = [t for t in taints if t["key"] not in CONTROLLER_TAINTS or (t["key"], t["effect"]) in wanted]
        have = {(t["key"], t["effect"]) for t in kept}
        now = rfc3339(self.clock.now())
        for key, effect in wanted:
            if (key, effect) not in have:
                kept.append({"key": key, "effect": effect, "timeAdded": now})
        if kept == taints:
            return node
        return await self.client.patch(resource_path("v1", "nodes", name=key_name(node)),
                                       {"spec": {"taints": kept or None}})

    async def _evict(self, node: Obj) -> Result | None:
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        if not taints:
            return None
        name, soonest = key_name(node), None
        for pod in self.informer("v1", "pods").list():
            if pod["spec"].get("nodeName") != name or pod["metadata"].get("deletionTimestamp"):
                continue
            now = self.clock.now()
            due = eviction_time(pod, taints, now)
            if due is None:
                continue
            wait = (due - now).total_seconds()
            if wait > 0:
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            ns, pod_name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            self.recorder.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {ns}/{pod_name}")
            try:
                await self.client.delete(resource_path("v1", "pods", namespace=ns, name=pod_name))
            except APIStatusError as e:
                if e.code != 404:
                    raise
        return Result(requeue_after=soonest) if soonest is not None else None


def key_name(node: Obj) -> str:
    return node["metadata"]["name"]
