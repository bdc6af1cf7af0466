"""Kubelet test fixtures: a control plane without nodes, and kubelets the tests start themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labkit import Cluster
from labkit.client import resource_path
from labkit.kubelet import Kubelet, KubeletConfig
from labkit.kubelet.runtime import Runtime
from labkit.kubelet.runtime.process import ProcessRuntime
from testkit import wait_for  # noqa: F401 - re-exported to this folder's tests

FAST = dict(pod_cidr_timeout=0.2, backoff_base=0.3, backoff_max=2.0, pleg_period=0.1,
            renew_interval=0.3, status_update_interval=0.3)


@pytest.fixture(scope="module")
def control_plane() -> Iterator[Cluster]:
    with Cluster(nodes=0, seed=11, set_kubeconfig_env=False, runtime="process") as c:
        yield c


def start_kubelet(c: Cluster, node: str, runtime: Runtime, **config: Any) -> Kubelet:
    client = c.client_for(f"system:node:{node}", ["system:nodes"], agent="kubelet")
    config = {**FAST, "cluster_cidr": c.controller_config.cluster_cidr, **config}
    k = Kubelet(client, node_name=node, runtime=runtime, config=KubeletConfig(**config))
    c.add(k)
    return k


@pytest.fixture(scope="module")
def process_node(control_plane: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kubelet, ProcessRuntime]]:
    runtime = ProcessRuntime(root_dir=tmp_path_factory.mktemp("proc"), node="pn1")
    k = start_kubelet(control_plane, "pn1", runtime)
    yield k, runtime
    control_plane.run(runtime.cleanup())



class Api:
    """Admin access for tests (the cluster's own client)."""

    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.client = c.client_for("admin", ["system:masters"], agent="test")

    def create(self, plural: str, obj: dict, namespace: str = "default") -> dict:
        return self.c.run(self.client.create(resource_path("v1", plural, namespace=namespace), obj))

    def get(self, plural: str, name: str, namespace: str = "default") -> dict | None:
        from labkit.client import APIStatusError
        try:
            return self.c.run(self.client.get(resource_path("v1", plural, namespace=namespace, name=name)))
        except APIStatusError as e:
            if e.code == 404:
                return None
            raise

    def delete(self, plural: str, name: str, namespace: str = "default", **body: Any) -> dict:
        return self.c.run(self.client.delete(resource_path("v1", plural, namespace=namespace, name=name), body or None))

    def events(self, name: str, namespace: str = "default") -> list[tuple[str, str]]:
        items = self.c.run(self.client.get(resource_path("v1", "events", namespace=namespace)))["items"]
        return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]


@pytest.fixture(scope="module")
def api(control_plane: Cluster) -> Api:
    return Api(control_plane)


def pod(name: str, node: str, containers: list[dict], **spec: Any) -> dict:
    return {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": containers, **spec}}
