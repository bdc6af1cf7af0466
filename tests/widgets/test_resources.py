"""ResourcesView without metrics-server: requests and limits still show, usage is unknown and the view
says why (the autoscaler's end to end, with metrics, is in tests/metrics/test_autoscaling.py)."""

from __future__ import annotations

from labkit import Cluster

from .conftest import create_pod, wait_for


def test_without_metrics_server_requests_and_limits_show_and_the_view_says_why() -> None:
    with Cluster(nodes=1, runtime="sim", seed=3, metrics_server=False, set_kubeconfig_env=False) as cluster:
        view = cluster.widgets.resources()
        create_pod(cluster, "web", containers=[{"name": "a", "image": "nginx", "resources": {
            "requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "300m", "memory": "64Mi"}}},
            {"name": "b", "image": "nginx", "resources": {"requests": {"cpu": "50m"}}}])
        wait_for(lambda: "pod web (node-1)" in view.refresh().text(), what=view.text)
        assert view.text().splitlines() == [
            "ResourcesView(1 node, 1 pod in default, 0 hpas, no metrics-server)",
            "  node node-1 (1 pod): cpu used - / req 150m / alloc 2000m | memory used - / req 32Mi / alloc 4096Mi",
            # one container sets no limit: the pod has none
            "  pod web (node-1): cpu used - / req 150m | memory used - / req 32Mi",
        ]
        assert "runs no metrics-server" in view.view.value
        view.close()
