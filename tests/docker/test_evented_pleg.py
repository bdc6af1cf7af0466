"""The kubelet's Evented PLEG on the docker runtime: Docker's events tell it of containers that start and
exit, and it relists the daemon every ``pleg_period`` only while their stream is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest
import requests

from labkit import Cluster
from labkit.client import resource_path
from labkit.cluster import docker_available
from labkit.kubelet import KubeletConfig
from labkit.kubelet.runtime import Runtime
from labkit.kubelet.runtime.docker import docker_client
from testkit import need, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def start() -> Iterator[Any]:
    """``start(pleg_period=...)``: a one-node docker cluster, stopped at the end; then none of its
    event streams' threads is left."""
    need(docker_available(), "a Docker daemon")
    started: list[tuple[Cluster, Runtime]] = []

    def make(**kubelet: Any) -> Cluster:
        config = KubeletConfig(backoff_base=1.0, backoff_max=4.0, **kubelet)
        c = Cluster(nodes=1, runtime="docker", set_kubeconfig_env=False, kubelet=config).start(announce=False)
        started.append((c, c.kubelets["node-1"].runtime))
        return c

    yield make
    for c, runtime in started:
        c.stop()
        assert event_threads(runtime) == []


def event_threads(runtime: Any) -> list[str]:
    """The threads reading ``runtime``'s event streams."""
    prefix = f"docker-events-{runtime.cluster_id}-"
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def run_keeper(c: Cluster) -> str:
    """A pod that sleeps, restarted when its container dies; its container's id once it runs."""
    c.run(c.admin().create(resource_path("v1", "pods", namespace="default"), {
        "metadata": {"name": "keeper"},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}}))
    return container_id(c, restarts=0)


def container_id(c: Cluster, *, restarts: int) -> str:
    """The keeper's container once it runs after ``restarts`` restarts."""
    def running() -> str | None:
        pod = c.run(c.admin().get(resource_path("v1", "pods", namespace="default", name="keeper")))
        status = (pod["status"].get("containerStatuses") or [{}])[0]
        if status.get("restartCount") == restarts and "running" in status.get("state", {}):
            return str(status["containerID"]).removeprefix("docker://")
        return None
    return wait_for(running, timeout=60, what=f"keeper running after {restarts} restarts")


def test_a_container_killed_outside_the_kubelet_is_restarted_on_its_event(start: Any) -> None:
    """``docker kill`` on a node whose relist is an hour away: the die event wakes the pod's worker."""
    c = start(pleg_period=3600)
    killed = run_keeper(c)
    docker_client().kill(killed)
    assert container_id(c, restarts=1) != killed
    assert len(event_threads(c.kubelets["node-1"].runtime)) == 1  # one stream for the node


class RestartingDaemon:
    """The runtime's docker client, except that its event streams drop and cannot be had again while the
    daemon is "restarting" (a real one would take every cluster of the machine down with it)."""

    def __init__(self, api: docker.APIClient) -> None:
        self.api, self.restarting, self.streams = api, False, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)

    def events(self, **kwargs: Any) -> Any:
        if self.restarting:
            raise requests.exceptions.ConnectionError("connection refused: the daemon is restarting")
        self.streams.append(self.api.events(**kwargs))
        return self.streams[-1]

    def restart(self) -> None:
        self.restarting = True
        for stream in self.streams:
            stream.close()


def test_the_kubelet_relists_while_the_event_stream_is_down_and_follows_it_again(
        start: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    c = start(pleg_period=0.3)
    runtime = c.kubelets["node-1"].runtime
    c.stop_kubelet("node-1")  # its next start reads events through the daemon below
    assert event_threads(runtime) == []
    daemon = RestartingDaemon(runtime.api)  # type: ignore[attr-defined]
    monkeypatch.setattr(runtime, "api", daemon)
    relists: list[float] = []
    list_containers = runtime.list_containers

    async def counted(sandbox_id: str | None = None) -> Any:
        if sandbox_id is None:
            relists.append(time.monotonic())
        return await list_containers(sandbox_id)

    monkeypatch.setattr(runtime, "list_containers", counted)

    def quiet() -> bool:
        """No relist for two seconds (every 0.3 s without events)."""
        return bool(relists) and time.monotonic() - relists[-1] > 2

    c.start_kubelet("node-1")
    killed = run_keeper(c)
    wait_for(quiet, what="the relists to stop while events come")

    daemon.restart()
    before = len(relists)
    wait_for(lambda: len(relists) >= before + 3, what="relists every pleg_period while the stream is down")
    docker_client().kill(killed)
    killed = container_id(c, restarts=1)  # from a relist: no stream

    daemon.restarting = False
    wait_for(lambda: len(daemon.streams) == 2, what="the stream to be opened again")
    wait_for(quiet, what="the relists to stop once events come again")
    docker_client().kill(killed)
    container_id(c, restarts=2)
