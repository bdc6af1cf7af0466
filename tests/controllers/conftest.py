"""The end-to-end controller tests: a cluster of their own per module, for what needs several controllers,
the API server and kubectl together. One controller alone is tested without a cluster in ``unit/``."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from labkit import Cluster
from labkit.client import resource_path
from labkit.controllers import ControllerManagerConfig
from testkit import wait_for  # noqa: F401 - re-exported to this folder's tests

FAST = ControllerManagerConfig(node_monitor_grace_period=2.0, node_monitor_period=0.3,
                               lease_duration=2.0, renew_deadline=1.5, retry_period=0.2)


@pytest.fixture(scope="module")
def kcm_cluster() -> Iterator[Cluster]:
    """No nodes, simulated runtime; the cluster's own controller manager runs with :data:`FAST` timings."""
    with Cluster(nodes=0, runtime="sim", seed=11, set_kubeconfig_env=False,
                 controllers=dataclasses.replace(FAST)) as c:
        yield c


@pytest.fixture
def api(kcm_cluster: Cluster) -> Any:
    """An admin client bound to the cluster loop: ``api("GET", path)``."""
    admin = kcm_cluster.client_for("admin", ["system:masters"], agent="test")

    def call(method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return kcm_cluster.run(admin.request(method, path, body=body, **kw))
    return call


@pytest.fixture
def ns(api: Any, request: pytest.FixtureRequest) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:40].strip("-")
    name = f"t-{slug}-{zlib.crc32(request.node.nodeid.encode()):08x}"
    api("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    return name


def pods(api: Any, ns: str, selector: str = "") -> list[dict[str, Any]]:
    params = {"labelSelector": selector} if selector else None
    return [p for p in api("GET", resource_path("v1", "pods", namespace=ns), params=params)["items"]]


def mark_ready(api: Any, pod: dict[str, Any], *, node: str = "") -> None:
    """Play the kubelet: Running, Ready, with an IP."""
    status = {"phase": "Running", "podIP": f"10.244.0.{abs(hash(pod['metadata']['name'])) % 250 + 2}",
              "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
    api("PATCH", resource_path("v1", "pods", namespace=pod["metadata"]["namespace"], name=pod["metadata"]["name"],
                               subresource="status"), {"status": status},
        content_type="application/merge-patch+json")


def rs_body(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def deploy_body(name: str, replicas: int, image: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def replicasets(api: Any, ns: str) -> list[dict[str, Any]]:
    return api("GET", resource_path("apps/v1", "replicasets", namespace=ns))["items"]
