"""PodLifecycle: one row per watch event of a pod on a real cluster, live, with stable reprs."""

from __future__ import annotations

from typing import Any

import pytest

from labkit import Cluster
from labkit.client import Client, resource_path
from labkit.widgets.pod_lifecycle import InformerFeed, PodLifecycle
from .conftest import wait_for

Obj = dict[str, Any]


NS = "default"


@pytest.fixture
def admin(cluster: Cluster) -> Client:
    return cluster.client_for("widgets-test-admin", ["system:masters"])


def pod(name: str, ns: str, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec}}


def status(phase: str, ready: str, state: Obj, restarts: int = 0) -> Obj:
    """A pod status the way the kubelet's status manager writes it."""
    conditions = [{"type": t, "status": s} for t, s in (("PodScheduled", "True"), ("Initialized", "True"),
                                                          ("ContainersReady", ready), ("Ready", ready))]
    return {"status": {"phase": phase, "conditions": conditions, "containerStatuses": [
        {"name": "app", "image": "busybox", "imageID": "", "ready": ready == "True", "restartCount": restarts,
         "state": state}]}}


def test_rows_follow_the_pods_watch_events(cluster: Cluster, admin: Client) -> None:
    widget = PodLifecycle(cluster, "web")
    assert repr(widget) == "PodLifecycle(default/web: 0 events, not seen yet)"
    pods = resource_path("v1", "pods", namespace=NS)
    cluster.run(admin.create(pods, pod("other", NS)))  # another pod's events are not rows
    cluster.run(admin.create(pods, pod("web", NS)))
    path = resource_path("v1", "pods", namespace=NS, name="web")
    node = wait_for(lambda: cluster.run(admin.get(path))["spec"].get("nodeName"))  # the scheduler bound it
    for body in (status("Pending", "False", {"waiting": {"reason": "ContainerCreating"}}),
                 status("Running", "True", {"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
                 status("Running", "False", {"waiting": {"reason": "CrashLoopBackOff"}}, restarts=1)):
        cluster.run(admin.patch(path + "/status", body))
    cluster.run(admin.delete(path, {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}))

    # the refresher redraws the view from the cluster's watch without anyone calling refresh()
    wait_for(lambda: "DELETED" in widget.view.value)
    assert widget.text().splitlines() == [
        "PodLifecycle(default/web: 6 events, Running, deleted)",
        "  1 ADDED    Pending   node=- | - | app=- restarts=0",
        f"  2 MODIFIED Pending   node={node} | PodScheduled=True | app=- restarts=0",
        f"  3 MODIFIED Pending   node={node} | PodScheduled=True Initialized=True ContainersReady=False Ready=False"
        " | app=waiting(ContainerCreating) restarts=0",
        f"  4 MODIFIED Running   node={node} | PodScheduled=True Initialized=True ContainersReady=True Ready=True"
        " | app=running ready restarts=0",
        f"  5 MODIFIED Running   node={node} | PodScheduled=True Initialized=True ContainersReady=False Ready=False"
        " | app=waiting(CrashLoopBackOff) restarts=1",
        f"  6 DELETED  Running   node={node} | PodScheduled=True Initialized=True ContainersReady=False Ready=False"
        " | app=waiting(CrashLoopBackOff) restarts=1",
    ]
    html = widget.view.value
    assert html.count("<tr>") == 1 + 6 and "labkit-pod-strip" in html
    assert "restarts=1" in html and "CrashLoopBackOff" in html
    widget.close()


def test_static_html_and_reprs_before_the_pod_exists(cluster: Cluster) -> None:
    widget = PodLifecycle(cluster, "ghost", namespace="kube-system")
    assert repr(widget) == widget.text() == "PodLifecycle(kube-system/ghost: 0 events, not seen yet)"
    bundle = widget._repr_mimebundle_()
    assert bundle["text/plain"] == repr(widget)
    assert 'class="labkit-widget labkit-pod-lifecycle"' in bundle["text/html"] and "no watch event yet" in bundle["text/html"]
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
