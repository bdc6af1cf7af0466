"""The scheduling framework's extension points, one ``typing.Protocol`` each.

Mirrors the plugin interfaces of ``pkg/scheduler/framework/interface.go`` (moved to
``k8s.io/kube-scheduler/framework`` in 1.34): ``Plugin`` is a name; each extension point is a
Protocol over it, listed here in the order a pod meets them. A plugin *declares* what it implements
by subclassing the Protocols::

    class TaintToleration(FilterPlugin, ScorePlugin, ScoreExtensions): ...

so mypy checks its methods against the extension points, and :class:`~labkit.scheduler.framework.Framework`
sorts it into them with ``isinstance``. The Protocols are ``runtime_checkable``: an object that has
the methods without naming the Protocols (a quick plugin on the plain ``Plugin`` base, as in the
course notebook) is found too, as Go finds an interface by its methods. The framework checks every
plugin when the profile is built (:func:`extension_points`) and refuses one that implements no
extension point, half of one (``reserve`` without ``unreserve``), or a declared one it does not define.

Translated from Go: no ``ctx``; a ``None`` Status means Success; ``Score`` returns a plain ``int``
(a plugin that fails raises); kube's ``PreFilterExtensions()`` and ``ScoreExtensions()`` accessors,
which every in-tree plugin answers with itself or nil, become the plugin implementing
:class:`PreFilterExtensions` or :class:`ScoreExtensions` itself (or not). Points that reach beyond
their arguments (PostFilter, Permit, PreBind, Bind) get the :class:`~labkit.scheduler.framework.Handle`
as an argument, where kube plugins keep the one given to their constructor; PreBind and Bind are
coroutines (they call the API server); Permit's timeout is in seconds.

Left out: QueueSort and PreEnqueue (the queue's order is fixed; no scheduling gates),
EnqueueExtensions and queueing hints (labkit's queue moves unschedulable pods on every cluster event,
narrowed only by a fixed plugin list for assigned-pod events), PreFilterResult (PreFilter cannot
narrow the nodes), PreBindPreFlight, SignPlugin, and PostFilterResult's nominating mode (a
PostFilter plugin returns the nominated node's name, or ``""``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from labkit.scheduler.framework import CycleState, Handle, Status
    from labkit.scheduler.types import NodeInfo, PodInfo


@runtime_checkable
class Plugin(Protocol):
    """Every plugin has a name, unique in its profile (``Name()``); it names the plugin in
    Statuses, weights and explanations."""

    name: str = ""


@runtime_checkable
class PreFilterExtensions(Protocol):
    """Keep PreFilter's precomputed state right when preemption removes pods from (or adds them back
    to) a node in a what-if: called on a clone of the cycle's state, before Filter runs again."""

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo) -> Status | None: ...

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo, node: NodeInfo) -> Status | None: ...


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    """Once per cycle, before any Filter: precompute what Filter needs (into ``state``), or reject the
    pod for every node. ``Status.skip()`` skips this plugin's Filter for the cycle."""

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None: ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    """Per node: can the pod run there? Unschedulable (preemption may help),
    UnschedulableAndUnresolvable (it cannot) or Error; the first rejection decides."""

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    """When no node fits (``statuses``: each rejected node's Status): make one fit, typically by
    preemption. Returns the Status and the nominated node's name (``""`` for none); the first plugin
    that succeeds ends the point."""

    def post_filter(self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status],
                    handle: Handle) -> tuple[Status | None, str]: ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    """Once per cycle, over the feasible nodes, before any Score; ``Status.skip()`` skips this plugin's
    Score for the cycle."""

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None: ...


@runtime_checkable
class ScoreExtensions(Protocol):
    """Rescale one Score plugin's scores, in place, into 0..100 (``MAX_NODE_SCORE``)."""

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[int]) -> Status | None: ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    """Per feasible node: a score, 0..100 unless the plugin also implements :class:`ScoreExtensions`;
    the profile's weight multiplies it."""

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    """Once a node is chosen (and the pod assumed on it in the cache): claim what the plugin tracks.
    ``unreserve`` undoes it when a later step fails; it must be idempotent."""

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class PermitPlugin(Plugin, Protocol):
    """The last word before binding: allow (Success), reject, or ``Code.Wait`` for at most ``timeout``
    seconds until someone calls ``handle.get_waiting_pod(uid).allow(name)`` (or ``.reject``)."""

    def permit(self, state: CycleState, pod: PodInfo, node_name: str,
               handle: Handle) -> tuple[Status | None, float]: ...


@runtime_checkable
class PreBindPlugin(Plugin, Protocol):
    """In the binding cycle, before Bind: prepare the node (attach a volume ...); a failure unreserves."""

    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str, handle: Handle) -> Status | None: ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    """Bind the pod to the node. Plugins are asked in order; one that returns ``Status.skip()`` leaves
    the pod to the next."""

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str, handle: Handle) -> Status | None: ...


@runtime_checkable
class PostBindPlugin(Plugin, Protocol):
    """Informational, after a successful bind (clean-up)."""

    def post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


#: The extension points, in the order a pod meets them, each with the methods it requires.
EXTENSION_POINTS: tuple[tuple[type, tuple[str, ...]], ...] = (
    (PreFilterPlugin, ("pre_filter",)),
    (PreFilterExtensions, ("add_pod", "remove_pod")),
    (FilterPlugin, ("filter",)),
    (PostFilterPlugin, ("post_filter",)),
    (PreScorePlugin, ("pre_score",)),
    (ScorePlugin, ("score",)),
    (ScoreExtensions, ("normalize_score",)),
    (ReservePlugin, ("reserve", "unreserve")),
    (PermitPlugin, ("permit",)),
    (PreBindPlugin, ("pre_bind",)),
    (BindPlugin, ("bind",)),
    (PostBindPlugin, ("post_bind",)),
)


def extension_points(plugin: object) -> list[type]:
    """The Protocols ``plugin`` implements, checked: ``TypeError`` for an empty name, a declared
    Protocol whose methods the plugin does not define, a Protocol implemented by half, or none at all."""
    cls = type(plugin)
    who = f"plugin {cls.__name__}"
    name = getattr(plugin, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{who} needs a name: set the class attribute name = \"{cls.__name__}\"")
    found = []
    for proto, methods in EXTENSION_POINTS:
        if proto in cls.__mro__:  # declared: each method must be the plugin's own, not the Protocol's stub
            missing = [m for m in methods if getattr(cls, m, None) is getattr(proto, m)]
            if missing:
                raise TypeError(f"{who} declares {proto.__name__} but does not define {', '.join(missing)}()")
        else:
            have = [m for m in methods if callable(getattr(plugin, m, None))]
            if not have:
                continue
            if len(have) < len(methods):
                lacking = ", ".join(f"{m}()" for m in methods if m not in have)
                raise TypeError(f"{who} defines {', '.join(f'{m}()' for m in have)} but not {lacking}: "
                                f"a {proto.__name__} needs {' and '.join(f'{m}()' for m in methods)}")
        if isinstance(plugin, proto):
            found.append(proto)
    if not [p for p in found if p not in (PreFilterExtensions, ScoreExtensions)]:
        points = ", ".join(f"{m}()" for _, ms in EXTENSION_POINTS for m in ms)
        raise TypeError(f"{who} implements no extension point: define one of {points}")
    return found
