"""A scheduler from one Python function: ``FunctionScheduler(client, "my-scheduler", pick=...)``.

labkit's own, for the custom-scheduler lesson: ``pick(pod, nodes)`` gets the pending pod (a dict as
the API returns it) and every node's :class:`~labkit.scheduler.types.NodeInfo` (``.name``,
``.labels``, ``.allocatable``, ``.requested``, ``.pods`` ...) and returns the chosen node's name (or
its NodeInfo), or None to leave the pod pending. It runs as a one-plugin profile, so the queue,
binding, events and :meth:`~labkit.scheduler.scheduler.Scheduler.explain` work as for the real one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from labkit.client import Client
from labkit.scheduler.framework import CycleState, Status
from labkit.scheduler.interface import FilterPlugin, PreFilterPlugin
from labkit.scheduler.plugins import DefaultBinder
from labkit.scheduler.profile import Profile
from labkit.scheduler.scheduler import Scheduler
from labkit.scheduler.types import NodeInfo, PodInfo

PickFunction = Callable[[dict[str, Any], list[NodeInfo]], "str | NodeInfo | None"]


class Pick(PreFilterPlugin, FilterPlugin):
    """PreFilter asks ``pick`` once per cycle; Filter lets only the picked node through."""

    name = "Pick"

    def __init__(self, pick: PickFunction) -> None:
        self.pick = pick

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        chosen = self.pick(pod.pod, list(nodes))
        if chosen is None:
            return Status.unschedulable("pick() chose no node")
        state.write(self.name, chosen.name if isinstance(chosen, NodeInfo) else str(chosen))
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if node.name == state.read(self.name) else Status.unresolvable("node(s) were not picked")


class FunctionScheduler(Scheduler):
    """A :class:`Scheduler` for pods with ``spec.schedulerName: <scheduler_name>`` that places each one
    where ``pick`` says."""

    def __init__(self, client: Client, scheduler_name: str, *, pick: PickFunction, **kwargs: Any) -> None:
        super().__init__(client, profiles=[Profile(scheduler_name, plugins=[Pick(pick), DefaultBinder()])], **kwargs)
