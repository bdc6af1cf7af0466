"""NodeName: a pod that names a node in ``spec.nodeName`` fits only that node.

Mirrors ``pkg/scheduler/framework/plugins/nodename``. (The scheduler only sees pods without a
``nodeName``; the filter matters for preemption's what-ifs and for learners' own frameworks.)
"""

from __future__ import annotations

from labkit.scheduler.framework import CycleState, Status
from labkit.scheduler.interface import FilterPlugin
from labkit.scheduler.types import NodeInfo, PodInfo

ERR_REASON = "node(s) didn't match the requested node name"


class NodeName(FilterPlugin):
    name = "NodeName"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        wanted = pod.spec.get("nodeName")
        if not wanted or wanted == node.name:
            return None
        return Status.unresolvable(ERR_REASON)
