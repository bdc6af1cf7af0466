"""The scheduling framework: plugin statuses, the cycle's state, and running the extension points.

Mirrors ``pkg/scheduler/framework`` (``interface.go``: ``Code``, ``Status``; ``cycle_state.go``;
``runtime/framework.go``: running each extension point over a profile's plugins, with kube's
rules for who decides and its error wording; ``runtime/waiting_pods_map.go``: pods a Permit plugin
holds; ``types.go``: ``Diagnosis`` and ``FitError`` with its exact message). The extension points
themselves are the Protocols of :mod:`labkit.scheduler.interface`; :class:`Framework` sorts a
profile's plugins into them once, when the profile is built, so a cycle only walks lists.
Left out: parallelism, metrics, extenders.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from labkit.apimachinery.timeutil import go_duration
from labkit.scheduler.interface import (
    BindPlugin,
    FilterPlugin,
    PermitPlugin,
    Plugin,
    PostBindPlugin,
    PostFilterPlugin,
    PreBindPlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreScorePlugin,
    ReservePlugin,
    ScoreExtensions,
    ScorePlugin,
    extension_points,
)
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

    def is_skip(self) -> bool:
        return self.code == Code.Skip

    def is_wait(self) -> bool:
        return self.code == Code.Wait

    def is_rejected(self) -> bool:
        return self.code in (Code.Unschedulable, Code.UnschedulableAndUnresolvable)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def __repr__(self) -> str:
        who = f" {self.plugin}" if self.plugin else ""
        return f"<Status {self.code.name}{who}{': ' + self.message if self.reasons else ''}>"


SUCCESS = Status()


@runtime_checkable
class StateData(Protocol):
    """What a plugin writes into :class:`CycleState` and changes later (PreFilterExtensions, on
    preemption's what-ifs) must copy itself (``StateData.Clone``); values that are never changed
    after they are written need not."""

    def clone(self) -> Any: ...


_STATE_DATA: dict[type, bool] = {}


def _is_state_data(value: Any) -> bool:
    """``isinstance(value, StateData)``, worked out once per type (a Protocol check costs tens of
    microseconds, and preemption clones the state for every node)."""
    known = _STATE_DATA.get(type(value))
    if known is None:
        known = _STATE_DATA[type(value)] = isinstance(value, StateData)
    return known


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

    def clone(self) -> CycleState:
        """A copy whose :class:`StateData` values are copies too (preemption changes them per node)."""
        c = CycleState()
        c._data = {k: v.clone() if _is_state_data(v) else v for k, v in self._data.items()}
        c.skip_filter_plugins, c.skip_score_plugins = set(self.skip_filter_plugins), set(self.skip_score_plugins)
        c.all_nodes, c.filters = self.all_nodes, self.filters
        return c


MAX_PERMIT_TIMEOUT = 15 * 60.0  # maxTimeout: a Permit plugin's wait is capped at 15 minutes


class WaitingPod:
    """A pod a Permit plugin asked to wait (``waitingPod``): it goes on to binding once every such
    plugin allows it, and is rejected when one rejects it or its time at one runs out."""

    def __init__(self, pod: PodInfo, timeouts: dict[str, float]) -> None:
        self.pod = pod
        self.started = time.monotonic()
        self.timeouts = timeouts  # each plugin still to allow the pod -> the seconds it may wait
        self.result: Status | None = None
        self._decided: asyncio.Event | None = None

    def pending_plugins(self) -> list[str]:
        return sorted(self.timeouts)

    def allow(self, plugin: str) -> None:
        self.timeouts.pop(plugin, None)
        if not self.timeouts:
            self._decide(Status())

    def reject(self, plugin: str, message: str) -> None:
        self._decide(Status(Code.Unschedulable, message, plugin=plugin))

    def _decide(self, status: Status) -> None:
        if self.result is None:
            self.result = status
            if self._decided is not None:
                self._decided.set()

    async def wait(self) -> Status:
        """Until allowed, rejected, or the first pending plugin's timeout."""
        self._decided = asyncio.Event()
        while self.result is None:
            plugin, timeout = min(self.timeouts.items(), key=lambda kv: kv[1])
            try:
                await asyncio.wait_for(self._decided.wait(), max(self.started + timeout - time.monotonic(), 0))
            except TimeoutError:
                self.reject(plugin, f"rejected due to timeout after waiting {go_duration(timeout)} at plugin {plugin}")
        return self.result

    def __repr__(self) -> str:
        return f"<WaitingPod {self.pod.key} waiting for {', '.join(self.pending_plugins())}>"


class Handle:
    """What plugins may use beyond their arguments (``framework.Handle``): the scheduler's API client,
    its cache's nodes, the framework to re-run filters, the pods Permit plugins hold, and a way to run
    API calls in the background."""

    def __init__(self, *, client: Client | None, framework: Framework, nodes: Sequence[NodeInfo],
                 spawn: Any, recorder: Any) -> None:
        self.client = client
        self.framework = framework
        self.nodes = nodes
        self.spawn = spawn
        self.recorder = recorder

    def get_waiting_pod(self, uid: str) -> WaitingPod | None:
        return self.framework.waiting_pods.get(uid)

    def iterate_over_waiting_pods(self) -> Iterator[WaitingPod]:
        return iter(list(self.framework.waiting_pods.values()))

    def reject_waiting_pod(self, uid: str) -> bool:
        waiting = self.framework.waiting_pods.get(uid)
        if waiting is not None:
            waiting.reject("", "removed")
        return waiting is not None


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


def _error(message: str, plugin: str) -> Status:
    return Status(Code.Error, message, plugin=plugin)


class Framework:
    """One profile's plugins, sorted into the extension points they declare (checked by
    :func:`~labkit.scheduler.interface.extension_points`), and the runners of those points."""

    def __init__(self, plugins: Iterable[Plugin], weights: Mapping[str, int], *,
                 scoring: Collection[str] | None = None) -> None:
        self.plugins = list(plugins)
        names = [p.name for p in self.plugins]
        points = {id(p): extension_points(p) for p in self.plugins}
        if len(set(names)) != len(names):
            raise ValueError(f"plugins need distinct names: {names}")

        def at(point: type) -> list[Any]:
            return [p for p in self.plugins if point in points[id(p)]]

        self.pre_filter_plugins: list[PreFilterPlugin] = at(PreFilterPlugin)
        self.filter_plugins: list[FilterPlugin] = at(FilterPlugin)
        self.post_filter_plugins: list[PostFilterPlugin] = at(PostFilterPlugin)
        self.pre_score_plugins: list[PreScorePlugin] = at(PreScorePlugin)
        self.score_plugins: list[ScorePlugin] = [p for p in at(ScorePlugin) if scoring is None or p.name in scoring]
        self.reserve_plugins: list[ReservePlugin] = at(ReservePlugin)
        self.permit_plugins: list[PermitPlugin] = at(PermitPlugin)
        self.pre_bind_plugins: list[PreBindPlugin] = at(PreBindPlugin)
        self.bind_plugins: list[BindPlugin] = at(BindPlugin)
        self.post_bind_plugins: list[PostBindPlugin] = at(PostBindPlugin)
        # the PreFilter plugins' extensions, and the Score plugins' normalizers, by plugin name (declared: cast)
        self.pre_filter_extensions: dict[str, PreFilterExtensions] = {
            p.name: cast(PreFilterExtensions, p) for p in self.pre_filter_plugins
            if PreFilterExtensions in points[id(p)]}
        self.score_extensions: dict[str, ScoreExtensions] = {
            p.name: cast(ScoreExtensions, p) for p in self.score_plugins if ScoreExtensions in points[id(p)]}
        self.weights = {p.name: weights.get(p.name, 1) for p in self.score_plugins}
        self.waiting_pods: dict[str, WaitingPod] = {}  # by pod UID

    # --- scheduling cycle --------------------------------------------------------------------------

    def run_pre_filter_plugins(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        """Every PreFilter runs even after one rejects the pod as Unschedulable (preemption needs their
        state); an UnschedulableAndUnresolvable or an Error ends the point."""
        state.filters = None
        rejected: Status | None = None
        for p in self.pre_filter_plugins:
            s = _as_status(p.pre_filter(state, pod, nodes), p.name)
            if s.is_success():
                continue
            if s.code == Code.Skip:
                state.skip_filter_plugins.add(p.name)
            elif s.code == Code.UnschedulableAndUnresolvable:
                return s
            elif s.code == Code.Unschedulable:
                rejected = rejected or s
            else:
                return _error(f'running PreFilter plugin "{p.name}": {s.message}', p.name)
        return rejected or SUCCESS

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo,
                                         node: NodeInfo) -> Status:
        """Tell the PreFilter plugins (those not skipped) that ``pod_to_add`` is on ``node`` in a what-if."""
        for name, ext in self.pre_filter_extensions.items():
            if name not in state.skip_filter_plugins:
                s = _as_status(ext.add_pod(state, pod, pod_to_add, node), name)
                if not s.is_success():
                    return _error(f'running AddPod on PreFilter plugin "{name}": {s.message}', name)
        return SUCCESS

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                                            node: NodeInfo) -> Status:
        """Tell the PreFilter plugins (those not skipped) that ``pod_to_remove`` left ``node`` in a what-if."""
        for name, ext in self.pre_filter_extensions.items():
            if name not in state.skip_filter_plugins:
                s = _as_status(ext.remove_pod(state, pod, pod_to_remove, node), name)
                if not s.is_success():
                    return _error(f'running RemovePod on PreFilter plugin "{name}": {s.message}', name)
        return SUCCESS

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """The first plugin that rejects the node decides (kube stops at the first failure too)."""
        if state.filters is None:  # the plugins PreFilter did not skip, worked out once per cycle
            state.filters = [(p.name, p.filter) for p in self.filter_plugins if p.name not in state.skip_filter_plugins]
        for name, run in state.filters:
            s = run(state, pod, node)
            if s is not None and s.code != Code.Success:
                if s.code == Code.Error:
                    return _error(f'running "{name}" filter plugin: {s.message}', name)
                if not s.plugin:
                    s.plugin = name
                return s
        return SUCCESS

    def run_post_filter_plugins(self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status],
                                handle: Handle) -> tuple[Status, str]:
        """The first plugin that succeeds, or says UnschedulableAndUnresolvable, or errs ends the point;
        the others' reasons are joined."""
        reasons: list[str] = []
        rejector = ""
        for p in self.post_filter_plugins:
            result, nominated = p.post_filter(state, pod, statuses, handle)
            s = _as_status(result, p.name)
            if s.is_success() or s.code == Code.UnschedulableAndUnresolvable:
                return s, nominated
            if not s.is_rejected():
                return _error(s.message, p.name), ""
            reasons.extend(s.reasons)
            rejector = rejector or p.name
        return Status(Code.Unschedulable, *reasons, plugin=rejector), ""

    def run_pre_score_plugins(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        for p in self.pre_score_plugins:
            s = _as_status(p.pre_score(state, pod, nodes), p.name)
            if s.code == Code.Skip:
                state.skip_score_plugins.add(p.name)
            elif not s.is_success():
                return _error(f'running PreScore plugin "{p.name}": {s.message}', p.name)
        return SUCCESS

    def run_score_plugins(self, state: CycleState, pod: PodInfo,
                          nodes: Sequence[NodeInfo]) -> dict[str, tuple[list[int], list[int]]]:
        """Per plugin: (raw scores, normalized scores), both aligned with ``nodes``; ``ValueError`` when a
        plugin's scores (normalized, if it normalizes) fall outside 0..100."""
        out: dict[str, tuple[list[int], list[int]]] = {}
        for p in self.score_plugins:
            if p.name in state.skip_score_plugins:
                continue
            raw = [int(p.score(state, pod, n)) for n in nodes]
            normalized = list(raw)
            ext = self.score_extensions.get(p.name)
            if ext is not None:
                s = _as_status(ext.normalize_score(state, pod, normalized), p.name)
                if not s.is_success():
                    raise ValueError(f'running Normalize on Score plugins: plugin "{p.name}" failed with: {s.message}')
            for v in normalized:
                if not MIN_NODE_SCORE <= v <= MAX_NODE_SCORE:
                    raise ValueError(f'plugin "{p.name}" returns an invalid score {v}, it should in the range of '
                                     f"[{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing")
            out[p.name] = (raw, normalized)
        return out

    def run_reserve_plugins_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for p in self.reserve_plugins:
            s = _as_status(p.reserve(state, pod, node_name), p.name)
            if s.is_rejected():
                return s
            if not s.is_success():
                return _error(f'running Reserve plugin "{p.name}": {s.message}', p.name)
        return SUCCESS

    def run_reserve_plugins_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """In reverse order, every Reserve plugin (whether its ``reserve`` ran or not)."""
        for p in reversed(self.reserve_plugins):
            p.unreserve(state, pod, node_name)

    def run_permit_plugins(self, state: CycleState, pod: PodInfo, node_name: str, handle: Handle) -> Status:
        """Success; a plugin's rejection; or ``Code.Wait`` with the pod kept in :attr:`waiting_pods`
        (each waiting plugin's timeout capped at 15 minutes) until :meth:`wait_on_permit`."""
        timeouts: dict[str, float] = {}
        for p in self.permit_plugins:
            result, timeout = p.permit(state, pod, node_name, handle)
            s = _as_status(result, p.name)
            if s.is_success():
                continue
            if s.is_rejected():
                return s
            if s.is_wait():
                timeouts[p.name] = min(timeout, MAX_PERMIT_TIMEOUT)
            else:
                return _error(f'running Permit plugin "{p.name}": {s.message}', p.name)
        if timeouts:
            self.waiting_pods[pod.uid] = WaitingPod(pod, timeouts)
            return Status(Code.Wait, f'one or more plugins asked to wait and no plugin rejected pod "{pod.name}"')
        return SUCCESS

    # --- binding cycle -----------------------------------------------------------------------------

    async def wait_on_permit(self, pod: PodInfo) -> Status:
        """At the start of the binding cycle: Success at once unless a Permit plugin made the pod wait."""
        waiting = self.waiting_pods.get(pod.uid)
        if waiting is None:
            return SUCCESS
        try:
            s = await waiting.wait()
        finally:
            self.waiting_pods.pop(pod.uid, None)
        if s.is_success() or s.is_rejected():
            return s
        return _error(f"waiting on permit for pod: {s.message}", s.plugin)

    async def run_pre_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str, handle: Handle) -> Status:
        for p in self.pre_bind_plugins:
            s = _as_status(await p.pre_bind(state, pod, node_name, handle), p.name)
            if s.is_rejected():
                return s
            if not s.is_success():
                return _error(f'running PreBind plugin "{p.name}": {s.message}', p.name)
        return SUCCESS

    async def run_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str, handle: Handle) -> Status:
        """The first plugin that does not skip binds (or fails to)."""
        for p in self.bind_plugins:
            s = _as_status(await p.bind(state, pod, node_name, handle), p.name)
            if s.is_skip():
                continue
            if s.is_success() or s.is_rejected():
                return s
            return _error(f'running Bind plugin "{p.name}": {s.message}', p.name)
        return Status.error(f"no bind plugin bound pod {pod.key}")

    def run_post_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for p in self.post_bind_plugins:
            p.post_bind(state, pod, node_name)
