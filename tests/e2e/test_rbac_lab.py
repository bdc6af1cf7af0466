"""The exercise of notebook 6.3 (labkit.labs.rbac): the check says what jane still may not read, refuses
a grant wider than reading Deployments in default, and passes once its solution ran."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from labkit import Cluster
from labkit.labs import rbac


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(nodes=1, runtime="sim", seed=0, set_kubeconfig_env=False) as c:
        yield c


def kubectl(c: Cluster, *args: str) -> None:
    done = subprocess.run(["kubectl", "--kubeconfig", str(c.kubeconfig), *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_deployment_reader_says_what_is_wrong_refuses_too_much_and_passes_solved(cluster: Cluster) -> None:
    kubectl(cluster, "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods")
    kubectl(cluster, "create", "rolebinding", "read-pods", "--role=pod-reader", "--user=jane")
    ex = rbac.deployment_reader(cluster)
    assert ex.check().problems == tuple(f"jane may not {verb} deployments in default yet"
                                        for verb in ("get", "list", "watch"))

    kubectl(cluster, "create", "clusterrolebinding", "jane-edits", "--clusterrole=edit", "--user=jane")
    assert ex.check().problems == (
        *(f"jane may {verb} deployments: she should only read them"
          for verb in ("create", "update", "patch", "delete")),
        "jane may update deployments/scale: she should only read them",
        "jane may list deployments in kube-system: grant the reads in default only "
        "(a RoleBinding, not a ClusterRoleBinding)")
    kubectl(cluster, "delete", "clusterrolebinding", "jane-edits")

    assert ex.solve({"cluster": cluster}).ok, ex.check()
