"""ClusterView: nodes with their pods by phase, the graph; a snapshot by default, live on demand,
replayable at each earlier write; every name and phase whole at any width."""

from __future__ import annotations

import re
import time

from labkit import Cluster
from labkit.widgets import ClusterView

from .conftest import create_pod, wait_for


def test_cluster_view_places_pods_on_nodes_and_follows_writes_when_live(cluster: Cluster) -> None:
    view = ClusterView(cluster, live=True)
    assert repr(view) == "ClusterView(nodes=2, pods=0)"
    assert view.text().splitlines()[1:] == ["control plane: apiserver, etcd, kube-controller-manager, "
                                            "local-path-provisioner, metrics-server, scheduler",
                                            "node-1 (Ready): -", "node-2 (Ready): -"]
    assert '<b>live</b>' in view.view.value and view.live_button.value is True
    create_pod(cluster, "web")
    wait_for(lambda: any(node and pods for node, pods in view.pods.items()))  # live: refreshed by the trace
    node = next(n for n, pods in view.pods.items() if pods)
    assert view.pods[node] == [("default/web", "Pending")]
    assert repr(view) == "ClusterView(nodes=2, pods=1, pending=1)"
    assert ("pod/default/web", f"node/{node}") in view.graph.edges()
    assert 'data-phase="Pending"' in view.view.value and "default/web" in view._repr_html_()
    view.close()


def test_a_view_keeps_the_moment_it_was_made_until_it_goes_live(cluster: Cluster) -> None:
    """What Run All needs: a later cell's change does not reach the view shown under an earlier cell;
    the view says it is a snapshot, of when and which revision; the live button follows the cluster."""
    create_pod(cluster, "before")
    view = ClusterView(cluster)
    assert not view.live and view.live_button.value is False
    shown = view.revision
    assert re.search(rf"<b>snapshot</b>as of \d\d:\d\d:\d\d, store revision {shown}\b", view.view.value)
    create_pod(cluster, "after")
    time.sleep(0.3)  # what a live view would have needed to redraw
    assert [p for p, _ in view._all_pods()] == ["default/before"] and view.revision == shown
    assert "default/after" not in view.view.value and repr(view) == "ClusterView(nodes=2, pods=1, pending=1)"
    view.live_button.value = True  # what pressing "live" does
    assert view.live and "default/after" in view.view.value and "<b>live</b>" in view.view.value
    view.live_button.value = False
    kept = view.revision
    create_pod(cluster, "later")
    time.sleep(0.3)
    assert view.revision == kept and "default/later" not in view.view.value
    view.close()


def test_replay_shows_the_cluster_at_an_earlier_write(cluster: Cluster) -> None:
    create_pod(cluster, "first")
    wait_for(lambda: any(r.kind == "request" and r.name == "first" and r.revision for r in cluster.trace.records()))
    created = next(r.revision for r in cluster.trace.records() if r.kind == "request" and r.name == "first"
                   and r.verb == "create" and r.revision)
    create_pod(cluster, "second")
    view = ClusterView(cluster)
    assert [p for p, _ in view._all_pods()] == ["default/first", "default/second"]
    assert created in view.revisions() and view.replay.value == view.revision == max(view.revisions())
    view.replay.value = created  # what moving the slider does
    assert view.revision == created and [p for p, _ in view._all_pods()] == ["default/first"]
    assert f"store revision {created}, replayed from the store&#x27;s history" in view.view.value
    view.close()


def test_unscheduled_pods_have_their_own_column(cluster: Cluster) -> None:
    create_pod(cluster, "lonely", nodeSelector={"disk": "ssd"})  # no node matches: it stays unscheduled
    view = ClusterView(cluster)
    assert view.pods[""] == [("default/lonely", "Pending")]
    assert view.text().splitlines()[-1] == "unscheduled: default/lonely Pending"
    assert 'class="labkit-node lk-unscheduled"' in view.render()
    view.close()


def test_same_seed_same_repr() -> None:
    texts = []
    for _ in range(2):
        with Cluster(nodes=2, seed=3, runtime="sim") as c:
            c.pause()  # every control loop holds: what the view shows depends on nothing but the seed
            create_pod(c, "a")
            view = ClusterView(c)
            texts.append((repr(view), view.text(), view.render()))
            view.close()
    assert texts[0] == texts[1]


def test_names_are_whole_and_boxes_wrap_and_widget_plumbing_is_not_a_component(cluster: Cluster) -> None:
    """No name or phase is cut (the boxes are HTML that wraps; long names break inside their box), no
    box has a fixed pixel width that could overflow; the informers that feed a live widget run as a
    component but are not shown as one."""
    from labkit.widgets import ResourcesView

    feeding = ResourcesView(cluster)
    create_pod(cluster, "a-pod-with-a-name-long-enough-to-spill-out-of-any-box")
    view = ClusterView(cluster)
    assert "widget-feed" in [c.name for c in cluster.components] and "widget-feed" not in view.components
    html = view.render()
    assert '<span class="lk-name">default/a-pod-with-a-name-long-enough-to-spill-out-of-any-box</span>' \
           '<span class="lk-phase">Pending</span>' in html
    assert '<span class="lk-component">kube-controller-manager</span>' in html and "…" not in html
    assert "flex-wrap:wrap" in html and "overflow-wrap:anywhere" in html
    assert not re.search(r"(?<![-\w])width[:=]\"?\d", html)  # no fixed width (a min-width only): boxes grow
    view.close()
    feeding.close()


def test_a_live_view_says_so_when_the_cluster_stops() -> None:
    with Cluster(nodes=1, seed=1, runtime="sim") as c:
        live, snapshot = ClusterView(c, live=True), ClusterView(c)
        assert "<b>live</b>" in live.view.value
    wait_for(lambda: "<b>stopped</b>the cluster has stopped: its last view, as of " in live.view.value)
    assert not live.live and live.live_button.disabled and "node-1" in live.view.value
    assert "<b>snapshot</b>" in snapshot.view.value  # a snapshot was never anything else
    live.set_live(True)
    assert not live.live  # nothing to follow any more
    live.close()
    snapshot.close()


def test_replaying_a_stopped_cluster_says_why_it_cannot() -> None:
    with Cluster(nodes=1, seed=1, runtime="sim") as c:
        view = ClusterView(c)
        first = view.revisions()[0]
    view.replay.value = first
    assert "the cluster has stopped: revision" in view.view.value and "node-1" in view.view.value  # the frame stays
    view.close()
