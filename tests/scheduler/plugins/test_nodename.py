"""NodeName, after kube's ``nodename/node_name_test.go`` (``TestNodeName``)."""

from __future__ import annotations

import pytest

from labkit.scheduler.framework import Code
from labkit.scheduler.interface import FilterPlugin
from labkit.scheduler.plugins import NodeName

from .helpers import OK, UNRESOLVABLE, filter_statuses, node, pod

REASON = "node(s) didn't match the requested node name"

CASES = [
    # name, spec.nodeName, node name, want
    ("no host specified", None, "foo", OK),
    ("host matches", "foo", "foo", OK),
    ("host doesn't match", "bar", "foo", (UNRESOLVABLE, REASON)),
]


@pytest.mark.parametrize("wanted,node_name,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter(wanted: str | None, node_name: str, want: tuple[Code, str]) -> None:
    p = pod(nodeName=wanted) if wanted else pod()
    assert filter_statuses(NodeName(), p, [node(node_name)]) == {node_name: want}


def test_declares_filter_only() -> None:
    assert isinstance(NodeName(), FilterPlugin) and FilterPlugin in type(NodeName()).__mro__
