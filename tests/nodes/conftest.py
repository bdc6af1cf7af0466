"""Node tests: whole clusters on the real docker and process runtimes, shared per package.

One docker cluster and one process cluster (2 nodes each, short back-offs) serve every test here;
each test uses its own namespace. ``node_cluster`` runs a test on both runtimes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from labkit import Cluster
from labkit.cluster import docker_available
from labkit.kubelet import KubeletConfig

from testkit import need
from testkit import wait_for

FAST = KubeletConfig(backoff_base=1.0, backoff_max=4.0, pleg_period=0.2)
_namespaces = itertools.count(1)

class Env:
    """A running cluster with the official client on its kubeconfig, as a notebook would use it."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.runtime = cluster.runtime
        self.api_client = config.new_client_from_config(str(cluster.kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)

    def namespace(self) -> str:
        name = f"{self.runtime}-{next(_namespaces)}"
        self.core.create_namespace({"metadata": {"name": name}})
        wait_for(lambda: self.core.list_namespaced_service_account(name).items, timeout=10)
        return name

    def pod(self, namespace: str, name: str, image: str, **spec: Any) -> dict:
        """Create a one-container pod; ``spec`` keys starting with ``c_`` go to the container."""
        container = {"name": "main", "image": image,
                     **{k[2:]: v for k, v in spec.items() if k.startswith("c_")}}
        body = {"metadata": {"name": name, "labels": spec.pop("labels", {"app": name})},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1,
                         **{k: v for k, v in spec.items() if not k.startswith("c_")}}}
        return self.core.create_namespaced_pod(namespace, body).to_dict()

    def running(self, namespace: str, name: str, timeout: float = 30) -> client.V1Pod:
        def ready() -> client.V1Pod | None:
            pod = self.core.read_namespaced_pod(name, namespace)
            return pod if pod.status.phase == "Running" and pod.status.pod_ip else None
        return wait_for(ready, timeout=timeout, what=lambda: self.describe(namespace, name))

    def events(self, namespace: str, name: str) -> list[tuple[str, str, str]]:
        return [(e.type, e.reason, e.message) for e in self.core.list_namespaced_event(namespace).items
                if e.involved_object.name == name]

    def describe(self, namespace: str, name: str) -> str:
        pod = self.core.read_namespaced_pod(name, namespace)
        return f"{pod.status}\nevents: {self.events(namespace, name)}"

    def pods(self, namespace: str, selector: str) -> list[client.V1Pod]:
        return self.core.list_namespaced_pod(namespace, label_selector=selector).items

def start(runtime: str) -> Cluster:
    return Cluster(nodes=2, runtime=runtime, seed=5, set_kubeconfig_env=False, kubelet=FAST,
                   metric_resolution=1).start()  # metrics-server scrapes every second: test_metrics.py

@pytest.fixture(scope="package")
def docker_env() -> Iterator[Env]:
    need(docker_available(), "a Docker daemon")
    c = start("docker")
    try:
        yield Env(c)
    finally:
        c.stop()

@pytest.fixture(scope="package")
def process_env() -> Iterator[Env]:
    c = start("process")
    try:
        yield Env(c)
    finally:
        c.stop()

@pytest.fixture(scope="package", params=[pytest.param("docker", marks=pytest.mark.docker), "process"])
def env(request: pytest.FixtureRequest) -> Env:
    """The test runs on both runtimes."""
    return request.getfixturevalue(f"{request.param}_env")
