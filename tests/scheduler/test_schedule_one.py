"""One scheduling cycle on in-memory NodeInfos (``schedule_one.go``): the FitError message, the
explanation of filters and scores, weights, a learner's plugin in a profile, percentageOfNodesToScore.
The plugins' own behaviour is in ``plugins/test_<plugin>.py``."""

from __future__ import annotations

import random
from typing import Any

import pytest

from labkit.scheduler import CycleState, NodeInfo, Plugin, PodInfo, Profile, Status
from labkit.scheduler.explain import Attempt
from labkit.scheduler.framework import FitError
from labkit.scheduler.schedule_one import GenericScheduler, num_feasible_nodes_to_find

Obj = dict[str, Any]
CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def node(name: str, *, cpu: str = "2", memory: str = "4Gi", taints: list[Obj] | None = None) -> NodeInfo:
    return NodeInfo({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                     "spec": {"taints": taints or []},
                     "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}})


def pod(name: str = "p", *, cpu: str = "100m", memory: str | None = None) -> PodInfo:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return PodInfo({"metadata": {"name": name, "namespace": "default"},
                    "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": requests}}]}})


def place(n: NodeInfo, *pods: PodInfo) -> NodeInfo:
    for p in pods:
        n.add_pod(p)
    return n


def test_fit_error_message_and_explanation() -> None:
    nodes = [node("n1"), node("n2", taints=[CP_TAINT]), node("n3", taints=[CP_TAINT])]
    fw = Profile().framework()
    attempt = Attempt("default/p", "default-scheduler", 1)
    with pytest.raises(FitError) as e:
        GenericScheduler().schedule_pod(fw, CycleState(), pod(cpu="3"), nodes, attempt)
    assert str(e.value) == ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
                            "{node-role.kubernetes.io/control-plane: }.")
    verdicts = {(v.node, v.plugin): v.verdict for v in attempt.filters()}
    assert verdicts[("n1", "NodeUnschedulable")] == "Success"
    assert verdicts[("n1", "NodeResourcesFit")] == "Unschedulable"
    assert verdicts[("n1", "PodTopologySpread")] == "Skip"
    assert verdicts[("n2", "NodeAffinity")] == "Skip"  # the pod has no node affinity
    assert verdicts[("n2", "NodeResourcesFit")] == "not run"  # TaintToleration already rejected n2
    assert "rejected by TaintToleration" in attempt.table()


def test_scoring_explanation_and_weights() -> None:
    nodes = [place(node("busy"), pod("x", cpu="1500m", memory="3Gi")), node("idle"),
             node("soft", taints=[{"key": "k", "effect": "PreferNoSchedule"}])]
    attempt = Attempt("default/p", "default-scheduler", 1)
    chosen = GenericScheduler(rng=random.Random(0)).schedule_pod(Profile().framework(), CycleState(), pod(), nodes, attempt)
    assert chosen == "idle"
    rows = {(s.node, s.plugin): s for s in attempt.plugin_scores()}
    taint = rows[("soft", "TaintToleration")]
    assert (taint.raw, taint.normalized, taint.weight, taint.weighted) == (1, 0, 3, 0)
    assert rows[("idle", "TaintToleration")].weighted == 300
    totals = attempt.totals()
    assert list(totals)[0] == "idle" and totals["idle"] == sum(s.weighted for s in rows.values() if s.node == "idle")
    assert "NodeAffinity" not in attempt.scores  # PreScore skipped it: the pod has no preferences


def test_custom_plugin_in_a_profile() -> None:
    """A learner's plugin on the plain ``Plugin`` base, declaring nothing: found by its methods."""
    class Even(Plugin):
        name = "Even"

        def filter(self, state: CycleState, p: PodInfo, n: NodeInfo) -> Status | None:
            return None if int(n.name[1:]) % 2 == 0 else Status.unschedulable("node(s) are odd")

        def score(self, state: CycleState, p: PodInfo, n: NodeInfo) -> int:
            return int(n.name[1:])

    profile = Profile("mine", plugins=[Even()], weights={"Even": 5})
    attempt = Attempt("default/p", "mine", 1)
    chosen = GenericScheduler().schedule_pod(profile.framework(), CycleState(), pod(), [node(f"n{i}") for i in range(1, 7)],
                                             attempt)
    assert chosen == "n6"
    assert attempt.totals() == {"n6": 30, "n4": 20, "n2": 10}


def test_percentage_of_nodes_to_score() -> None:
    assert num_feasible_nodes_to_find(0, 50) == 50
    assert num_feasible_nodes_to_find(0, 1000) == 420
    assert num_feasible_nodes_to_find(0, 5000) == 500
    assert num_feasible_nodes_to_find(0, 200) == 100
    nodes = [node(f"n{i}") for i in range(1000)]
    g = GenericScheduler()
    attempt = Attempt("default/p", "default-scheduler", 1)
    g.schedule_pod(Profile().framework(), CycleState(), pod(), nodes, attempt)
    assert len(attempt.evaluated) == 420 and g.next_start_node_index == 420
