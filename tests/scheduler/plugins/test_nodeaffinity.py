"""NodeAffinity, after kube's ``nodeaffinity/node_affinity_test.go`` (``TestNodeAffinity``,
``TestNodeAffinityPriority``), plus the operators that table leaves to ``labels.Requirement``'s own
tests (DoesNotExist, Lt, a Gt that does not parse). Left out with the plugin's features: the
``addedAffinity`` argument and PreFilterResult (kube's PreFilter also narrows the nodes for
``matchFields`` and answers conflicting fields with "pod affinity terms conflict"; here Filter rejects)."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.scheduler.framework import Code, CycleState
from labkit.scheduler.plugins import NodeAffinity

from .helpers import OK, UNRESOLVABLE, filter_statuses, node, pod, scores

Obj = dict[str, Any]
REJECT = (UNRESOLVABLE, "node(s) didn't match Pod's node affinity/selector")


def expr(key: str, op: str, *values: str) -> Obj:
    return {"key": key, "operator": op, **({"values": list(values)} if values else {})}


def name_is(*names: str) -> Obj:
    return {"key": "metadata.name", "operator": "In", "values": list(names)}


def required(*terms: Obj) -> Obj:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def exprs(*requirements: Obj) -> Obj:
    return {"matchExpressions": list(requirements)}


FILTER_CASES: list[tuple[str, Obj, Obj, str, tuple[Code, str]]] = [
    # name, pod spec, node labels, node name, want
    ("missing labels", {"nodeSelector": {"foo": "bar"}}, {}, "n", REJECT),
    ("same labels", {"nodeSelector": {"foo": "bar"}}, {"foo": "bar"}, "n", OK),
    ("node labels are a superset", {"nodeSelector": {"foo": "bar"}}, {"foo": "bar", "baz": "blah"}, "n", OK),
    ("node labels are a subset", {"nodeSelector": {"foo": "bar", "baz": "blah"}}, {"foo": "bar"}, "n", REJECT),
    ("In matches", {"affinity": required(exprs(expr("foo", "In", "bar", "value2")))}, {"foo": "bar"}, "n", OK),
    ("Gt matches", {"affinity": required(exprs(expr("kernel-version", "Gt", "0204")))},
     {"kernel-version": "0206"}, "n", OK),
    ("NotIn matches", {"affinity": required(exprs(expr("mem-type", "NotIn", "DDR", "DDR2")))},
     {"mem-type": "DDR3"}, "n", OK),
    ("Exists matches", {"affinity": required(exprs(expr("GPU", "Exists")))}, {"GPU": "NVIDIA-GRID-K1"}, "n", OK),
    ("In does not match", {"affinity": required(exprs(expr("foo", "In", "value1", "value2")))},
     {"foo": "bar"}, "n", REJECT),
    ("empty matchExpressions match nothing", {"affinity": required({"matchExpressions": []})}, {"foo": "bar"}, "n",
     REJECT),
    ("no affinity: PreFilter skips", {}, {"foo": "bar"}, "n", OK),
    ("affinity without required terms: PreFilter skips", {"affinity": {"nodeAffinity": {}}}, {"foo": "bar"}, "n", OK),
    ("expressions are ANDed: both hold", {"affinity": required(exprs(expr("GPU", "Exists"),
                                                                       expr("GPU", "NotIn", "AMD", "INTER")))},
     {"GPU": "NVIDIA-GRID-K1"}, "n", OK),
    ("expressions are ANDed: one fails", {"affinity": required(exprs(expr("GPU", "Exists"),
                                                                       expr("GPU", "In", "AMD", "INTER")))},
     {"GPU": "NVIDIA-GRID-K1"}, "n", REJECT),
    ("terms are ORed", {"affinity": required(exprs(expr("foo", "In", "bar", "value2")),
                                             exprs(expr("diffkey", "In", "wrong", "value2")))}, {"foo": "bar"}, "n", OK),
    ("nodeSelector and affinity both hold", {"nodeSelector": {"foo": "bar"},
                                             "affinity": required(exprs(expr("foo", "Exists")))}, {"foo": "bar"}, "n", OK),
    ("affinity holds but nodeSelector does not", {"nodeSelector": {"foo": "bar"},
                                                  "affinity": required(exprs(expr("foo", "Exists")))},
     {"foo": "barrrrrr"}, "n", REJECT),
    ("an invalid value makes the term match nothing",
     {"affinity": required(exprs(expr("foo", "NotIn", "invalid value: ___@#$%^")))}, {"foo": "bar"}, "n", REJECT),
    ("matchFields In matches the node's name", {"affinity": required({"matchFields": [name_is("node1")]})}, {}, "node1",
     OK),
    ("matchFields In does not match", {"affinity": required({"matchFields": [name_is("node1")]})}, {}, "node2", REJECT),
    ("two terms: fields fail, expressions match", {"affinity": required({"matchFields": [name_is("node1")]},
                                                                        exprs(expr("foo", "In", "bar")))},
     {"foo": "bar"}, "node2", OK),
    ("one term: fields fail, expressions match", {"affinity": required({"matchFields": [name_is("node1")],
                                                                        **exprs(expr("foo", "In", "bar"))})},
     {"foo": "bar"}, "node2", REJECT),
    ("one term: fields and expressions match", {"affinity": required({"matchFields": [name_is("node1")],
                                                                      **exprs(expr("foo", "In", "bar"))})},
     {"foo": "bar"}, "node1", OK),
    ("two terms: neither matches", {"affinity": required({"matchFields": [name_is("node1")]},
                                                         exprs(expr("foo", "In", "not-match-to-bar")))},
     {"foo": "bar"}, "node2", REJECT),
    ("two terms of node names", {"affinity": required({"matchFields": [name_is("node1")]},
                                                      {"matchFields": [name_is("node2")]})}, {}, "node2", OK),
    ("conflicting field requirements in one term", {"affinity": required({"matchFields": [name_is("node1"),
                                                                                          name_is("node2")]})},
     {"foo": "bar"}, "node2", REJECT),
    # the rest of labels.NewRequirement's operators and its parse errors
    ("DoesNotExist matches a node without the key", {"affinity": required(exprs(expr("GPU", "DoesNotExist")))},
     {"foo": "bar"}, "n", OK),
    ("DoesNotExist fails on a node with the key", {"affinity": required(exprs(expr("GPU", "DoesNotExist")))},
     {"GPU": "x"}, "n", REJECT),
    ("Lt matches", {"affinity": required(exprs(expr("gen", "Lt", "4")))}, {"gen": "3"}, "n", OK),
    ("Lt does not match an equal value", {"affinity": required(exprs(expr("gen", "Lt", "3")))}, {"gen": "3"}, "n",
     REJECT),
    ("Gt does not match a label that is not an integer", {"affinity": required(exprs(expr("gen", "Gt", "3")))},
     {"gen": "four"}, "n", REJECT),
    ("Gt with two values does not parse", {"affinity": required(exprs(expr("gen", "Gt", "1", "2")))}, {"gen": "3"},
     "n", REJECT),
    ("an invalid key makes the term match nothing", {"affinity": required(exprs(expr("invalid key", "DoesNotExist")))},
     {}, "n", REJECT),
    ("In without values does not parse", {"affinity": required(exprs(expr("foo", "NotIn")))}, {"foo": "bar"}, "n",
     REJECT),
    ("a bad term does not spoil a good one", {"affinity": required(exprs(expr("foo", "NotIn")),
                                                                   exprs(expr("foo", "In", "bar")))},
     {"foo": "bar"}, "n", OK),
]


@pytest.mark.parametrize("spec,labels,name,want", [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter(spec: Obj, labels: Obj, name: str, want: tuple[Code, str]) -> None:
    assert filter_statuses(NodeAffinity(), pod(**spec), [node(name, labels=labels)]) == {name: want}


@pytest.mark.parametrize("spec", [{"nodeSelector": {"foo": "bar"}},
                                  {"affinity": required(exprs(expr("GPU", "Exists"), expr("GPU", "NotIn", "AMD")))}],
                         ids=["node selector", "node affinity"])
def test_filter_without_pre_filter(spec: Obj) -> None:
    """"Matches node selector/affinity correctly even if PreFilter is not called"."""
    n = node("n", labels={"foo": "bar", "baz": "blah", "GPU": "NVIDIA-GRID-K1"})
    assert NodeAffinity().filter(CycleState(), pod(**spec), n) is None


def preferred(*weighted: tuple[int, list[Obj]]) -> Obj:
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "preference": exprs(*reqs)} for w, reqs in weighted]}}


AFFINITY1 = preferred((2, [expr("foo", "In", "bar")]))
AFFINITY2 = preferred((2, [expr("foo", "In", "bar")]), (4, [expr("key", "In", "value")]),
                      (5, [expr("foo", "In", "bar"), expr("key", "In", "value"), expr("az", "In", "az1")]))
LABEL1, LABEL2, LABEL3 = {"foo": "bar"}, {"key": "value"}, {"az": "az1"}
LABEL4, LABEL5 = {"abc": "az11", "def": "az22"}, {"foo": "bar", "key": "value", "az": "az1"}
SCORE_CASES: list[tuple[str, Obj, list[Obj], list[int] | None]] = [
    # name, affinity, node labels, normalized scores (None: PreScore skipped the plugin)
    ("no node affinity: PreScore skips", {}, [LABEL1, LABEL2, LABEL3], None),
    ("no node matches the preferred terms", AFFINITY1, [LABEL4, LABEL2, LABEL3], [0, 0, 0]),
    ("only node1 matches", AFFINITY1, [LABEL1, LABEL2, LABEL3], [100, 0, 0]),
    ("all match with different priorities", AFFINITY2, [LABEL1, LABEL5, LABEL2], [18, 100, 36]),
    ("a term with weight 0 does not count", preferred((0, [expr("foo", "In", "bar")]), (1, [expr("az", "Exists")])),
     [LABEL1, LABEL3], [0, 100]),
]


@pytest.mark.parametrize("affinity,labels,want", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
def test_score(affinity: Obj, labels: list[Obj], want: list[int] | None) -> None:
    nodes = [node(f"n{i}", labels=ls) for i, ls in enumerate(labels)]
    assert scores(NodeAffinity(), pod(affinity=affinity), nodes) == want


def test_score_without_pre_score() -> None:
    """"calculate the priorities correctly even if PreScore is not called": the raw weight sums."""
    plugin, p = NodeAffinity(), pod(affinity=AFFINITY2)
    assert [plugin.score(CycleState(), p, node("n", labels=ls)) for ls in (LABEL1, LABEL5, LABEL2)] == [2, 11, 4]


def test_pre_score_rejects_a_broken_preferred_term() -> None:
    """"PreScore returns error when an incoming Pod has a broken affinity", with kube's message."""
    p = pod(affinity=preferred((2, [expr("invalid key", "In", "bar")])))
    s = NodeAffinity().pre_score(CycleState(), p, [node("n", labels=LABEL1)])
    assert s is not None and s.code == Code.Error
    assert s.message == (
        '[0].matchExpressions[0].key: Invalid value: "invalid key": name part must consist of alphanumeric characters, '
        "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
