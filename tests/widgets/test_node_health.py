"""NodeHealth: leases, heartbeats, Ready transitions and taints from a real cluster, and ages from hand-made leases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from labkit import Cluster
from labkit.controllers.config import ControllerManagerConfig
from labkit.kubelet import KubeletConfig
from labkit.widgets.node_health import NodeHealth

from .conftest import wait_for


def micro(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """Two sim nodes whose kubelets renew their Leases every 0.2 s; the node lifecycle controller
    gives up on a node after 1.5 s of silence."""
    with Cluster(nodes=2, seed=0, runtime="sim", kubelet=KubeletConfig(renew_interval=0.2, lease_duration=4),
                 controllers=ControllerManagerConfig(node_monitor_grace_period=1.5, node_monitor_period=0.2)) as c:
        yield c


def test_heartbeats_then_a_silent_node_turns_unknown_and_tainted(cluster: Cluster) -> None:
    widget = NodeHealth(cluster, tick=0.1)
    wait_for(lambda: all(len(n.heartbeats) >= 3 for n in widget.refresh().nodes))  # the kubelets' renewals
    assert repr(widget) == "NodeHealth(2 nodes, 2 Ready)"
    assert widget.text().splitlines() == [
        "NodeHealth(2 nodes, 2 Ready)",
        "  node-1: Ready True(KubeletReady) | lease holder=node-1 duration=4s | taints: -",
        "  node-2: Ready True(KubeletReady) | lease holder=node-2 duration=4s | taints: -",
    ]

    cluster.run(cluster.kubelets["node-2"].stop())
    wait_for(lambda: widget.refresh().nodes[1].taints)
    node1, node2 = widget.nodes
    assert node2.text() == ("node-2: Ready True(KubeletReady) -> Unknown(NodeStatusUnknown) | lease holder=node-2"
                            " duration=4s | taints: node.kubernetes.io/unreachable:NoSchedule,"
                            " node.kubernetes.io/unreachable:NoExecute")
    assert repr(widget) == "NodeHealth(2 nodes, 1 Ready)"
    beats = len(node2.heartbeats)
    wait_for(lambda: len(widget.refresh().nodes[0].heartbeats) > len(node1.heartbeats) + 2)
    assert len(widget.nodes[1].heartbeats) == beats  # the silent node renews no more
    html = widget.view.value
    assert html.count("labkit-heartbeats") == 2 and "NodeStatusUnknown" in html
    assert "unreachable:<wbr>NoExecute" in html  # a taint breaks at . / : when the output is narrow
    widget.close()


def test_the_view_ages_with_the_clock_while_nothing_happens(cluster: Cluster) -> None:
    cluster.run(cluster.kubelets["node-1"].stop())
    cluster.run(cluster.kubelets["node-2"].stop())
    widget = NodeHealth(cluster, tick=0.05)
    before = widget.refreshes
    wait_for(lambda: widget.refreshes >= before + 3)  # redrawn by the ticker alone
    widget.close()


def test_lease_age_against_its_duration_without_a_cluster() -> None:
    widget = NodeHealth(None)
    assert widget.text() == "NodeHealth(0 nodes, 0 Ready)" and "no node and no lease yet" in widget._repr_html_()
    now = dt.datetime.now(dt.timezone.utc)
    lease = {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}
    for ago in (95, 60, 60):  # the same renewTime twice is one heartbeat
        widget.record_lease({**lease, "spec": {**lease["spec"], "renewTime": micro(now - dt.timedelta(seconds=ago))}})
    widget.record_node({"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
                        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}})
    n1 = widget.refresh().nodes[0]
    assert len(n1.heartbeats) == 2 and 59 < n1.age(widget.now) < 70
    assert n1.text() == "n1: Ready False(KubeletNotReady) | lease holder=n1 duration=40s | taints: k:NoSchedule"
    assert "60s / 40s expired" in widget.view.value
    assert widget.view.value.count('stroke="#337ab7"') == 2  # both renewals fall in the last 120 s

    widget.record_lease({**lease, "spec": {**lease["spec"], "renewTime": micro(now)}})
    assert "0s / 40s</td>" in widget.refresh().view.value and "expired" not in widget.view.value
    assert "labkit-node-health" in widget._dom_classes
