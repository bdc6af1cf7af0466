"""ControlPlaneView: live while the cluster runs; when it stops, one last redraw that says so."""

from __future__ import annotations

import dataclasses
import threading

from labkit import Cluster
from labkit.widgets import ControlPlaneView

from .conftest import wait_for


def test_the_view_says_live_then_keeps_its_last_rows_once_the_cluster_stops() -> None:
    ha = Cluster(nodes=1, runtime="sim", control_planes=3, set_kubeconfig_env=False).start(announce=False)
    try:
        view = ControlPlaneView(ha)
        assert "<b>live</b>" in view.view.value and len(view.rows) == 3
    finally:
        ha.stop()
    # nothing ticks any more: the stop itself must bring the last frame, saying what it is
    wait_for(lambda: "the cluster has stopped: its last view" in view.view.value)
    assert "<b>stopped</b>" in view.view.value and "<b>live</b>" not in view.view.value
    assert len(view.rows) == 3 and view.stopped
    view.close()


def test_a_read_under_way_when_the_cluster_stops_leaves_the_last_rows() -> None:
    """The flake of the widgets' browser test: a tick's read was under way when ``stop()`` began, saw
    the members going down and replaced the rows that showed a killed member DOWN."""
    ha = Cluster(nodes=1, runtime="sim", control_planes=3, set_kubeconfig_env=False).start(announce=False)
    reader = None
    try:
        view = ControlPlaneView(ha, tick=3600)
        ha.control_plane.kill("labkit-control-plane3")
        wait_for(lambda: "labkit-control-plane3: apiserver DOWN" in view.refresh().text())
        last = view.text()
        asked = view._control_plane.etcd()
        reading = threading.Event()

        def etcd_while_stopping() -> list:  # answers once the stop began, as members go down
            reading.set()
            wait_for(lambda: view.stopped)
            return [dataclasses.replace(s, state="down", raft_term=0, applied_index=0) for s in asked]
        view._control_plane.etcd = etcd_while_stopping
        reader = threading.Thread(target=view.refresh)
        reader.start()
        assert reading.wait(10)
    finally:
        ha.stop()
    assert reader is not None
    reader.join(30)
    wait_for(lambda: "the cluster has stopped: its last view" in view.view.value)
    assert view.text() == last and ">DOWN</td>" in view.view.value
    view.close()
