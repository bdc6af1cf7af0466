"""kubectl's day-two commands against a two-node simulated cluster of this folder's own (cordon and
drain change its nodes), once per pinned kubectl version."""

from __future__ import annotations

import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit import Kubectl, kubectl_path

from labkit import Cluster
from labkit.client import resource_path
from testkit import wait_for  # noqa: F401 - re-exported to this folder's tests

VERSIONS = ("1.27", "1.31", "1.33")


@pytest.fixture(scope="module")
def ops_cluster() -> Iterator[Cluster]:
    with Cluster(nodes=2, runtime="sim", seed=5, set_kubeconfig_env=False) as c:
        yield c


@pytest.fixture
def api(ops_cluster: Cluster) -> Callable[..., Any]:
    """An admin client bound to the cluster loop: ``api("GET", path)``."""
    admin = ops_cluster.client_for("admin", ["system:masters"], agent="test")

    def call(method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return ops_cluster.run(admin.request(method, path, body=body, **kw))
    return call


class NamespacedKubectl(Kubectl):
    """A :class:`Kubectl` whose every command runs in one namespace (``-n`` is harmless on nodes)."""

    def __init__(self, binary: Path, kubeconfig: Path, cache_dir: Path, *, namespace: str) -> None:
        super().__init__(binary, kubeconfig, cache_dir)
        self.namespace = namespace

    def run(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return super().run("-n", self.namespace, *args, **kw)


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, ops_cluster: Cluster, api: Callable[..., Any],
            tmp_path: Path) -> NamespacedKubectl:
    """One pinned kubectl working in a fresh namespace."""
    name = f"t-{request.param.replace('.', '-')}-{zlib.crc32(request.node.nodeid.encode()):08x}"
    api("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert ops_cluster.kubeconfig is not None
    return NamespacedKubectl(kubectl_path(request.param), ops_cluster.kubeconfig, tmp_path / "cache", namespace=name)



def live_pods(api: Callable[..., Any], ns: str) -> list[dict[str, Any]]:
    """Pods of ``ns`` that are not being deleted."""
    return [p for p in api("GET", resource_path("v1", "pods", namespace=ns))["items"]
            if not p["metadata"].get("deletionTimestamp")]
