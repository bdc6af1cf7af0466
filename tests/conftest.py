"""Shared fixtures: a running cluster, kubectl bound to it, a namespace per test (helpers: testkit.py)."""

from __future__ import annotations

import zlib

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from testkit import KUBECTL_VERSIONS, Kubectl, kubectl_path

from labkit import Cluster


@pytest.fixture(autouse=True, scope="session")
def learner_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Progress that exercises and quizzes record goes to a folder of the test run, not the home's."""
    folder = tmp_path_factory.mktemp("labkit-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_DATA_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The API-level tests share one cluster of simulated nodes (pods "run" without processes); the
    node tests start clusters on the docker and process runtimes themselves."""
    with Cluster(nodes=2, seed=7, runtime="sim") as c:
        yield c


@pytest.fixture(scope="session")
def raw(cluster: Cluster) -> requests.Session:
    """HTTPS to the shared cluster as its admin, without a client library: for exact bytes and headers
    (``raw.base_url`` is the server)."""
    assert cluster.apiserver is not None
    pki = cluster.apiserver.pki.directory
    s = requests.Session()
    s.trust_env = False  # CA bundle and proxy variables must not override the cluster's CA
    s.cert = (str(pki / "admin.crt"), str(pki / "admin.key"))
    s.verify = str(pki / "ca.crt")
    s.base_url = cluster.url  # type: ignore[attr-defined]
    return s


@pytest.fixture(params=KUBECTL_VERSIONS)
def kubectl(request: pytest.FixtureRequest, cluster: Cluster, tmp_path: Path) -> Kubectl:
    assert cluster.kubeconfig is not None
    return Kubectl(kubectl_path(request.param), cluster.kubeconfig, tmp_path / "cache")


@pytest.fixture
def kubectl_for(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory):
    """``kubectl_for("1.33")`` for tests pinned to one version (or "dispatcher")."""
    def make(version: str) -> Kubectl:
        assert cluster.kubeconfig is not None
        return Kubectl(kubectl_path(version), cluster.kubeconfig, tmp_path_factory.mktemp("cache"))
    return make


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, named after it."""
    from kubernetes import client, config

    slug = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:44].strip("-")
    name = f"t-{slug}-{zlib.crc32(request.node.nodeid.encode()):08x}"  # parametrized tests differ in the hash
    api = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    api.create_namespace({"metadata": {"name": name}})
    yield name
