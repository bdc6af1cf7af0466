"""labkit.network.netns: the cluster's own network namespace, as the process runtime uses it without root.

Everything here works for any account (CI runs it as root and as its unprivileged accounts): the
namespace is an unprivileged user namespace's, which root may make too."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import need, wait_for

from labkit.network.netns import HOST, USERNS_FIX, UserNamespace

pytestmark = pytest.mark.unprivileged
BUSYBOX = "/bin/busybox"
ADDRESS = "127.96.201.7"  # a ClusterIP-like address no running cluster uses


def userns_allowed() -> bool:
    return subprocess.run(["unshare", "--user", "--net", "true"], capture_output=True).returncode == 0


@pytest.fixture
def netns() -> UserNamespace:
    need(shutil.which("unshare") is not None and userns_allowed(), "unprivileged user namespaces (and unshare)")
    need(os.path.exists(BUSYBOX), "busybox-static at /bin/busybox")
    ns = UserNamespace().start()
    yield ns
    ns.stop()


def test_port_80_is_bound_and_reached_inside_the_namespace_only(netns: UserNamespace) -> None:
    server = netns.listen(ADDRESS, 80)
    server.setblocking(True)
    with server:
        # a pod's process, entered as the runtime enters it, reaches the socket kube-proxy holds
        pod = subprocess.Popen(netns.enter([BUSYBOX, "sh", "-c", f"echo hello | {BUSYBOX} nc {ADDRESS} 80"]))
        server.settimeout(10)
        conn, _ = server.accept()
        with conn:
            assert conn.recv(16) == b"hello\n"
        pod.wait(10)
        # the notebook's side: a socket from the namespace connects; one of this machine's does not
        netns.connect(ADDRESS, 80, timeout=5).close()
        with pytest.raises(OSError):
            HOST.connect(ADDRESS, 80, timeout=2)


def test_a_pod_runs_as_the_learner_and_may_bind_low_ports(netns: UserNamespace) -> None:
    out = subprocess.run(netns.enter([BUSYBOX, "sh", "-c", "id -u; cat /proc/sys/net/ipv4/ip_unprivileged_port_start"]),
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.split() == [str(os.getuid()), "0"], out
    assert netns.can_bind(80)


def test_the_keeper_goes_with_the_cluster_process() -> None:
    need(shutil.which("unshare") is not None and userns_allowed(), "unprivileged user namespaces (and unshare)")
    code = ("import sys, time; sys.path[:0] = [sys.argv[1]]\n"
            "from labkit.network.netns import UserNamespace\n"
            "print(UserNamespace().start().pid, flush=True); time.sleep(60)")
    owner = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parents[2])], stdout=subprocess.PIPE,
                             text=True)
    keeper = int(owner.stdout.readline())  # type: ignore[union-attr]
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    wait_for(lambda: not Path(f"/proc/{keeper}").exists() or "Z" in Path(f"/proc/{keeper}/stat").read_text().split()[2],
             timeout=5, what="the keeper to exit after its cluster's process was killed")


def test_a_machine_without_user_namespaces_is_told_the_fix() -> None:
    """Inside a user namespace whose limit of nested ones is 0, as on a machine that forbids them."""
    need(shutil.which("unshare") is not None and userns_allowed(), "unprivileged user namespaces (and unshare)")
    code = ("import sys; sys.path[:0] = [sys.argv[1]]\n"
            "from labkit.network.netns import NamespaceUnavailable, UserNamespace\n"
            "try:\n    UserNamespace().start()\nexcept NamespaceUnavailable as e:\n    print(e)\n")
    script = f'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" -c "$1" "$2"'
    out = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script, sys.executable, code,
                          str(Path(__file__).parents[2])], capture_output=True, text=True, timeout=30)
    assert "unprivileged user namespaces are not allowed here" in out.stdout, out
    assert USERNS_FIX in out.stdout


def test_without_user_namespaces_a_process_cluster_says_why_services_on_80_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine that forbids user namespaces, for an account that is not root: the cluster still runs,
    and its path line, the Service's traffic view and its answers all say why port 80 is closed."""
    if os.geteuid() == 0:
        pytest.skip("root binds port 80 on this machine's loopback: no namespace is needed")
    from labkit import Cluster
    from labkit.network import netns

    def forbidden(self: UserNamespace) -> UserNamespace:
        raise netns.NamespaceUnavailable(f"unprivileged user namespaces are not allowed here: {USERNS_FIX}")

    monkeypatch.setattr(netns.UserNamespace, "start", forbidden)
    with Cluster(nodes=1, runtime="process", set_kubeconfig_env=False) as cluster:
        assert "Services on them do not answer" in cluster.path and USERNS_FIX in cluster.path
        admin = cluster.admin()
        cluster.run(admin.create("/api/v1/namespaces/default/services", {
            "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))
        traffic = cluster.widgets.traffic("web")
        wait_for(lambda: traffic.problem, timeout=10, what="kube-proxy to report the port it cannot bind")
        assert "cannot listen on" in traffic.problem and USERNS_FIX in traffic.problem
        assert f"kube-proxy: {traffic.problem}" in traffic.text()
        assert all(answer.startswith("error:") for answer in traffic.send(2))
