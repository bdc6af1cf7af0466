"""ControlPlaneView: live while the cluster runs; when it stops, one last redraw that says so."""

from __future__ import annotations

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
