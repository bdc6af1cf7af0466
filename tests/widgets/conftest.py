"""Widget tests: a small seeded cluster, and helpers to create objects and wait."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labkit import Cluster
from labkit.client import resource_path
from testkit import wait_for  # noqa: F401 - re-exported to this folder's tests

Obj = dict[str, Any]



def create_pod(c: Cluster, name: str, *, namespace: str = "default", **spec: Any) -> Obj:
    client = c.client_for("kubernetes-admin", ["system:masters"], agent="kubectl")
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}
    return c.run(client.create(resource_path("v1", "pods", namespace=namespace), body))


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """Two simulated nodes; the seed makes the scheduler break ties between nodes the same way every run."""
    with Cluster(nodes=2, seed=1, runtime="sim") as c:
        yield c
