"""NodeUnschedulable: no new pods on a cordoned node (``spec.unschedulable``), unless the pod
tolerates the ``node.kubernetes.io/unschedulable:NoSchedule`` taint.

Mirrors ``pkg/scheduler/framework/plugins/nodeunschedulable``.
"""

from __future__ import annotations

from labkit.apimachinery.taints import tolerates_taint
from labkit.scheduler.framework import CycleState, Status
from labkit.scheduler.interface import FilterPlugin
from labkit.scheduler.types import NodeInfo, PodInfo

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
TAINT_NODE_UNSCHEDULABLE = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable(FilterPlugin):
    name = "NodeUnschedulable"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable or any(tolerates_taint(t, TAINT_NODE_UNSCHEDULABLE) for t in pod.tolerations):
            return None
        return Status.unresolvable(ERR_REASON_UNSCHEDULABLE)
