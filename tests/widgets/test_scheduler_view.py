"""SchedulerView: filter verdicts and scores per node and plugin for one pod."""

from __future__ import annotations

from labkit import Cluster
from labkit.scheduler.explain import Attempt
from labkit.scheduler.framework import Code, Status
from labkit.widgets import SchedulerView

from .conftest import create_pod, wait_for


def test_static_attempt_table() -> None:
    a = Attempt("default/web", "default-scheduler", 4, num_all_nodes=2,
                filter_plugins=["NodeName", "NodeResourcesFit"],
                evaluated=["node-1", "node-2"], feasible=["node-2"],
                rejected={"node-1": Status(Code.Unschedulable, "Insufficient cpu", plugin="NodeResourcesFit")},
                scores={"NodeResourcesFit": ([40], [40])}, weights={"NodeResourcesFit": 1}, node="node-2")
    view = SchedulerView(attempts=[a])
    assert repr(view) == "SchedulerView(default/web, attempts=1, cycle=4, node=node-2, feasible=1/2)"
    html = view.view.value
    assert "Unschedulable: Insufficient cpu" in html and "★ node-2" in html and "40 → 40 ×1 = 40" in html
    first = view.text().splitlines()[1]
    assert first.startswith("pod default/web (profile default-scheduler, cycle 4): bound to node-2")
    view.close()


def test_live_view_shows_the_latest_attempt(cluster: Cluster) -> None:
    view = SchedulerView(cluster, "pod/web", live=True)
    assert repr(view) == "SchedulerView(default/web, attempts=0)" and "<b>live</b>" in view.view.value
    create_pod(cluster, "web")
    wait_for(lambda: view.attempt is not None and view.attempt.node)
    assert view.choose.value == view.attempt.cycle
    assert view.attempt.node in ("node-1", "node-2")
    assert "Node<wbr>Resources<wbr>Fit" in view.view.value and f"★ {view.attempt.node}" in view.view.value
    view.close()


def test_by_default_the_view_keeps_the_attempts_of_its_moment(cluster: Cluster) -> None:
    view = SchedulerView(cluster, "pod/web")
    assert not view.live and "<b>snapshot</b>" in view.view.value
    create_pod(cluster, "web")
    wait_for(lambda: cluster.scheduler.explain("default/web"))
    assert view.attempts == [] and "no scheduling attempt recorded yet" in view.view.value
    view.set_live(True)
    assert view.live_button.value is True and view.attempt is not None
    view.close()


def test_unschedulable_pod_shows_the_reason(cluster: Cluster) -> None:
    create_pod(cluster, "nowhere", nodeSelector={"disk": "ssd"})
    view = SchedulerView(cluster, "pod/nowhere")
    wait_for(lambda: view.refresh().attempt is not None)
    assert "unschedulable" in repr(view)
    assert "node(s) didn&#x27;t match Pod&#x27;s node affinity/selector" in view.view.value
    view.close()
