"""DefaultPreemption: when no node fits, evict lower-priority pods from one node to make room.

Mirrors ``pkg/scheduler/framework/plugins/defaultpreemption`` and ``framework/preemption``
(``Evaluator.Preempt``): nodes rejected as UnschedulableAndUnresolvable are skipped ("Preemption is
not helpful for scheduling"); on every other node all lower-priority pods are removed in a what-if
copy, the filters run again, and the victims are then reprieved most important first while the pod
still fits (``SelectVictimsOnNode``). Of the candidates, ``pickOneNodeForPreemption`` prefers the
lowest highest-victim priority, then the lowest priority sum, then the fewest victims. The victims
are deleted through the API server (each with a ``Preempted`` event) in the background, and the
scheduler records the node in the pod's ``status.nominatedNodeName``; the pod is scheduled once the
deletions free the room; while victims on the nominated node are still terminating the pod does
not preempt again. Left out: PodDisruptionBudgets, the candidate sampling
(``minCandidateNodesPercentage``), the start-time tie-break, clearing lower-priority nominations,
and nominated pods' reserved room in other pods' filters.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from labkit.client import APIStatusError, resource_path
from labkit.scheduler.framework import Code, CycleState, Diagnosis, FitError, Framework, Handle, Status
from labkit.scheduler.interface import PostFilterPlugin
from labkit.scheduler.types import NodeInfo, PodInfo

log = logging.getLogger(__name__)
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


def select_victims_on_node(framework: Framework, state: CycleState, pod: PodInfo, node: NodeInfo) -> list[PodInfo] | None:
    """The fewest lower-priority pods whose removal lets ``pod`` fit ``node``; None if none does."""
    what_if = node.clone()
    potential = [p for p in what_if.pods if p.priority < pod.priority]
    if not potential:
        return None
    for p in potential:
        what_if.remove_pod(p.key)
    if not framework.run_filter_plugins(state, pod, what_if).is_success():
        return None
    victims = []
    for p in sorted(potential, key=lambda p: -p.priority):  # try to keep the most important ones
        what_if.add_pod(p)
        if not framework.run_filter_plugins(state, pod, what_if).is_success():
            what_if.remove_pod(p.key)
            victims.append(p)
    return victims


def pick_one_node(candidates: dict[str, list[PodInfo]]) -> str:
    """``pickOneNodeForPreemption`` without PDBs and start times."""
    def cost(item: tuple[str, list[PodInfo]]) -> tuple[int, int, int]:
        victims = item[1]
        return (max(p.priority for p in victims), sum(p.priority + 2**31 for p in victims), len(victims))
    return min(candidates.items(), key=cost)[0]


class DefaultPreemption(PostFilterPlugin):
    name = "DefaultPreemption"

    def post_filter(self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status],
                    handle: Handle) -> tuple[Status | None, str]:
        if pod.spec.get("preemptionPolicy") == "Never":
            return Status.unschedulable("preemption: not eligible due to preemptionPolicy=Never."), ""
        nominated: str = (pod.pod.get("status") or {}).get("nominatedNodeName") or ""
        on_nominated = next((n for n in handle.nodes if n.name == nominated), None)
        if on_nominated is not None and any(p.priority < pod.priority and p.pod["metadata"].get("deletionTimestamp")
                                            for p in on_nominated.pods):
            # the victims of the last preemption are still terminating: wait for them (PodEligibleToPreemptOthers)
            return Status.unschedulable("preemption: not eligible due to a terminating pod on the nominated node."), nominated
        node_statuses: dict[str, Status] = {}
        candidates: dict[str, list[PodInfo]] = {}
        for node in handle.nodes:
            status = statuses.get(node.name)
            if status is not None and status.code == Code.UnschedulableAndUnresolvable:
                node_statuses[node.name] = Status.unresolvable(NOT_HELPFUL)
                continue
            victims = select_victims_on_node(handle.framework, state, pod, node)
            if victims is None:
                node_statuses[node.name] = Status.unschedulable(NO_VICTIMS)
            else:
                candidates[node.name] = victims
        if not candidates:
            diagnosis = Diagnosis()
            diagnosis.node_to_status = node_statuses
            return Status.unschedulable(f"preemption: {FitError(pod, len(handle.nodes), diagnosis)}"), ""
        node_name = pick_one_node(candidates)
        handle.spawn(self._evict(handle, pod, node_name, candidates[node_name]))
        return Status(), node_name

    @staticmethod
    async def _evict(handle: Handle, pod: PodInfo, node_name: str, victims: list[PodInfo]) -> None:
        """``prepareCandidate``: delete each victim and say why on it."""
        assert handle.client is not None
        for victim in victims:
            try:
                await handle.client.delete(resource_path("v1", "pods", namespace=victim.namespace, name=victim.name))
            except APIStatusError as e:
                if e.code != 404:
                    log.warning("preemption: could not delete %s: %s", victim.key, e)
                continue
            handle.recorder.event(victim.pod, "Normal", "Preempted", f"Preempted by pod {pod.uid} on node {node_name}")
