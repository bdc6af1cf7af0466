"""The extension points as Protocols (``interface.py``) and the framework that runs them, after kube's
``runtime/framework_test.go``: who decides at each point, the error wording, Permit's waiting pods."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from labkit.scheduler import (BindPlugin, CycleState, FilterPlugin, Framework, Handle, NodeInfo, PermitPlugin, Plugin,
                              PodInfo, PostBindPlugin, PostFilterPlugin, PreBindPlugin, PreFilterExtensions,
                              PreFilterPlugin, PreScorePlugin, ReservePlugin, ScoreExtensions, ScorePlugin, Status,
                              default_plugins)
from labkit.scheduler.custom import Pick
from labkit.scheduler.framework import Code, WaitingPod
from labkit.scheduler.interface import extension_points

Obj = dict[str, Any]


def pod(name: str = "p") -> PodInfo:
    return PodInfo({"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}, "spec": {}})


def node(name: str = "n") -> NodeInfo:
    return NodeInfo({"metadata": {"name": name}, "spec": {}, "status": {}})


DECLARED = {
    "NodeUnschedulable": {FilterPlugin},
    "NodeName": {FilterPlugin},
    "TaintToleration": {FilterPlugin, ScorePlugin, ScoreExtensions},
    "NodeAffinity": {PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, ScoreExtensions},
    "NodeResourcesFit": {FilterPlugin, ScorePlugin},
    "PodTopologySpread": {PreFilterPlugin, PreFilterExtensions, FilterPlugin, PreScorePlugin, ScorePlugin, ScoreExtensions},
    "InterPodAffinity": {PreFilterPlugin, PreFilterExtensions, FilterPlugin, PreScorePlugin, ScorePlugin, ScoreExtensions},
    "NodeResourcesBalancedAllocation": {PreScorePlugin, ScorePlugin},
    "ImageLocality": {PreScorePlugin, ScorePlugin},
    "DefaultPreemption": {PostFilterPlugin},
    "DefaultBinder": {BindPlugin},
}


@pytest.mark.parametrize("plugin", default_plugins(), ids=lambda p: p.name)
def test_in_tree_plugins_declare_their_extension_points(plugin: Any) -> None:
    """Each subclasses exactly the Protocols it implements (``var _ framework.FilterPlugin = ...``)."""
    declared = {proto for proto in type(plugin).__mro__ if proto in set().union(*DECLARED.values())}
    assert declared == DECLARED[plugin.name] == set(extension_points(plugin))


def test_the_function_scheduler_plugin_declares_too() -> None:
    assert set(extension_points(Pick(lambda pod, nodes: None))) == {PreFilterPlugin, FilterPlugin}


def test_a_plugin_on_the_plain_base_is_found_by_its_methods() -> None:
    """The course notebook's ``class PreferSSD(Plugin)`` with only ``score``: a ScorePlugin, as Go would
    find an interface by its methods."""
    class PreferSSD(Plugin):
        name = "PreferSSD"

        def score(self, state: Any, pod: Any, node_info: Any) -> int:
            return 100 if node_info.labels.get("disk") == "ssd" else 0

    fw = Framework([*default_plugins(), PreferSSD()], {"PreferSSD": 10})
    assert [p.name for p in fw.score_plugins][-1] == "PreferSSD" and fw.weights["PreferSSD"] == 10
    assert "PreferSSD" not in fw.score_extensions


class Named:
    def __init__(self, name: str, **methods: Any) -> None:
        self.name = name
        for m, f in methods.items():
            setattr(self, m, f)


class DeclaresReserveOnly(ReservePlugin):
    name = "Half"

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        return None


REFUSED = [
    ("no name", Named("", filter=lambda *a: None), "needs a name"),
    ("no extension point (a typo)", Named("Typo", scroe=lambda *a: 0), "implements no extension point"),
    ("half of ReservePlugin", Named("Half", reserve=lambda *a: None),
     "defines reserve() but not unreserve(): a ReservePlugin needs reserve() and unreserve()"),
    ("half of PreFilterExtensions", Named("Half", pre_filter=lambda *a: None, add_pod=lambda *a: None),
     "defines add_pod() but not remove_pod()"),
    ("a declared Protocol it does not define", DeclaresReserveOnly(), "declares ReservePlugin but does not define unreserve()"),
]


@pytest.mark.parametrize("plugin,message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_registration_refuses(plugin: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Framework([plugin], {})


def test_registration_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="distinct names"):
        Framework([Named("A", filter=lambda *a: None), Named("A", score=lambda *a: 0)], {})


def pre_filter(name: str, status: Status | None, ran: list[str]) -> Named:
    def run(state: CycleState, p: PodInfo, nodes: Any) -> Status | None:
        ran.append(name)
        return status
    return Named(name, pre_filter=run)


PRE_FILTER = [
    ("all succeed", [None, None], (Code.Success, ""), ["A", "B"]),
    ("every PreFilter runs after an Unschedulable (kube #119770); the first decides",
     [Status.unschedulable("a"), Status.unschedulable("b")], (Code.Unschedulable, "a"), ["A", "B"]),
    ("UnschedulableAndUnresolvable ends the point", [Status.unresolvable("a"), None],
     (Code.UnschedulableAndUnresolvable, "a"), ["A"]),
    ("an Error ends the point, in kube's words", [Status.error("boom"), None],
     (Code.Error, 'running PreFilter plugin "A": boom'), ["A"]),
    ("Skip is no failure", [Status.skip(), None], (Code.Success, ""), ["A", "B"]),
]


@pytest.mark.parametrize("results,want,ran_want", [c[1:] for c in PRE_FILTER], ids=[c[0] for c in PRE_FILTER])
def test_run_pre_filter_plugins(results: list[Status | None], want: tuple[Code, str], ran_want: list[str]) -> None:
    ran: list[str] = []
    fw = Framework([pre_filter("A", results[0], ran), pre_filter("B", results[1], ran)], {})
    state = CycleState()
    s = fw.run_pre_filter_plugins(state, pod(), [node()])
    assert ((s.code, s.message), ran) == (want, ran_want)
    assert s.is_success() or s.plugin == "A"
    assert state.skip_filter_plugins == ({"A"} if results[0] is not None and results[0].code == Code.Skip else set())


def test_run_filter_plugins_first_rejection_decides_and_errors_are_wrapped() -> None:
    fw = Framework([Named("A", filter=lambda *a: Status.unschedulable("no")), Named("B", filter=lambda *a: 1 / 0)], {})
    s = fw.run_filter_plugins(CycleState(), pod(), node())
    assert (s.code, s.message, s.plugin) == (Code.Unschedulable, "no", "A")
    fw = Framework([Named("A", filter=lambda *a: Status.error("disk on fire"))], {})
    assert fw.run_filter_plugins(CycleState(), pod(), node()).message == 'running "A" filter plugin: disk on fire'


POST_FILTER = [
    ("the first success wins", [(Status.unschedulable("a"), ""), (Status(), "n1")], (Code.Success, "", "n1")),
    ("rejections' reasons are joined", [(Status.unschedulable("a"), ""), (Status.unschedulable("b"), "")],
     (Code.Unschedulable, "a, b", "")),
    ("UnschedulableAndUnresolvable ends the point", [(Status.unresolvable("a"), ""), (Status(), "n1")],
     (Code.UnschedulableAndUnresolvable, "a", "")),
    ("an Error ends the point", [(Status.error("boom"), ""), (Status(), "n1")], (Code.Error, "boom", "")),
]


@pytest.mark.parametrize("results,want", [c[1:] for c in POST_FILTER], ids=[c[0] for c in POST_FILTER])
def test_run_post_filter_plugins(results: list[tuple[Status, str]], want: tuple[Code, str, str]) -> None:
    fw = Framework([Named(n, post_filter=lambda *a, r=r: r) for n, r in zip("AB", results, strict=True)], {})
    s, nominated = fw.run_post_filter_plugins(CycleState(), pod(), {}, None)  # type: ignore[arg-type]
    assert (s.code, s.message, nominated) == want


def test_score_plugins_normalize_and_stay_in_range() -> None:
    fw = Framework([Named("S", score=lambda *a: 7, normalize_score=lambda s, p, scores: scores.__setitem__(0, 100))], {})
    assert fw.run_score_plugins(CycleState(), pod(), [node()]) == {"S": ([7], [100])}
    fw = Framework([Named("S", score=lambda *a: 101)], {})
    with pytest.raises(ValueError, match='plugin "S" returns an invalid score 101'):
        fw.run_score_plugins(CycleState(), pod(), [node()])


class Recording:
    """A plugin at every point from Reserve on, writing what ran into ``log``."""

    def __init__(self, name: str, log: list[str], *, reserve: Status | None = None,
                 permit: tuple[Status | None, float] = (None, 0), pre_bind: Status | None = None) -> None:
        self.name, self.log = name, log
        self._reserve, self._permit, self._pre_bind = reserve, permit, pre_bind

    def reserve(self, state: CycleState, p: PodInfo, node_name: str) -> Status | None:
        self.log.append(f"reserve {self.name}")
        return self._reserve

    def unreserve(self, state: CycleState, p: PodInfo, node_name: str) -> None:
        self.log.append(f"unreserve {self.name}")

    def permit(self, state: CycleState, p: PodInfo, node_name: str, handle: Handle) -> tuple[Status | None, float]:
        self.log.append(f"permit {self.name}")
        return self._permit

    async def pre_bind(self, state: CycleState, p: PodInfo, node_name: str, handle: Handle) -> Status | None:
        self.log.append(f"pre_bind {self.name}")
        return self._pre_bind

    def post_bind(self, state: CycleState, p: PodInfo, node_name: str) -> None:
        self.log.append(f"post_bind {self.name}")


def test_one_plugin_at_every_later_point_is_sorted_into_each() -> None:
    fw = Framework([Recording("R", [])], {})
    assert [len(x) for x in (fw.reserve_plugins, fw.permit_plugins, fw.pre_bind_plugins, fw.post_bind_plugins)] == [1] * 4
    assert set(extension_points(Recording("R", []))) == {ReservePlugin, PermitPlugin, PreBindPlugin, PostBindPlugin}


def test_reserve_stops_at_a_rejection_and_unreserve_runs_every_plugin_in_reverse() -> None:
    log: list[str] = []
    fw = Framework([Recording("A", log), Recording("B", log, reserve=Status.unschedulable("full")), Recording("C", log)], {})
    s = fw.run_reserve_plugins_reserve(CycleState(), pod(), "n")
    assert (s.code, s.message, s.plugin) == (Code.Unschedulable, "full", "B")
    fw.run_reserve_plugins_unreserve(CycleState(), pod(), "n")
    assert log == ["reserve A", "reserve B", "unreserve C", "unreserve B", "unreserve A"]
    fw = Framework([Recording("A", log, reserve=Status.error("io"))], {})
    assert fw.run_reserve_plugins_reserve(CycleState(), pod(), "n").message == 'running Reserve plugin "A": io'


def permit_framework(*results: tuple[Status | None, float]) -> tuple[Framework, Handle]:
    fw = Framework([Recording(f"P{i}", [], permit=r) for i, r in enumerate(results)], {})
    return fw, Handle(client=None, framework=fw, nodes=[], spawn=None, recorder=None)


def test_permit_success_rejection_and_error() -> None:
    fw, h = permit_framework((None, 0), (Status.unschedulable("not now"), 0))
    s = fw.run_permit_plugins(CycleState(), pod(), "n", h)
    assert (s.code, s.message, s.plugin) == (Code.Unschedulable, "not now", "P1") and not fw.waiting_pods
    fw, h = permit_framework((Status.error("io"), 0))
    assert fw.run_permit_plugins(CycleState(), pod(), "n", h).message == 'running Permit plugin "P0": io'
    fw, h = permit_framework((None, 0))
    assert fw.run_permit_plugins(CycleState(), pod(), "n", h).is_success()
    assert asyncio.run(fw.wait_on_permit(pod())).is_success()  # nothing to wait for


def test_permit_wait_until_every_waiting_plugin_allows() -> None:
    fw, h = permit_framework((Status(Code.Wait), 10), (Status(Code.Wait), 20))
    p = pod()
    s = fw.run_permit_plugins(CycleState(), p, "n", h)
    assert (s.code, s.message) == (Code.Wait, "one or more plugins asked to wait and no plugin rejected pod \"p\"")
    waiting = h.get_waiting_pod(p.uid)
    assert waiting is not None and waiting.pending_plugins() == ["P0", "P1"]
    assert list(h.iterate_over_waiting_pods()) == [waiting]

    async def run() -> Status:
        task = asyncio.ensure_future(fw.wait_on_permit(p))
        await asyncio.sleep(0)
        waiting.allow("P0")
        await asyncio.sleep(0)
        assert not task.done()
        waiting.allow("P1")
        return await task

    assert asyncio.run(run()).is_success() and not fw.waiting_pods


def test_permit_wait_rejected_or_timed_out() -> None:
    fw, h = permit_framework((Status(Code.Wait), 0.05))
    p = pod()
    fw.run_permit_plugins(CycleState(), p, "n", h)
    s = asyncio.run(fw.wait_on_permit(p))
    assert (s.code, s.message, s.plugin) == (Code.Unschedulable, "rejected due to timeout after waiting 50ms at plugin P0", "P0")
    fw.run_permit_plugins(CycleState(), p, "n", h)
    assert h.reject_waiting_pod(p.uid) and not h.reject_waiting_pod("nobody")
    s = asyncio.run(fw.wait_on_permit(p))
    assert (s.code, s.message) == (Code.Unschedulable, "removed")


def test_permit_timeout_is_capped_at_15_minutes() -> None:
    fw, h = permit_framework((Status(Code.Wait), 3600))
    fw.run_permit_plugins(CycleState(), pod(), "n", h)
    assert fw.waiting_pods["uid-p"].timeouts == {"P0": 900.0}


def test_pre_bind_rejection_and_error_and_post_bind() -> None:
    log: list[str] = []
    h = Handle(client=None, framework=None, nodes=[], spawn=None, recorder=None)  # type: ignore[arg-type]
    fw = Framework([Recording("A", log, pre_bind=Status.unschedulable("volume busy")), Recording("B", log)], {})
    s = asyncio.run(fw.run_pre_bind_plugins(CycleState(), pod(), "n", h))
    assert (s.code, s.message, s.plugin, log) == (Code.Unschedulable, "volume busy", "A", ["pre_bind A"])
    fw = Framework([Recording("A", log, pre_bind=Status.error("io"))], {})
    assert asyncio.run(fw.run_pre_bind_plugins(CycleState(), pod(), "n", h)).message == 'running PreBind plugin "A": io'
    log.clear()
    Framework([Recording("A", log), Recording("B", log)], {}).run_post_bind_plugins(CycleState(), pod(), "n")
    assert log == ["post_bind A", "post_bind B"]


class Counter:
    def __init__(self, n: int) -> None:
        self.n = n

    def clone(self) -> Counter:
        return Counter(self.n)


def test_cycle_state_clone_copies_state_data_and_shares_the_rest() -> None:
    state = CycleState()
    frozen = ("never", "changed")
    state.write("counter", Counter(1))
    state.write("frozen", frozen)
    state.skip_filter_plugins.add("X")
    copy = state.clone()
    copy.read("counter").n += 1
    copy.skip_filter_plugins.add("Y")
    assert state.read("counter").n == 1 and copy.read("counter").n == 2
    assert copy.read("frozen") is frozen and state.skip_filter_plugins == {"X"}


def test_waiting_pod_first_decision_stands() -> None:
    w = WaitingPod(pod(), {"A": 10})
    w.reject("A", "no")
    w.allow("A")
    assert w.result is not None and w.result.message == "no"
