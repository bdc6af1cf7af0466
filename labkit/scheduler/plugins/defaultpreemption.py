"""DefaultPreemption: when no node fits, evict lower-priority pods from one node to make room.

Mirrors ``pkg/scheduler/framework/plugins/defaultpreemption`` and ``framework/preemption``
(``Evaluator.Preempt``): nodes rejected as UnschedulableAndUnresolvable are skipped ("Preemption is
not helpful for scheduling"); on every other node all lower-priority pods are removed in a what-if
copy of the node and of the cycle's state (PreFilterExtensions keep PodTopologySpread's and
InterPodAffinity's counts right), the filters run again, and the victims are then reprieved most
important first (priority, then start time) while the pod still fits (``SelectVictimsOnNode``); a
node where even that does not help reports the filter's reason. Of the candidates,
``pickOneNodeForPreemption`` prefers the lowest highest-victim priority, then the lowest priority
sum, then the fewest victims. In the background each victim gets the ``DisruptionTarget`` condition
(PreemptionByScheduler) and is deleted through the API server, with a ``Preempted`` event (a victim
a Permit plugin holds is rejected instead), and the scheduler records the node in the pod's
``status.nominatedNodeName``; the pod is scheduled once the deletions free the room; while victims
on the nominated node are still terminating the pod does not preempt again (unless the filters now
rule that node out for good). Left out:
PodDisruptionBudgets, the candidate sampling (``minCandidateNodesPercentage``), the start-time
tie-break between candidate nodes, clearing lower-priority nominations, and nominated pods'
reserved room in other pods' filters.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence

from labkit.client import APIStatusError, resource_path
from labkit.scheduler.framework import Code, CycleState, Diagnosis, FitError, Framework, Handle, Status
from labkit.scheduler.interface import PostFilterPlugin
from labkit.scheduler.types import NodeInfo, PodInfo

log = logging.getLogger(__name__)
NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
NO_VICTIMS = "No preemption victims found for incoming pod"


def more_important(p: PodInfo) -> tuple[int, str]:
    """``MoreImportantPod``'s sort key: higher priority first, then the pod that started earlier (a pod
    not started yet counts as starting now, after every started one)."""
    return (-p.priority, (p.pod.get("status") or {}).get("startTime") or "~")


def select_victims_on_node(framework: Framework, state: CycleState, pod: PodInfo,
                           node: NodeInfo) -> tuple[list[PodInfo], Status]:
    """``SelectVictimsOnNode``: the fewest lower-priority pods whose removal lets ``pod`` fit ``node``,
    worked out on copies of the node and of the cycle's state; with a non-Success status (why not) if
    no removal helps."""
    what_if, state = node.clone(), state.clone()

    def remove(victim: PodInfo) -> None:
        what_if.remove_pod(victim.key)
        s = framework.run_pre_filter_extension_remove_pod(state, pod, victim, what_if)
        if not s.is_success():
            raise RuntimeError(s.message)

    def add(victim: PodInfo) -> None:
        what_if.add_pod(victim)
        s = framework.run_pre_filter_extension_add_pod(state, pod, victim, what_if)
        if not s.is_success():
            raise RuntimeError(s.message)

    potential = [p for p in what_if.pods if p.priority < pod.priority]
    if not potential:
        return [], Status.unresolvable(NO_VICTIMS)
    for p in potential:
        remove(p)
    s = framework.run_filter_plugins(state, pod, what_if)
    if not s.is_success():  # even without every lower-priority pod the pod does not fit
        return [], s
    victims = []
    for p in sorted(potential, key=more_important):  # reprieve the most important ones first
        add(p)
        if not framework.run_filter_plugins(state, pod, what_if).is_success():
            remove(p)
            victims.append(p)
    return victims, Status()


def pick_one_node(candidates: dict[str, list[PodInfo]]) -> str:
    """``pickOneNodeForPreemption`` without PDBs and start times: a node that needs no victims at once,
    else the lowest highest-victim priority, the lowest priority sum, the fewest victims."""
    def cost(item: tuple[str, list[PodInfo]]) -> tuple[int, int, int]:
        victims = item[1]
        if not victims:
            return (-(2**31) - 1, 0, 0)
        return (max(p.priority for p in victims), sum(p.priority + 2**31 for p in victims), len(victims))
    return min(candidates.items(), key=cost)[0]


def terminating_by_preemption(pod: PodInfo) -> bool:
    """``podTerminatingByPreemption``: being deleted, with the DisruptionTarget condition preemption sets."""
    if not pod.pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
               and c.get("reason") == PREEMPTION_BY_SCHEDULER
               for c in (pod.pod.get("status") or {}).get("conditions") or [])


def eligible_to_preempt_others(pod: PodInfo, nodes: Sequence[NodeInfo], statuses: Mapping[str, Status]) -> str:
    """``PodEligibleToPreemptOthers``: why ``pod`` may not preempt (``""``: it may). Not with
    ``preemptionPolicy: Never``; not while lower-priority victims of its last preemption are still
    terminating on its nominated node, unless the filters now rule that node out for good."""
    if pod.spec.get("preemptionPolicy") == "Never":
        return "not eligible due to preemptionPolicy=Never."
    nominated = (pod.pod.get("status") or {}).get("nominatedNodeName")
    if not nominated:
        return ""
    status = statuses.get(nominated)
    if status is not None and status.code == Code.UnschedulableAndUnresolvable:
        return ""
    on_nominated = next((n for n in nodes if n.name == nominated), None)
    if on_nominated is not None and any(p.priority < pod.priority and terminating_by_preemption(p)
                                        for p in on_nominated.pods):
        return "not eligible due to a terminating pod on the nominated node."
    return ""


class DefaultPreemption(PostFilterPlugin):
    name = "DefaultPreemption"

    def post_filter(self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status],
                    handle: Handle) -> tuple[Status | None, str]:
        why_not = eligible_to_preempt_others(pod, handle.nodes, statuses)
        if why_not:
            return (Status.unschedulable(f"preemption: {why_not}"),
                    (pod.pod.get("status") or {}).get("nominatedNodeName") or "")
        node_statuses: dict[str, Status] = {}
        candidates: dict[str, list[PodInfo]] = {}
        for node in handle.nodes:
            status = statuses.get(node.name)
            if status is not None and status.code == Code.UnschedulableAndUnresolvable:
                node_statuses[node.name] = Status.unresolvable(NOT_HELPFUL)
                continue
            victims, status = select_victims_on_node(handle.framework, state, pod, node)
            if status.is_success():
                candidates[node.name] = victims
            else:
                node_statuses[node.name] = status
        if not candidates:
            diagnosis = Diagnosis()
            diagnosis.node_to_status = node_statuses
            return Status.unschedulable(f"preemption: {FitError(pod, len(handle.nodes), diagnosis)}"), ""
        node_name = pick_one_node(candidates)
        handle.spawn(self._evict(handle, pod, node_name, candidates[node_name]))
        return Status(), node_name

    async def _evict(self, handle: Handle, pod: PodInfo, node_name: str, victims: list[PodInfo]) -> None:
        """``prepareCandidate`` / ``PreemptPod``: a victim a Permit plugin holds is rejected; any other gets
        the DisruptionTarget condition, is deleted, and is told why in an event."""
        assert handle.client is not None
        scheduler = pod.spec.get("schedulerName") or "default-scheduler"
        for victim in victims:
            if victim.pod["metadata"].get("deletionTimestamp"):
                continue  # already going
            waiting = handle.get_waiting_pod(victim.uid)
            if waiting is not None:
                waiting.reject(self.name, "preempted")
            else:
                condition = {"type": "DisruptionTarget", "status": "True", "reason": PREEMPTION_BY_SCHEDULER,
                             "message": f"{scheduler}: preempting to accommodate a higher priority pod",
                             "lastTransitionTime": _now()}
                path = resource_path("v1", "pods", namespace=victim.namespace, name=victim.name)
                try:
                    await handle.client.patch(path + "/status", {"status": {"conditions": [condition]}},
                                              patch_type="application/strategic-merge-patch+json")
                    await handle.client.delete(path)
                except APIStatusError as e:
                    if e.code != 404:
                        log.warning("preemption: could not delete %s: %s", victim.key, e)
                    continue
            handle.recorder.event(victim.pod, "Normal", "Preempted", f"Preempted by pod {pod.uid} on node {node_name}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
