"""labkit clean: what a killed kernel's cluster left (its pods' processes, its work directory, docker
containers and networks) goes; a running cluster's things, in another process, stay."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from testkit import need

from labkit import clean, images, owner
from labkit.cluster import docker_available
from labkit.kubelet.runtime import LABEL_CLUSTER
from labkit.kubelet.runtime.docker import LABEL_HOST, LABEL_PID, LABEL_PID_START, LABEL_UID

ROOT = Path(__file__).resolve().parent.parent

# A kernel with a process cluster and one pod running; it prints its owner tag and work directory,
# then is killed with SIGKILL ("crash") or waits for its stdin to close and stops cleanly ("live").
KERNEL = """
import json, os, signal, sys, time
from labkit import Cluster, owner
from labkit.client import resource_path
c = Cluster(nodes=1, runtime="process", set_kubeconfig_env=False).start(announce=False)
pods = resource_path("v1", "pods", namespace="default")
c.run(c.admin().create(pods, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "s"},
      "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}))
deadline = time.monotonic() + 30
while c.run(c.admin().get(pods + "/s"))["status"].get("phase") != "Running":
    assert time.monotonic() < deadline, "the pod did not start"
    time.sleep(0.1)
print(json.dumps({"owner": owner.OWNER, "workdir": str(c._workdir)}), flush=True)
if sys.argv[1] == "crash":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
c.stop()
"""


def tagged(tag: str) -> list[int]:
    """The live (not zombie) processes that carry ``tag`` as their owner."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"{owner.OWNER_ENV}={tag}".encode() in (entry / "environ").read_bytes() \
                    and owner.state(int(entry.name)) not in ("Z", ""):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def kernels() -> Iterator[dict[str, subprocess.Popen[str]]]:
    started = {kind: subprocess.Popen([sys.executable, "-c", KERNEL, kind], cwd=ROOT, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)})
               for kind in ("crash", "live")}
    yield started
    for kernel in started.values():
        if kernel.stdin:
            kernel.stdin.close()
        try:
            kernel.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kernel.kill()


def test_clean_removes_a_killed_kernels_cluster_and_leaves_a_running_one(
        kernels: dict[str, subprocess.Popen[str]]) -> None:
    crashed, live = (json.loads(kernels[k].stdout.readline()) for k in ("crash", "live"))  # type: ignore[union-attr]
    assert kernels["crash"].wait(timeout=10) == -signal.SIGKILL
    assert tagged(crashed["owner"]) and tagged(live["owner"]), "both clusters' pods run"
    listed: list[str] = []
    clean.clean(dry_run=True, with_docker=False, out=listed.append)
    mine = [line for line in listed if f"labkit process {crashed['owner'].split(':')[0]} is gone" in line]
    assert any(line.startswith("would remove process group ") and "sleep 3600" in line for line in mine), listed
    assert f"would remove work directory {crashed['workdir']} " in "\n".join(mine)
    assert tagged(crashed["owner"]) and Path(crashed["workdir"]).is_dir(), "a dry run removes nothing"

    removed: list[str] = []
    clean.clean(with_docker=False, out=removed.append)
    assert {line.replace("would remove", "removed", 1) for line in mine} <= set(removed), removed
    assert not tagged(crashed["owner"]) and not Path(crashed["workdir"]).exists()
    assert tagged(live["owner"]) and Path(live["workdir"], owner.WORKDIR_OWNER).read_text() == live["owner"]
    assert not any(live["owner"].split(":")[0] in line for line in removed)
    assert kernels["live"].poll() is None


def test_a_directory_without_a_tag_or_with_a_living_owner_stays(tmp_path: Path) -> None:
    (tmp_path / "labkit-untagged").mkdir()
    (tmp_path / "labkit-alive").mkdir()
    (tmp_path / "labkit-alive" / owner.WORKDIR_OWNER).write_text(owner.OWNER)
    (tmp_path / "labkit-dead").mkdir()
    (tmp_path / "labkit-dead" / owner.WORKDIR_OWNER).write_text("999999999:1")
    (tmp_path / "other-dead").mkdir()
    (tmp_path / "other-dead" / owner.WORKDIR_OWNER).write_text("999999999:1")
    [leftover] = owner.workdir_leftovers(tmp_path)
    assert leftover.name == str(tmp_path / "labkit-dead") and leftover.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labkit-alive", "labkit-untagged", "other-dead"]


@pytest.mark.docker
def test_clean_removes_a_dead_clusters_containers_and_networks() -> None:
    need(docker_available(), "a Docker daemon")
    api = docker.from_env().api
    images.ensure_built(api, images.BUSYBOX)
    name = f"labkit-test-{secrets.token_hex(3)}"
    dead = {LABEL_CLUSTER: name, LABEL_PID: "999999999", LABEL_PID_START: "1", LABEL_HOST: socket.gethostname(),
            LABEL_UID: str(os.getuid())}
    alive = {**dead, LABEL_CLUSTER: f"{name}-alive", LABEL_PID: str(os.getpid()),
             LABEL_PID_START: owner.start_time(os.getpid())}
    made = [api.create_container(images.BUSYBOX.tag, ["true"], name=f"{name}-{i}", labels=labels)["Id"]
            for i, labels in enumerate((dead, alive))]
    network = api.create_network(name, driver="bridge", labels=dead)["Id"]
    try:
        lines: list[str] = []
        clean.clean(out=lines.append)
        assert f"removed docker container {name}-0 (its labkit process 999999999 is gone)" in lines
        assert f"removed docker network {name} (its labkit process 999999999 is gone)" in lines
        assert [c["Id"] for c in api.containers(all=True, filters={"id": made})] == [made[1]]
        assert not api.networks(ids=[network])
    finally:
        for container in made:
            try:
                api.remove_container(container, force=True)
            except docker.errors.NotFound:
                pass
        try:
            api.remove_network(network)
        except docker.errors.NotFound:
            pass
