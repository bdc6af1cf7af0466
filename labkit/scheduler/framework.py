"""The scheduling framework: extension points, plugin statuses, the cycle's state, and the runner.

Mirrors ``pkg/scheduler/framework`` (``interface.go``: ``Code``, ``Status``, the plugin interfaces;
``cycle_state.go``; ``runtime/framework.go``: running each extension point over a profile's
plugins; ``types.go``: ``Diagnosis`` and ``FitError`` with its exact message). A plugin is any
object with a ``name`` and one or more of these methods (the extension points it implements):

- ``pre_filter(state, pod, nodes) -> Status | None``   once per cycle; ``Status.skip()`` skips its filter
- ``filter(state, pod, node_info) -> Status | None``   per node; ``None`` means Success
- ``post_filter(state, pod, statuses, handle) -> (Status, nominated_node)``   when no node fits
- ``pre_score(state, pod, nodes) -> Status | None``    once per cycle; ``Status.skip()`` skips its score
- ``score(state, pod, node_info) -> int``               per feasible node
- ``normalize_score(state, pod, scores: list[int])``    rescale in place to 0..100
- ``reserve(state, pod, node_name)`` / ``unreserve(...)``
- ``async bind(state, pod, node_name, handle) -> Status``   the first bind plugin that does not skip wins

Subclassing :class:`Plugin` is optional; it only documents the shape. Left out: Permit, PreBind,
PostBind, QueueSort and PreEnqueue as plugin points (the queue's order is fixed), parallelism, metrics.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from labkit.scheduler.types import NodeInfo, PodInfo

if TYPE_CHECKING:
    from labkit.client import Client

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


class Code(enum.IntEnum):
    """A plugin's verdict (``framework.Code``)."""

    Success = 0
    Error = 1
    Unschedulable = 2  # may fit once something changes, e.g. after preemption
    UnschedulableAndUnresolvable = 3  # preemption cannot help on this node
    Wait = 4
    Skip = 5


class Status:
    """A :class:`Code`, the reasons (short phrases counted in the FitError message) and the plugin."""

    __slots__ = ("code", "reasons", "plugin")

    def __init__(self, code: Code = Code.Success, *reasons: str, plugin: str = "") -> None:
        self.code = code
        self.reasons = reasons
        self.plugin = plugin

    @classmethod
    def unschedulable(cls, *reasons: str) -> Status:
        return cls(Code.Unschedulable, *reasons)

    @classmethod
    def unresolvable(cls, *reasons: str) -> Status:
        return cls(Code.UnschedulableAndUnresolvable, *reasons)

    @classmethod
    def error(cls, message: str) -> Status:
        return cls(Code.Error, message)

    @classmethod
    def skip(cls) -> Status:
        return cls(Code.Skip)

    def is_success(self) -> bool:
        return self.code == Code.Success

    def is_rejected(self) -> bool:
        return self.code in (Code.Unschedulable, Code.UnschedulableAndUnresolvable)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def __repr__(self) -> str:
        who = f" {self.plugin}" if self.plugin else ""
        return f"<Status {self.code.name}{who}{': ' + self.message if self.reasons else ''}>"


SUCCESS = Status()


