"""What a node leaves behind: nothing after ``cluster.stop()``, running containers adopted (not
doubled) by a restarted kubelet, and a killed cluster's containers (and network agent) and processes
removed by the next start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labkit import Cluster
from labkit.cluster import docker_available
from labkit.component import Component
from labkit.controllers.config import ControllerManagerConfig
from labkit.kubelet import KubeletConfig
from labkit.kubelet.runtime import LABEL_CLUSTER

from testkit import need, wait_for
from .conftest import FAST, Env

pytestmark = pytest.mark.unprivileged  # a crash leaves nothing behind, whoever ran the cluster


def process_groups_alive(groups: set[int]) -> list[int]:
    """PIDs of live (not zombie) processes in any of ``groups``."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) in groups:
                alive.append(int(entry.name))
    return alive


@pytest.mark.parametrize("runtime", [pytest.param("docker", marks=pytest.mark.docker), "process"])
def test_restarted_kubelet_adopts_and_stop_leaves_nothing(runtime: str) -> None:
    if runtime == "docker":
        need(docker_available(), "a Docker daemon")
    cluster = Cluster(nodes=1, runtime=runtime, seed=9, set_kubeconfig_env=False, kubelet=FAST).start()
    try:
        env = Env(cluster)
        env.pod("default", "keeper", "busybox", c_command=["sleep", "3600"])
        first = env.running("default", "keeper")
        kubelet = cluster.kubelets["node-1"]
        before = cluster.run(kubelet.runtime.list_containers())
        sandboxes = cluster.run(kubelet.runtime.list_pod_sandboxes())
        created = [e for e in env.events("default", "keeper") if e[1] == "Created"]

        cluster.stop_kubelet("node-1")  # systemctl stop kubelet: its containers keep running
        with pytest.raises(ValueError, match="already stopped"):
            cluster.stop_kubelet("node-1")
        assert "node-1" not in cluster.kubelets
        new = cluster.start_kubelet("node-1")
        assert cluster.kubelets["node-1"] is new and new is not kubelet and new.runtime is kubelet.runtime
        env.pod("default", "newcomer", "busybox", c_command=["sleep", "3600"])
        second = env.running("default", "newcomer")
        time.sleep(1)  # several PLEG relists of the new kubelet
        after = [c for c in cluster.run(new.runtime.list_containers()) if c.sandbox_id in {s.id for s in sandboxes}]
        assert [(c.id, c.state) for c in after] == [(c.id, "running") for c in before]
        assert len(cluster.run(new.runtime.list_pod_sandboxes())) == 2
        pod = env.core.read_namespaced_pod("keeper", "default")
        assert pod.status.container_statuses[0].restart_count == 0
        assert pod.status.container_statuses[0].container_id.endswith(before[0].id)
        assert [e for e in env.events("default", "keeper") if e[1] == "Created"] == created
        assert second.status.pod_ip != first.status.pod_ip  # the adopted pod's IP stays reserved
        assert env.core.read_namespaced_pod_log("keeper", "default") == ""  # the API reaches the new kubelet

        if runtime == "process":
            groups = set(new.runtime._groups)  # type: ignore[attr-defined]
            assert len(process_groups_alive(groups)) >= 2
            cgroups = [d for c in new.runtime._containers.values() if c.cgroup  # type: ignore[attr-defined]
                       for d in c.cgroup.dirs]
            assert all(d.is_dir() for d in cgroups) and (cgroups or os.geteuid() != 0)
        cluster_id = getattr(new.runtime, "cluster_id", "")  # the docker runtime's label value
    finally:
        cluster.stop()
    if runtime == "process":
        assert process_groups_alive(groups) == []
        assert [d for d in cgroups if d.exists()] == []
    else:
        import docker

        api = docker.from_env().api
        label = {"label": f"{LABEL_CLUSTER}={cluster_id}"}
        assert api.containers(all=True, filters=label) == [] and api.networks(filters=label) == []


def test_a_stopped_kubelet_leaves_its_node_unknown_until_it_is_started_again() -> None:
    """``stop_kubelet``: the node's Lease stops, the node lifecycle controller sets Ready=Unknown, taints
    it unreachable and marks its pods not Ready; ``kubectl logs`` cannot reach it. ``start_kubelet``:
    Ready again, the taints go, and the same pod is Ready again without a restart."""
    with Cluster(nodes=1, runtime="sim", seed=3, set_kubeconfig_env=False,
                 kubelet=KubeletConfig(renew_interval=0.2, lease_duration=4, status_update_interval=0.5),
                 controllers=ControllerManagerConfig(node_monitor_grace_period=1.5, node_monitor_period=0.2)) as c:
        env = Env(c)
        env.pod("default", "keeper", "busybox")
        env.running("default", "keeper")

        def ready(obj: object) -> str:
            return next(x.status for x in obj.status.conditions if x.type == "Ready")  # type: ignore[attr-defined]

        c.stop_kubelet("node-1")
        wait_for(lambda: ready(env.core.read_node("node-1")) == "Unknown")
        wait_for(lambda: ready(env.core.read_namespaced_pod("keeper", "default")) == "False")
        taints = wait_for(lambda: env.core.read_node("node-1").spec.taints)
        assert {(t.key, t.effect) for t in taints} >= {("node.kubernetes.io/unreachable", "NoExecute")}
        with pytest.raises(Exception, match="no kubelet is serving"):
            env.core.read_namespaced_pod_log("keeper", "default")
        with pytest.raises(ValueError, match="already stopped"):
            c.stop_kubelet("node-1")

        c.start_kubelet("node-1")
        with pytest.raises(ValueError, match="is running"):
            c.start_kubelet("node-1")
        wait_for(lambda: ready(env.core.read_node("node-1")) == "True" and not env.core.read_node("node-1").spec.taints)
        wait_for(lambda: ready(env.core.read_namespaced_pod("keeper", "default")) == "True")
        assert env.core.read_namespaced_pod("keeper", "default").status.container_statuses[0].restart_count == 0


