"""TaintToleration, after kube's ``tainttoleration/taint_toleration_test.go`` (``TestTaintTolerationFilter``,
``TestTaintTolerationScore``), with v1.33's reason ``node(s) had untolerated taint {key: value}``
(1.34 dropped the key and value from it). The comparison operators Gt/Lt (1.35 alpha) are left out."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.scheduler.framework import Code
from labkit.scheduler.plugins import TaintToleration

from .helpers import OK, UNRESOLVABLE, filter_statuses, node, pod, scores

Obj = dict[str, Any]


def taint(key: str, value: str, effect: str) -> Obj:
    return {"key": key, "value": value, "effect": effect}


def untolerated(key: str, value: str) -> tuple[Code, str]:
    return UNRESOLVABLE, f"node(s) had untolerated taint {{{key}: {value}}}"


FILTER_CASES: list[tuple[str, list[Obj], list[Obj], tuple[Code, str]]] = [
    # name, pod tolerations, node taints, want
    ("a pod with no tolerations can't go to a node with taints",
     [], [taint("dedicated", "user1", "NoSchedule")], untolerated("dedicated", "user1")),
    ("a pod tolerating dedicated=user1:NoSchedule (operator defaults to Equal)",
     [{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}], [taint("dedicated", "user1", "NoSchedule")], OK),
    ("Equal with another value does not tolerate",
     [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}],
     [taint("dedicated", "user1", "NoSchedule")], untolerated("dedicated", "user1")),
    ("Exists tolerates the key whatever the value",
     [{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}], [taint("foo", "bar", "NoSchedule")], OK),
    ("several tolerations, several taints, all tolerated",
     [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"},
      {"key": "foo", "operator": "Exists", "effect": "NoSchedule"}],
     [taint("dedicated", "user2", "NoSchedule"), taint("foo", "bar", "NoSchedule")], OK),
    ("key and value match but a (non-empty) effect does not",
     [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}],
     [taint("foo", "bar", "NoSchedule")], untolerated("foo", "bar")),
    ("an empty effect tolerates every effect",
     [{"key": "foo", "operator": "Equal", "value": "bar"}], [taint("foo", "bar", "NoSchedule")], OK),
    ("an untolerated PreferNoSchedule taint does not filter",
     [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}],
     [taint("dedicated", "user1", "PreferNoSchedule")], OK),
    ("no tolerations and only a PreferNoSchedule taint", [], [taint("dedicated", "user1", "PreferNoSchedule")], OK),
    # ToleratesTaint's own table (k8s.io/api core/v1 toleration_test.go)
    ("an empty key with Exists tolerates every taint", [{"operator": "Exists"}],
     [taint("a", "1", "NoSchedule"), taint("b", "", "NoExecute")], OK),
    ("an empty key with Exists and an effect tolerates only that effect", [{"operator": "Exists", "effect": "NoSchedule"}],
     [taint("a", "1", "NoSchedule"), taint("b", "", "NoExecute")], untolerated("b", "")),
    ("an untolerated NoExecute taint filters too", [], [taint("gone", "", "NoExecute")], untolerated("gone", "")),
    ("the reason names the first untolerated taint",
     [{"key": "a", "operator": "Exists"}],
     [taint("a", "1", "NoSchedule"), taint("b", "2", "NoSchedule"), taint("c", "3", "NoSchedule")], untolerated("b", "2")),
    ("a value with Exists is not compared", [{"key": "foo", "operator": "Exists", "value": "ignored"}],
     [taint("foo", "bar", "NoSchedule")], OK),
    ("Equal with no value matches a taint with no value", [{"key": "cp", "operator": "Equal"}],
     [taint("cp", "", "NoSchedule")], OK),
    ("an unknown operator tolerates nothing", [{"key": "foo", "operator": "In", "value": "bar"}],
     [taint("foo", "bar", "NoSchedule")], untolerated("foo", "bar")),
]


@pytest.mark.parametrize("tolerations,taints,want", [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter(tolerations: list[Obj], taints: list[Obj], want: tuple[Code, str]) -> None:
    assert filter_statuses(TaintToleration(), pod(tolerations=tolerations), [node("n", taints=taints)]) == {"n": want}


ARM = taint("cpu-type", "arm64", "PreferNoSchedule")
SSD = taint("disk-type", "ssd", "PreferNoSchedule")
SCORE_CASES: list[tuple[str, list[Obj], list[list[Obj]], list[int]]] = [
    # name, pod tolerations, each node's taints, normalized scores
    ("a node whose taints the pod tolerates scores higher",
     [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}],
     [[taint("foo", "bar", "PreferNoSchedule")], [taint("foo", "blah", "PreferNoSchedule")]], [100, 0]),
    ("how many tolerated taints a node has does not matter",
     [{"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "PreferNoSchedule"},
      {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "PreferNoSchedule"}],
     [[], [ARM], [ARM, SSD]], [100, 100, 100]),
    ("the more intolerable taints, the lower the score",
     [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}],
     [[], [ARM], [ARM, SSD]], [100, 50, 0]),
    ("only PreferNoSchedule taints and tolerations count",
     [{"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "NoSchedule"},
      {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "NoSchedule"}],
     [[], [taint("cpu-type", "arm64", "NoSchedule")], [ARM, SSD]], [100, 100, 0]),
    ("no taints and no tolerations: the untainted node", [], [[], [ARM]], [100, 0]),
    ("a toleration without an effect counts for PreferNoSchedule", [{"key": "cpu-type", "operator": "Exists"}],
     [[ARM], [SSD]], [100, 0]),
    ("every node equally tainted: all 0 (DefaultNormalizeScore reverses from the highest count)", [], [[ARM], [SSD]],
     [0, 0]),
]


@pytest.mark.parametrize("tolerations,taints,want", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
def test_score(tolerations: list[Obj], taints: list[list[Obj]], want: list[int]) -> None:
    nodes = [node(f"n{i}", taints=t) for i, t in enumerate(taints)]
    assert scores(TaintToleration(), pod(tolerations=tolerations), nodes) == want


def test_raw_score_counts_intolerable_prefer_no_schedule_taints() -> None:
    nodes = [node("a"), node("b", taints=[ARM, SSD, taint("x", "", "NoSchedule")])]
    assert scores(TaintToleration(), pod(), nodes, raw=True) == [0, 2]