class CycleState:
    """Data plugins share within one scheduling cycle (``framework.CycleState``)."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()
        self.all_nodes: Sequence[NodeInfo] = ()  # every node in the cache this cycle (SnapshotSharedLister)
        self.filters: list[tuple[str, Any]] | None = None  # (name, filter) of the plugins not skipped

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str) -> Any:
        """The value written under ``key`` (``KeyError`` if none, as Go's ``ErrNotFound``)."""
        return self._data[key]


class Plugin:
    """Optional base class for plugins: set ``name`` and define the extension-point methods you need.

    Example::

        class PreferLabelled(Plugin):
            name = "PreferLabelled"
            def score(self, state, pod, node_info):
                return 100 if node_info.labels.get("disk") == "ssd" else 0
    """

    name: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"<plugin {self.name}>"


class Handle:
    """What plugins may use beyond their arguments (``framework.Handle``): the scheduler's API client,
    its cache's nodes, the framework to re-run filters, and a way to run API calls in the background."""

    def __init__(self, *, client: Client | None, framework: Framework, nodes: Sequence[NodeInfo],
                 spawn: Any, recorder: Any) -> None:
        self.client = client
        self.framework = framework
        self.nodes = nodes
        self.spawn = spawn
        self.recorder = recorder


class Diagnosis:
    """Why no node fit: each rejected node's status, and what PreFilter and PostFilter said."""

    def __init__(self) -> None:
        self.node_to_status: dict[str, Status] = {}
        self.unschedulable_plugins: set[str] = set()
        self.pre_filter_msg = ""
        self.post_filter_msg = ""


class FitError(Exception):
    """No node fits the pod. ``str()`` is kube-scheduler's FailedScheduling message."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        # "0/X nodes are available: <PreFilterMsg>. <sorted reason histogram>. <PostFilterMsg>"
        msg = f"0/{self.num_all_nodes} nodes are available:"
        d = self.diagnosis
        if d.pre_filter_msg:
            msg += f" {d.pre_filter_msg}."
        else:
            counts: dict[str, int] = {}
            for status in d.node_to_status.values():
                for reason in status.reasons:
                    counts[reason] = counts.get(reason, 0) + 1
            histogram = sorted(f"{n} {reason}" for reason, n in counts.items())  # Go sorts the joined strings
            if histogram:
                msg += f" {', '.join(histogram)}."
        if d.post_filter_msg:
            msg += f" {d.post_filter_msg}"
        return msg


def _as_status(result: Status | None, plugin: str) -> Status:
    if result is None:
        return SUCCESS
    if not result.plugin and not result.is_success():
        result.plugin = plugin
    return result


class Framework:
    """One profile's plugins, sorted into the extension points they implement, and the runners."""

    def __init__(self, plugins: Iterable[Any], weights: dict[str, int]) -> None:
        self.plugins = list(plugins)
        names = [p.name for p in self.plugins]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(f"plugins need distinct, non-empty names: {names}")
        point = {m: [p for p in self.plugins if callable(getattr(p, m, None))]
                 for m in ("pre_filter", "filter", "post_filter", "pre_score", "score", "reserve", "bind")}
        self.pre_filter_plugins, self.filter_plugins = point["pre_filter"], point["filter"]
        self.post_filter_plugins, self.pre_score_plugins = point["post_filter"], point["pre_score"]
        self.score_plugins, self.reserve_plugins, self.bind_plugins = point["score"], point["reserve"], point["bind"]
        self.weights = {p.name: weights.get(p.name, 1) for p in self.score_plugins}

    def run_pre_filter_plugins(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        state.filters = None
        for p in self.pre_filter_plugins:
            s = _as_status(p.pre_filter(state, pod, nodes), p.name)
            if s.code == Code.Skip:
                state.skip_filter_plugins.add(p.name)
            elif not s.is_success():
                return s
        return SUCCESS

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """The first plugin that rejects the node decides (kube stops at the first failure too)."""
        if state.filters is None:  # the plugins PreFilter did not skip, worked out once per cycle
            state.filters = [(p.name, p.filter) for p in self.filter_plugins if p.name not in state.skip_filter_plugins]
        for name, run in state.filters:
            s = run(state, pod, node)
            if s is not None and s.code != Code.Success:
                if not s.plugin:
                    s.plugin = name
                return s
        return SUCCESS

    def run_pre_score_plugins(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        for p in self.pre_score_plugins:
            s = _as_status(p.pre_score(state, pod, nodes), p.name)
            if s.code == Code.Skip:
                state.skip_score_plugins.add(p.name)
            elif not s.is_success():
                return s
        return SUCCESS

    def run_score_plugins(self, state: CycleState, pod: PodInfo,
                          nodes: Sequence[NodeInfo]) -> dict[str, tuple[list[int], list[int]]]:
        """Per plugin: (raw scores, normalized scores), both aligned with ``nodes``."""
        out: dict[str, tuple[list[int], list[int]]] = {}
        for p in self.score_plugins:
            if p.name in state.skip_score_plugins:
                continue
            raw = [int(p.score(state, pod, n)) for n in nodes]
            normalized = list(raw)
            normalize = getattr(p, "normalize_score", None)
            if normalize is not None:
                normalize(state, pod, normalized)
            for v in normalized:
                if not MIN_NODE_SCORE <= v <= MAX_NODE_SCORE:
                    raise ValueError(f"plugin {p.name!r} returns an invalid score {v}, it should in the range of "
                                     f"[{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing")
            out[p.name] = (raw, normalized)
        return out

    def run_reserve_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for p in self.reserve_plugins:
            s = _as_status(p.reserve(state, pod, node_name), p.name)
            if not s.is_success():
                return s
        return SUCCESS

    def run_unreserve_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for p in reversed(self.reserve_plugins):
            unreserve = getattr(p, "unreserve", None)
            if unreserve is not None:
                unreserve(state, pod, node_name)

    def run_post_filter_plugins(self, state: CycleState, pod: PodInfo, statuses: dict[str, Status],
                                handle: Handle) -> tuple[Status, str]:
        """The first plugin that succeeds (or errors) ends the point; rejections' messages are joined."""
        messages = []
        for p in self.post_filter_plugins:
            s, nominated = p.post_filter(state, pod, statuses, handle)
            s = _as_status(s, p.name)
            if s.is_success() or s.code == Code.Error:
                return s, nominated
            messages.append(s.message)
        return Status(Code.Unschedulable, *messages), ""

    async def run_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str, handle: Handle) -> Status:
        for p in self.bind_plugins:
            s = _as_status(await p.bind(state, pod, node_name, handle), p.name)
            if s.code != Code.Skip:
                return s
        return Status.error(f"no bind plugin bound pod {pod.key}")
