"""InterPodAffinity, after kube's ``interpodaffinity`` tests: ``filtering_test.go``
(``TestRequiredAffinitySingleNode``, ``TestRequiredAffinityMultipleNodes``, ``TestPreFilterStateAddRemovePod``)
and ``scoring_test.go`` (``TestPreferredAffinity``, with ``hardPodAffinityWeight`` 1). Left out with
the plugin's features: namespaceSelector other than ``{}``, ``ignorePreferredTermsOfExistingPods``."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.scheduler.framework import Code, CycleState, Framework
from labkit.scheduler.plugins import InterPodAffinity
from labkit.scheduler.types import NodeInfo, PodInfo

from .helpers import OK, UNRESOLVABLE, UNSCHEDULABLE, filter_statuses, node, place, pod, scores

Obj = dict[str, Any]
NO_AFFINITY = (UNRESOLVABLE, "node(s) didn't match pod affinity rules")
ANTI = (UNSCHEDULABLE, "node(s) didn't match pod anti-affinity rules")
EXISTING_ANTI = (UNSCHEDULABLE, "node(s) didn't satisfy existing pods anti-affinity rules")
LABELS1 = {"region": "r1", "zone": "z11"}
SCAN = {"service": "securityscan"}
S1 = {"security": "S1"}


def sel(key: str, op: str, *values: str) -> Obj:
    return {"matchExpressions": [{"key": key, "operator": op, **({"values": list(values)} if values else {})}]}


def term(selector: Obj | None, key: str, **extra: Any) -> Obj:
    return {"labelSelector": selector, "topologyKey": key, **extra}


def affinity(*required: Obj, anti: tuple[Obj, ...] = (), preferred: tuple[tuple[int, Obj], ...] = (),
             preferred_anti: tuple[tuple[int, Obj], ...] = ()) -> Obj:
    out: Obj = {}
    if required or preferred:
        out["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(required),
                              "preferredDuringSchedulingIgnoredDuringExecution": [
                                  {"weight": w, "podAffinityTerm": t} for w, t in preferred]}
    if anti or preferred_anti:
        out["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(anti),
                                  "preferredDuringSchedulingIgnoredDuringExecution": [
                                      {"weight": w, "podAffinityTerm": t} for w, t in preferred_anti]}
    return out


def on_node1(*existing: PodInfo, labels: Obj | None = None) -> list[NodeInfo]:
    return [place(node("node1", labels=LABELS1 if labels is None else labels), *existing)]


SINGLE_NODE: list[tuple[str, PodInfo, list[NodeInfo], tuple[Code, str]]] = [
    ("no required affinity, no existing pods", pod(), on_node1(), OK),
    ("In operator matches the existing pod",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan", "value2"), "region"))),
     on_node1(pod("e", labels=SCAN)), OK),
    ("NotIn operator matches the existing pod",
     pod(labels=S1, affinity=affinity(term(sel("service", "NotIn", "securityscan3", "value3"), "region"))),
     on_node1(pod("e", labels=SCAN)), OK),
    ("does not match because of a different namespace",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan"), "region", namespaces=["DiffNameSpace"]))),
     on_node1(pod("e", labels=SCAN)), NO_AFFINITY),
    ("does not match because of an unmatching label selector",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "antivirusscan", "value2"), "region"))),
     on_node1(pod("e", labels=SCAN)), NO_AFFINITY),
    ("different operators in several required terms all hold",
     pod(labels=S1, affinity=affinity(term(sel("service", "Exists"), "region"),
                                      term(sel("wrongkey", "DoesNotExist"), "region"))),
     on_node1(pod("e", labels=SCAN)), OK),
    ("the requirements of one selector are ANDed: one fails",
     pod(labels=S1, affinity=affinity(term({"matchExpressions": [{"key": "service", "operator": "Exists"},
                                                                 {"key": "service", "operator": "In",
                                                                  "values": ["WrongValue"]}]}, "region"))),
     on_node1(pod("e", labels=SCAN)), NO_AFFINITY),
    ("affinity and anti-affinity with the existing pod both hold",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan"), "region"),
                                      anti=(term(sel("service", "In", "antivirusscan"), "zone"),))),
     on_node1(pod("e", labels=SCAN)), OK),
    ("affinity holds, anti-affinity does not",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan"), "region"),
                                      anti=(term(sel("service", "In", "securityscan"), "zone"),))),
     on_node1(pod("e", labels=SCAN)), ANTI),
    ("affinity and anti-affinity hold, the existing pod's anti-affinity does not (symmetry)",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan"), "region"),
                                      anti=(term(sel("service", "In", "antivirusscan"), "zone"),))),
     on_node1(pod("e", labels=SCAN, affinity=affinity(anti=(term(sel("security", "In", "S1"), "zone"),)))),
     EXISTING_ANTI),
    ("an existing pod's anti-affinity is respected when the pod has none",
     pod(labels=S1), on_node1(pod("e", labels=SCAN, affinity=affinity(anti=(term(sel("security", "In", "S1"), "zone"),)))),
     EXISTING_ANTI),
    ("an existing pod's anti-affinity that does not match the pod",
     pod(labels=S1), on_node1(pod("e", labels=SCAN, affinity=affinity(anti=(term(sel("security", "In", "S2"), "zone"),)))),
     OK),
    ("an existing pod's anti-affinity on a key the node lacks does not apply",
     pod(labels=S1), on_node1(pod("e", labels=SCAN, affinity=affinity(anti=(term(sel("security", "In", "S1"), "rack"),)))),
     OK),
    ("the node lacks the affinity term's topology key",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan"), "rack"))),
     on_node1(pod("e", labels=SCAN)), NO_AFFINITY),
    ("an empty namespaceSelector selects every namespace",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan"), "region", namespaceSelector={}))),
     on_node1(pod("e", namespace="other", labels=SCAN)), OK),
    ("by default only the pod's own namespace",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan"), "region"))),
     on_node1(pod("e", namespace="other", labels=SCAN)), NO_AFFINITY),
    ("a nil labelSelector matches no pod", pod(labels=S1, affinity=affinity(term(None, "region"))),
     on_node1(pod("e", labels=SCAN)), NO_AFFINITY),
    ("the first pod of a group: no pod matches yet, but the pod matches its own terms",
     pod(labels=S1, affinity=affinity(term(sel("security", "In", "S1"), "region"))), on_node1(), OK),
    ("no pod matches and the pod does not match its own terms",
     pod(labels=S1, affinity=affinity(term(sel("security", "In", "S2"), "region"))), on_node1(), NO_AFFINITY),
    ("affinity is checked first: a node failing it and an existing anti-affinity says affinity",
     pod(labels=S1, affinity=affinity(term(sel("service", "In", "nothing-here"), "region"))),
     on_node1(pod("e", labels=SCAN), pod("f", labels={"service": "x"},
                                         affinity=affinity(anti=(term(sel("security", "In", "S1"), "zone"),))),
              pod("g", labels={"service": "nothing-here"}), labels={"zone": "z11"}),
     NO_AFFINITY),
    ("anti-affinity is checked before the existing pods' anti-affinity",
     pod(labels=S1, affinity=affinity(anti=(term(sel("service", "In", "securityscan"), "zone"),))),
     on_node1(pod("e", labels=SCAN, affinity=affinity(anti=(term(sel("security", "In", "S1"), "zone"),)))), ANTI),
]


@pytest.mark.parametrize("p,nodes,want", [c[1:] for c in SINGLE_NODE], ids=[c[0] for c in SINGLE_NODE])
def test_filter_single_node(p: PodInfo, nodes: list[NodeInfo], want: tuple[Code, str]) -> None:
    assert filter_statuses(InterPodAffinity(), p, nodes) == {"node1": want}


def three_nodes(**pods_on: list[PodInfo]) -> list[NodeInfo]:
    labels = {"machine1": {"region": "r1", "zone": "z11", "hostname": "machine1"},
              "machine2": {"region": "r1", "zone": "z12", "hostname": "machine2"},
              "machine3": {"region": "r2", "zone": "z21", "hostname": "machine3"}}
    return [place(node(n, labels=ls), *pods_on.get(n, [])) for n, ls in labels.items()]


FOO_BAR = {"foo": "bar"}
MULTIPLE_NODES: list[tuple[str, PodInfo, list[NodeInfo], dict[str, tuple[Code, str]]]] = [
    ("every node in the region of a matching pod", pod(affinity=affinity(term(sel("foo", "In", "bar"), "region"))),
     three_nodes(machine1=[pod("e", labels=FOO_BAR)]),
     {"machine1": OK, "machine2": OK, "machine3": NO_AFFINITY}),
    ("anti-affinity keeps the whole zone (here: one node) away",
     pod(affinity=affinity(anti=(term(sel("foo", "In", "bar"), "zone"),))),
     three_nodes(machine1=[pod("e", labels=FOO_BAR)]), {"machine1": ANTI, "machine2": OK, "machine3": OK}),
    ("anti-affinity on region keeps the region away",
     pod(affinity=affinity(anti=(term(sel("foo", "In", "bar"), "region"),))),
     three_nodes(machine1=[pod("e", labels=FOO_BAR)]), {"machine1": ANTI, "machine2": ANTI, "machine3": OK}),
    ("an existing pod's anti-affinity on region keeps the pod out of that region",
     pod(labels=FOO_BAR),
     three_nodes(machine3=[pod("e", affinity=affinity(anti=(term(sel("foo", "In", "bar"), "region"),)))]),
     {"machine1": OK, "machine2": OK, "machine3": EXISTING_ANTI}),
    ("two affinity terms: both domains must hold a match",
     pod(affinity=affinity(term(sel("foo", "In", "bar"), "region"), term(sel("foo", "In", "bar"), "zone"))),
     three_nodes(machine1=[pod("e", labels=FOO_BAR)]),
     {"machine1": OK, "machine2": NO_AFFINITY, "machine3": NO_AFFINITY}),
]


@pytest.mark.parametrize("p,nodes,want", [c[1:] for c in MULTIPLE_NODES], ids=[c[0] for c in MULTIPLE_NODES])
def test_filter_multiple_nodes(p: PodInfo, nodes: list[NodeInfo], want: dict[str, tuple[Code, str]]) -> None:
    assert filter_statuses(InterPodAffinity(), p, nodes) == want


def test_pre_filter_skips_without_terms_either_way() -> None:
    nodes = on_node1(pod("e", labels=SCAN, affinity=affinity(anti=(term(sel("security", "In", "S2"), "zone"),))))
    assert InterPodAffinity().pre_filter(CycleState(), pod(labels=S1), nodes).code == Code.Skip  # type: ignore[union-attr]


def what_if(p: PodInfo, nodes: list[NodeInfo]) -> tuple[Framework, CycleState]:
    fw = Framework([InterPodAffinity()], {})
    state = CycleState()
    assert fw.run_pre_filter_plugins(state, p, nodes).is_success()
    return fw, state.clone()


@pytest.mark.parametrize("p,existing", [
    (pod(labels=S1, affinity=affinity(anti=(term(sel("service", "In", "securityscan"), "zone"),))),
     pod("e", labels=SCAN)),
    (pod(labels=S1), pod("e", labels=SCAN, affinity=affinity(anti=(term(sel("security", "In", "S1"), "zone"),)))),
], ids=["the pod's anti-affinity", "the existing pod's anti-affinity"])
def test_remove_and_add_pod(p: PodInfo, existing: PodInfo) -> None:
    """``TestPreFilterStateAddRemovePod``: preemption takes the offending pod away, then puts it back."""
    n = on_node1(existing)[0]
    fw, state = what_if(p, [n])
    copy = n.clone()
    assert not fw.run_filter_plugins(state, p, copy).is_success()
    copy.remove_pod(existing.key)
    assert fw.run_pre_filter_extension_remove_pod(state, p, existing, copy).is_success()
    assert fw.run_filter_plugins(state, p, copy).is_success()
    copy.add_pod(existing)
    assert fw.run_pre_filter_extension_add_pod(state, p, existing, copy).is_success()
    assert not fw.run_filter_plugins(state, p, copy).is_success()


def test_remove_the_last_matching_pod_makes_affinity_fail() -> None:
    """Counts down to zero are dropped, so the "first pod of a group" rule sees no group: the pod, which
    does not match its own term, no longer fits."""
    p = pod(labels=S1, affinity=affinity(term(sel("service", "In", "securityscan"), "region")))
    existing = pod("e", labels=SCAN)
    n = on_node1(existing)[0]
    fw, state = what_if(p, [n])
    copy = n.clone()
    copy.remove_pod(existing.key)
    assert fw.run_pre_filter_extension_remove_pod(state, p, existing, copy).is_success()
    assert fw.run_filter_plugins(state, p, copy).message == "node(s) didn't match pod affinity rules"


def score_nodes(**pods_on: list[PodInfo]) -> list[NodeInfo]:
    labels = {"machine1": {"region": "China", "zone": "az1"}, "machine2": {"region": "India", "zone": "az2"},
              "machine3": {"region": "China", "zone": "az3"}}
    return [place(node(n, labels=ls), *pods_on.get(n, [])) for n, ls in labels.items()]


SEC_S1 = sel("security", "In", "S1")
SCORE_CASES: list[tuple[str, PodInfo, list[NodeInfo], list[int] | None]] = [
    ("no affinity anywhere: PreScore skips", pod(labels=S1), score_nodes(machine1=[pod("e", labels=S1)]), None),
    ("preferred affinity: the region of a matching pod", pod(affinity=affinity(preferred=((5, term(SEC_S1, "region")),))),
     score_nodes(machine1=[pod("e", labels=S1)]), [100, 0, 100]),
    ("preferred anti-affinity: away from the region of a matching pod",
     pod(affinity=affinity(preferred_anti=((5, term(SEC_S1, "region")),))),
     score_nodes(machine1=[pod("e", labels=S1)]), [0, 100, 0]),
    ("affinity and anti-affinity add up per node",
     pod(affinity=affinity(preferred=((8, term(SEC_S1, "region")),), preferred_anti=((5, term(SEC_S1, "zone")),))),
     score_nodes(machine1=[pod("e", labels=S1)]), [37, 0, 100]),  # raw 3, 0, 8
    ("symmetry: an existing pod's preferred affinity draws the pod",
     pod(labels={"service": "x"}),
     score_nodes(machine2=[pod("e", affinity=affinity(preferred=((5, term(sel("service", "In", "x"), "region")),)))]),
     [0, 100, 0]),
    ("symmetry: an existing pod's required affinity counts with hardPodAffinityWeight 1",
     pod(labels={"service": "x"}),
     score_nodes(machine2=[pod("e", labels={"service": "x"},
                               affinity=affinity(term(sel("service", "In", "x"), "region")))]), [0, 100, 0]),
    ("symmetry: an existing pod's preferred anti-affinity pushes the pod away",
     pod(labels={"service": "x"}),
     score_nodes(machine2=[pod("e", affinity=affinity(preferred_anti=((5, term(sel("service", "In", "x"), "zone")),)))]),
     [100, 0, 100]),
    ("normalizing divides before it multiplies, as Go does: raw 29 of 0..100 gives 28",
     pod(affinity=affinity(preferred=((29, term(sel("app", "In", "a"), "region")),
                                      (71, term(sel("app", "In", "b"), "zone"))))),
     [place(node("m1", labels={"region": "R1", "zone": "Z1"}), pod("a1", labels={"app": "a"})),
      place(node("m2", labels={"region": "R2", "zone": "Z2"}), pod("a2", labels={"app": "a"}), pod("b", labels={"app": "b"})),
      node("m3", labels={"region": "R3", "zone": "Z3"})], [28, 100, 0]),
]


@pytest.mark.parametrize("p,nodes,want", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
def test_score(p: PodInfo, nodes: list[NodeInfo], want: list[int] | None) -> None:
    assert scores(InterPodAffinity(), p, nodes) == want
