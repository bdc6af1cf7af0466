"""kubectl 1.33's job commands against the controllers (the rollout, scale and node commands, on every
pinned version, are in tests/kubectl_ops)."""

import pytest
from testkit import Kubectl, kubectl_path

from labkit.client import resource_path

from .conftest import pods, wait_for

pytestmark = pytest.mark.kubectl


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
