"""kubectl logs / exec / port-forward against the API server, one real kubectl per protocol generation:
1.27 (SPDY everywhere), 1.31 (WebSocket exec, SPDY-in-WebSocket port-forward), 1.33."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
import urllib.request

import pytest

from labkit import Cluster
from streaming.fake_kubelet import FakeKubelet

VERSIONS = ("1.27", "1.31", "1.33")


#: how each kubectl upgrades exec and port-forward: POST = SPDY, GET = WebSocket (v5 / the SPDY tunnel)
UPGRADE_VERB = {"1.27": "create", "1.31": "get", "1.33": "get"}


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def kubectl(version: str, kubectl_for):
    return kubectl_for(version)


def upgrades(cluster: Cluster, namespace: str, resource: str) -> set[tuple[str, int]]:
    """(verb, code) of the trace's requests for ``pods/<sub>`` in the namespace."""
    return {(r.verb, r.code) for r in cluster.trace if getattr(r, "resource", None) == resource
            and r.namespace == namespace}


def test_logs(cluster: Cluster, fake: FakeKubelet, namespace: str, make_pod, kubectl) -> None:
    make_pod("web")
    fake.add_log((namespace, "web", "app"), "line 1", "line 2", "line 3")
    assert kubectl("logs", "web", "-n", namespace) == "line 1\nline 2\nline 3\n"
    assert kubectl("logs", "web", "-n", namespace, "--tail=1") == "line 3\n"


def test_logs_follow_streams_a_later_line(cluster: Cluster, fake: FakeKubelet, namespace: str, make_pod, kubectl) -> None:
    make_pod("web")
    key = (namespace, "web", "app")
    fake.add_log(key, "early")
    queue = cluster.run(_queue(fake, key))
    proc = subprocess.Popen([str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", f"--cache-dir={kubectl.cache_dir}",
                             "logs", "-f", "web", "-n", namespace], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "early\n"
        cluster.run(queue.put(b"later\n"))
        assert proc.stdout.readline() == "later\n"  # flushed while the stream stays open
        assert proc.poll() is None
        cluster.run(queue.put(None))  # the container ends: the stream closes
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


async def _queue(fake: FakeKubelet, key: tuple[str, str, str]):
    return fake.follow_queue(key)


def test_exec_output_and_exit_code(cluster: Cluster, fake: FakeKubelet, namespace: str, make_pod, kubectl,
                                   version: str) -> None:
    make_pod("web")
    out = kubectl.run("exec", "web", "-n", namespace, "--", "sh", "-c", "echo out; echo err >&2")
    assert out.stdout == "out\n" and "err\n" in out.stderr
    failed = kubectl.run("exec", "web", "-n", namespace, "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3, failed.stderr
    assert "command terminated with exit code 3" in failed.stderr
    assert upgrades(cluster, namespace, "pods/exec") == {(UPGRADE_VERB[version], 101)}


def test_exec_stdin(cluster: Cluster, fake: FakeKubelet, namespace: str, make_pod, kubectl) -> None:
    make_pod("web")
    assert kubectl("exec", "-i", "web", "-n", namespace, "--", "tr", "a-z", "A-Z", input="hello\nworld\n") == "HELLO\nWORLD\n"


def test_exec_tty(cluster: Cluster, fake: FakeKubelet, namespace: str, make_pod, kubectl) -> None:
    """``exec -it`` with kubectl on a real terminal: keystrokes in, the remote shell's echo and exit code out."""
    make_pod("web")
    pid, fd = pty.fork()
    if pid == 0:  # the child: kubectl with the pty as its terminal
        os.execv(str(kubectl.binary), [str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}",
                                       f"--cache-dir={kubectl.cache_dir}", "exec", "-it", "web", "-n", namespace,
                                       "--", "sh", "-c", "stty size; read x; echo got-$x; exit 5"])
    output = b""
    deadline = time.monotonic() + 20
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not sent and re.search(rb"\d+ \d+", output):  # the remote terminal got kubectl's size
            os.write(fd, b"tty\r")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert b"got-tty" in output, output
    assert os.waitstatus_to_exitcode(status) == 5


def test_port_forward(cluster: Cluster, fake: FakeKubelet, namespace: str, make_pod, kubectl, version: str) -> None:
    make_pod("web")
    proc = subprocess.Popen([str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", f"--cache-dir={kubectl.cache_dir}",
                             "port-forward", "-n", namespace, "pod/web", ":80", "--address=127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 80", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        for path in ("/one", "/two"):  # two connections over the one session
            with urllib.request.urlopen(f"http://127.0.0.1:{match[1]}{path}", timeout=10) as resp:
                assert resp.read() == f"hello from the pod, path {path}\n".encode()
    finally:
        proc.kill()  # by its pid
        proc.wait()
    deadline = time.monotonic() + 10  # the request is traced when the session ends
    while not upgrades(cluster, namespace, "pods/portforward") and time.monotonic() < deadline:
        time.sleep(0.05)
    # killing kubectl drops the connection mid-session, which the trace records as 499
    assert upgrades(cluster, namespace, "pods/portforward") == {(UPGRADE_VERB[version], 499)}


def test_errors_as_kube_words_them(cluster: Cluster, fake: FakeKubelet, namespace: str, make_pod, kubectl_for) -> None:
    kubectl = kubectl_for("1.33")
    make_pod("two", containers=("a", "b"))
    make_pod("pending", phase="Pending")
    unknown = kubectl.run("exec", "two", "-n", namespace, "-c", "nope", "--", "true", check=False)
    assert unknown.returncode == 1 and "container nope is not valid for pod two" in unknown.stderr
    pending = kubectl.run("exec", "pending", "-n", namespace, "--", "true", check=False)
    assert pending.returncode == 1 and 'container not found ("app")' in pending.stderr
    previous = kubectl.run("logs", "pending", "-n", namespace, "--previous", check=False)
    assert 'previous terminated container "app" in pod "pending" not found' in previous.stderr
