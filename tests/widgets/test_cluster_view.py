"""ClusterView: nodes with their pods by phase, the graph, live refresh on writes."""

from __future__ import annotations

from labkit import Cluster
from labkit.widgets import ClusterView

from .conftest import create_pod, wait_for


def test_cluster_view_places_pods_on_nodes_and_follows_writes(cluster: Cluster) -> None:
    view = ClusterView(cluster)
    assert repr(view) == "ClusterView(nodes=2, pods=0)"
    assert view.text().splitlines()[1:] == ["control plane: apiserver, etcd, kube-controller-manager, "
                                            "local-path-provisioner, metrics-server, scheduler",
                                            "node-1 (Ready): -", "node-2 (Ready): -"]
    create_pod(cluster, "web")
    wait_for(lambda: any(node and pods for node, pods in view.pods.items()))  # live: refreshed by the trace
    node = next(n for n, pods in view.pods.items() if pods)
    assert view.pods[node] == [("default/web", "Pending")]
    assert repr(view) == "ClusterView(nodes=2, pods=1, pending=1)"
    assert ("pod/default/web", f"node/{node}") in view.graph.edges()
    assert 'data-phase="Pending"' in view.view.value and "default/web" in view._repr_html_()
    view.close()


def test_unscheduled_pods_have_their_own_column(cluster: Cluster) -> None:
    create_pod(cluster, "lonely", nodeSelector={"disk": "ssd"})  # no node matches: it stays unscheduled
    view = ClusterView(cluster, live=False)
    assert view.pods[""] == [("default/lonely", "Pending")]
    assert view.text().splitlines()[-1] == "unscheduled: default/lonely Pending"
    assert "stroke-dasharray" in view.render()
    view.close()


def test_same_seed_same_repr() -> None:
    texts = []
    for _ in range(2):
        with Cluster(nodes=2, seed=3, runtime="sim") as c:
            c.pause()  # every control loop holds: what the view shows depends on nothing but the seed
            create_pod(c, "a")
            view = ClusterView(c, live=False)
            texts.append((repr(view), view.text(), view.render()))
            view.close()
    assert texts[0] == texts[1]


def test_labels_fit_their_boxes_and_widget_plumbing_is_not_a_component(cluster: Cluster) -> None:
    """A long pod name is cut with an ellipsis so that it and its phase fit the node's box (the tooltip
    keeps it whole); each control-plane box is as wide as its name; the informers that feed a live
    widget run as a component but are not shown as one."""
    from labkit.widgets import ResourcesView

    feeding = ResourcesView(cluster)
    create_pod(cluster, "a-pod-with-a-name-long-enough-to-spill")
    view = ClusterView(cluster, live=False)
    assert "widget-feed" in [c.name for c in cluster.components] and "widget-feed" not in view.components
    svg = view.render()
    assert ">default/a-pod-wi… Pending</text>" in svg
    assert "<title>default/a-pod-with-a-name-long-enough-to-spill: Pending</title>" in svg
    assert ">kube-controller-manager</text>" in svg
    view.close()
    feeding.close()
