"""PodLifecycle: one row per watch event of a pod on a real cluster, live, with stable reprs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labkit import Cluster
from labkit.client import Client, resource_path
from labkit.widgets.pod_lifecycle import InformerFeed, PodLifecycle
from .conftest import wait_for

Obj = dict[str, Any]


NS = "default"
CRASHING = {"labkit.dev/sim-run-seconds": "1.5", "labkit.dev/sim-exit-code": "1"}  # the sim runtime's crash switch


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """One sim node: the real scheduler and kubelet write the pod's status; nothing runs."""
    with Cluster(nodes=1, seed=0, runtime="sim") as c:
        yield c


@pytest.fixture
def admin(cluster: Cluster) -> Client:
    return cluster.client_for("widgets-test-admin", ["system:masters"])


def pod(name: str, ns: str, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec}}


def test_rows_follow_the_scheduler_and_the_kubelet(cluster: Cluster, admin: Client) -> None:
    widget = PodLifecycle(cluster, "web")
    assert repr(widget) == "PodLifecycle(default/web: 0 events, not seen yet)"
    pods = resource_path("v1", "pods", namespace=NS)
    cluster.run(admin.create(pods, pod("other", NS)))  # another pod's events are not rows
    cluster.run(admin.create(pods, {**pod("web", NS), "metadata": {"name": "web", "annotations": CRASHING}}))

    # the refresher redraws the view from the widget's watch without anyone calling refresh()
    wait_for(lambda: "Crash<wbr>Loop<wbr>Back<wbr>Off" in widget.view.value)  # it may break there when narrow
    cluster.run(admin.delete(resource_path("v1", "pods", namespace=NS, name="web"),
                             {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}))
    wait_for(lambda: "DELETED" in widget.view.value)

    lines = widget.text().splitlines()
    rows = widget.rows
    assert lines[0] == f"PodLifecycle(default/web: {len(rows)} events, Running, deleted)"
    assert lines[1] == "  1 ADDED    Pending   node=- | - | app=- restarts=0"
    assert lines[2] == "  2 MODIFIED Pending   node=node-1 | PodScheduled=True | app=- restarts=0"  # the binding
    assert [row.event for row in rows] == ["ADDED"] + ["MODIFIED"] * (len(rows) - 2) + ["DELETED"]
    states = [(row.phase, c.state, c.reason, c.ready) for row in rows for c in row.containers]
    assert ("Pending", "waiting", "ContainerCreating", False) in states
    running = states.index(("Running", "running", "", True))
    crash = states.index(("Running", "waiting", "CrashLoopBackOff", False))
    assert running < crash and rows[crash].containers[0].restarts >= 1
    assert dict(rows[running].conditions) == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True",
                                             "Ready": "True", **dict(rows[running].conditions[4:])}
    html = widget.view.value
    assert html.count("<tr>") == 1 + len(rows) and "labkit-pod-strip" in html
    widget.close()


def test_static_html_and_reprs_before_the_pod_exists(cluster: Cluster) -> None:
    widget = PodLifecycle(cluster, "ghost", namespace="kube-system")
    assert repr(widget) == widget.text() == "PodLifecycle(kube-system/ghost: 0 events, not seen yet)"
    bundle = widget._repr_mimebundle_()
    assert bundle["text/plain"] == repr(widget)
    assert 'class="labkit-widget labkit-pod-lifecycle"' in bundle["text/html"]
    assert "no watch event yet" in bundle["text/html"]
    assert "labkit-pod-lifecycle" in widget._dom_classes
    widget.close()


def test_closing_stops_the_widgets_watch(cluster: Cluster, admin: Client) -> None:
    closed, still_open = PodLifecycle(cluster, "web"), PodLifecycle(cluster, "web")
    assert sum(isinstance(c, InformerFeed) for c in cluster.components) == 2
    closed.close()
    assert sum(isinstance(c, InformerFeed) for c in cluster.components) == 1
    cluster.run(admin.create(resource_path("v1", "pods", namespace=NS), pod("web", NS)))
    wait_for(lambda: still_open.refresh().rows)
    assert closed.refresh().rows == []
    still_open.close()


def test_init_containers_and_terminated_reasons_without_a_cluster() -> None:
    widget = PodLifecycle(None, "job-x", namespace="batch")
    obj = pod("job-x", "batch", initContainers=[{"name": "setup", "image": "busybox"}], nodeName="node-2")
    obj["metadata"].update(resourceVersion="42", deletionTimestamp="2026-01-01T00:00:00Z")
    obj["status"] = {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False"},
                                                          {"type": "DisruptionTarget", "status": "True"}],
                     "initContainerStatuses": [{"name": "setup", "restartCount": 0,
                                                "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}],
                     "containerStatuses": [{"name": "app", "restartCount": 2,
                                            "state": {"terminated": {"reason": "Error", "exitCode": 1}}}]}
    widget.record("MODIFIED", obj, t=5.0)
    row = widget.refresh().rows[0]
    assert (row.t, row.resource_version, row.deleting) == (5.0, "42", True)
    assert row.text() == ("MODIFIED Succeeded node=node-2 deleting | Ready=False DisruptionTarget=True"
                          " | setup=terminated(Completed) restarts=0 app=terminated(Error) restarts=2")
    assert repr(widget) == "PodLifecycle(batch/job-x: 1 event, Succeeded)"
