"""kubectl 1.33's workload commands against the controllers (kubectl reads what they write)."""

import pytest
from conftest import Kubectl, kubectl_path

from labkit.client import resource_path

from .conftest import pods, wait_for
from .test_deployment import replicasets, rollout_done

pytestmark = pytest.mark.kubectl


def test_rollout_commands(kcm_cluster, api, ns, tmp_path):
    k = Kubectl(kubectl_path("1.33"), kcm_cluster.kubeconfig, tmp_path / "cache")
    k("-n", ns, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2")
    wait_for(lambda: rollout_done(api, ns, "web", "nginx:1.25"), what="rollout 1")
    assert 'deployment "web" successfully rolled out' in k("-n", ns, "rollout", "status", "deployment/web",
                                                            "--timeout=10s")
    k("-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.26")
    wait_for(lambda: rollout_done(api, ns, "web", "nginx:1.26"), what="rollout 2")
    history = k("-n", ns, "rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    assert "nginx:1.25" in k("-n", ns, "rollout", "history", "deployment/web", "--revision=1")

    assert "rolled back" in k("-n", ns, "rollout", "undo", "deployment/web")
    wait_for(lambda: rollout_done(api, ns, "web", "nginx:1.25"), what="undo")
    assert len(replicasets(api, ns)) == 2

    k("-n", ns, "scale", "deployment/web", "--replicas=4")
    wait_for(lambda: rollout_done(api, ns, "web", "nginx:1.25") and len(pods(api, ns)) == 4, what="scale")
    described = k("-n", ns, "describe", "deployment", "web")
    for needle in ("Replicas:               4 desired | 4 updated | 4 total | 4 available | 0 unavailable",
                   "StrategyType:           RollingUpdate", "NewReplicaSet:", "ScalingReplicaSet"):
        assert needle in described, f"{needle!r} not in\n{described}"
    table = k("-n", ns, "get", "deployment", "web")
    assert table.split("\n")[1].split()[:4] == ["web", "4/4", "4", "4"]


def test_kubectl_job(kcm_cluster, api, ns, tmp_path):
    k = Kubectl(kubectl_path("1.33"), kcm_cluster.kubeconfig, tmp_path / "cache")
    k("-n", ns, "create", "job", "once", "--image=busybox")
    pod = wait_for(lambda: pods(api, ns), what="job pod")[0]
    api("PATCH", resource_path("v1", "pods", namespace=ns, name=pod["metadata"]["name"], subresource="status"),
        {"status": {"phase": "Succeeded"}}, content_type="application/merge-patch+json")
    k("-n", ns, "wait", "--for=condition=complete", "job/once", "--timeout=10s")
    header, row = k("-n", ns, "get", "jobs").splitlines()[:2]
    assert header.split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert row.split()[:3] == ["once", "Complete", "1/1"]