class Stuck(Component):
    """A component whose stop never returns (a learner's controller awaiting something that never comes)."""

    name = "stuck"

    async def stop(self) -> None:
        await asyncio.Event().wait()


def test_a_component_that_hangs_on_stop_does_not_keep_the_cluster_from_cleaning_up(caplog) -> None:
    cluster = Cluster(nodes=1, runtime="process", seed=9, set_kubeconfig_env=False, kubelet=FAST).start()
    env = Env(cluster)
    env.pod("default", "keeper", "busybox", c_command=["sleep", "3600"])
    env.running("default", "keeper")
    groups = set(cluster.kubelets["node-1"].runtime._groups)  # type: ignore[attr-defined]
    cluster.add(Stuck(cluster.admin()))
    started = time.monotonic()
    cluster.stop()
    assert time.monotonic() - started < 25  # within stop()'s 30 s, with the stuck one left behind
    assert "stuck did not stop within" in caplog.text
    assert process_groups_alive(groups) == []


CRASHING = textwrap.dedent("""
    import time
    from labkit import Cluster
    c = Cluster(nodes=1, runtime="docker", set_kubeconfig_env=False).start(announce=False)
    c.run(c.admin().create("/api/v1/namespaces/default/pods", {"metadata": {"name": "orphan"}, "spec": {
        "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}}))
    while c.run(c.admin().get("/api/v1/namespaces/default/pods/orphan"))["status"]["phase"] != "Running":
        time.sleep(0.1)
    print(c.kubelets["node-1"].runtime.cluster_id, flush=True)
    time.sleep(600)
""")


@pytest.mark.docker
def test_next_start_removes_what_a_killed_cluster_left() -> None:
    need(docker_available(), "a Docker daemon")
    import docker

    api = docker.from_env().api
    child = subprocess.Popen([sys.executable, "-c", CRASHING], stdout=subprocess.PIPE, text=True)
    try:
        cluster_id = child.stdout.readline().strip()
        assert cluster_id, "the child cluster did not start"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    label = {"label": f"{LABEL_CLUSTER}={cluster_id}"}
    roles = sorted(c["Labels"].get("labkit.role", "pod") for c in api.containers(all=True, filters=label))
    # the pod's sandbox and container, and without root the cluster's network agent
    assert roles == (["pod", "pod"] if os.geteuid() == 0 else ["network-agent", "pod", "pod"])
    assert len(api.networks(filters=label)) == 1
    with Cluster(nodes=0, runtime="docker", set_kubeconfig_env=False):
        assert api.containers(all=True, filters=label) == [] and api.networks(filters=label) == []


CRASHING_PROCESS = CRASHING.replace('runtime="docker"', 'runtime="process"').replace(
    'print(c.kubelets["node-1"].runtime.cluster_id, flush=True)',
    'print(c.run(c.admin().get("/api/v1/namespaces/default/pods/orphan"))["status"]["podIP"], flush=True)')


def _sleepers_on(pod_ip: str) -> list[int]:
    """PIDs of this user's processes whose environment says they run in the pod with this IP."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"POD_IP={pod_ip}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_next_process_cluster_kills_what_a_killed_one_left_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", CRASHING_PROCESS], stdout=subprocess.PIPE, text=True)
    try:
        pod_ip = child.stdout.readline().strip()  # type: ignore[union-attr]
        assert pod_ip, "the child cluster did not start"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert _sleepers_on(pod_ip), "the killed cluster's pod keeps running (its own session)"
    if os.geteuid() == 0:  # its container's cgroups, one per v1 controller (or one on v2), named after it
        assert _cgroups_of(child.pid)
    with Cluster(nodes=0, runtime="process", set_kubeconfig_env=False):
        deadline = time.monotonic() + 5
        while _sleepers_on(pod_ip) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sleepers_on(pod_ip) == []
        assert _cgroups_of(child.pid) == []


def _cgroups_of(owner_pid: int) -> list[Path]:
    """The process runtime's cgroup directories of the labkit process ``owner_pid``."""
    root = Path("/sys/fs/cgroup")
    return [*root.glob(f"labkit/{owner_pid}-*"), *root.glob(f"*/labkit/{owner_pid}-*")]
