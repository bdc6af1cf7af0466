"""NodeUnschedulable, after kube's ``nodeunschedulable/node_unschedulable_test.go`` (``TestNodeUnschedulable``)."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.scheduler.framework import Code
from labkit.scheduler.plugins import NodeUnschedulable

from .helpers import OK, UNRESOLVABLE, filter_statuses, node, pod

REASON = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"

CASES: list[tuple[str, list[Any], bool, tuple[Code, str]]] = [
    # name, pod tolerations, node.spec.unschedulable, want
    ("does not schedule a pod to an unschedulable node", [], True, (UNRESOLVABLE, REASON)),
    ("schedules a pod to a normal node", [], False, OK),
    ("schedules a pod tolerating the unschedulable taint to an unschedulable node",
     [{"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}], True, OK),
    ("Exists with the taint's key tolerates it", [{"key": UNSCHEDULABLE_TAINT, "operator": "Exists"}], True, OK),
    ("an empty key with Exists tolerates every taint", [{"operator": "Exists"}], True, OK),
    ("a toleration for another effect does not", [{"key": UNSCHEDULABLE_TAINT, "effect": "NoExecute"}], True,
     (UNRESOLVABLE, REASON)),
    ("a toleration for another key does not", [{"key": "other", "operator": "Exists"}], True, (UNRESOLVABLE, REASON)),
]


@pytest.mark.parametrize("tolerations,cordoned,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter(tolerations: list[Any], cordoned: bool, want: tuple[Code, str]) -> None:
    p = pod(tolerations=tolerations)
    assert filter_statuses(NodeUnschedulable(), p, [node("n", unschedulable=cordoned)]) == {"n": want}
