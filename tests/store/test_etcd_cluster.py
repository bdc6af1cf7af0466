"""A cluster on a real etcd: kube-apiserver's keys seen with etcdctl, TLS that refuses strangers, an etcd
the user runs (``etcd://``), and the member a crashed cluster leaves behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import etcd_store, need_etcd, start_member
from testkit import wait_for

from labkit import Cluster
from labkit.apiserver.pki import EtcdPKI
from labkit.store import open_store
from labkit.store.etcd import EtcdStore
from labkit.store.etcd_member import EtcdMember, cleanup_leftovers

pytestmark = [pytest.mark.etcd, pytest.mark.unprivileged]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def etcd_cluster() -> Iterator[Cluster]:
    need_etcd()
    with Cluster(nodes=1, runtime="sim", store="etcd", seed=3) as c:
        yield c


def test_etcdctl_lists_a_pod_created_through_the_api(etcd_cluster: Cluster) -> None:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(etcd_cluster.kubeconfig)))
    api.create_namespaced_pod("default", {"metadata": {"name": "etcd-web"},
                                          "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
    pki = etcd_cluster.etcd_pki
    assert pki is not None and etcd_cluster.etcd is not None
    cert, key = pki.pair("healthcheck-client")  # kubeadm's certificate for probes and admins
    assert etcd_cluster.etcdctl_command("get", "--prefix", "/registry/pods/", "--keys-only")[1:] == [
        f"--endpoints={etcd_cluster.etcd.client_url}", f"--cacert={pki.ca_cert}", f"--cert={cert}", f"--key={key}",
        "get", "--prefix", "/registry/pods/", "--keys-only"]
    keys = etcd_cluster.etcdctl("get", "--prefix", "/registry/pods/", "--keys-only").split()
    assert "/registry/pods/default/etcd-web" in keys
    stored = json.loads(etcd_cluster.etcdctl("get", "/registry/pods/default/etcd-web", "--print-value-only"))
    assert stored["metadata"]["name"] == "etcd-web" and stored["spec"]["containers"][0]["image"] == "nginx"
    # the same revision numbers on both sides: the object's resourceVersion is etcd's mod_revision (read
    # until the two reads see one version: the scheduler and the kubelet write the pod meanwhile)
    def same_version() -> bool:
        fields = json.loads(etcd_cluster.etcdctl("get", "/registry/pods/default/etcd-web", "-w", "json"))
        pod = api.read_namespaced_pod("etcd-web", "default")
        return int(pod.metadata.resource_version) == fields["kvs"][0]["mod_revision"]

    wait_for(same_version, timeout=20, what="the pod's resourceVersion equal to etcd's mod_revision")


def test_strangers_are_refused_and_keys_stay_private(etcd_cluster: Cluster) -> None:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(etcd_cluster.kubeconfig)))
    api.create_namespaced_secret("default", {"metadata": {"name": "etcd-secret"}, "stringData": {"k": "v"}})
    assert "/registry/secrets/default/etcd-secret" in etcd_cluster.etcdctl("get", "--prefix", "/registry/secrets/",
                                                                            "--keys-only").split()
    pki = etcd_cluster.etcd_pki
    assert pki is not None and etcd_cluster.etcd is not None
    host, port = etcd_cluster.etcd.client_url.removeprefix("https://").split(":")

    def handshake(context: ssl.SSLContext) -> str:
        """Connect, ask for a range, return what went wrong (TLS 1.3 reports a refused certificate on read)."""
        try:
            with socket.create_connection((host, int(port)), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname=host) as tls:
                body = b'{"key": "AA==", "range_end": "AA==", "count_only": true}'
                head = b"POST /v3/kv/range HTTP/1.1\r\nHost: etcd\r\nContent-Length: %d\r\n\r\n" % len(body)
                tls.sendall(head + body)
                answer = tls.recv(4096)
                return "" if answer.startswith(b"HTTP/1.1 200") else f"answered {answer[:40]!r}"
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            return str(e)

    # Go's TLS stack ends the handshake of a client without a certificate of etcd's CA (with an alert or
    # without, depending on its version): the request never reaches etcd
    no_cert = ssl.create_default_context(cafile=str(pki.ca_cert))
    refused = handshake(no_cert)
    assert refused and not refused.startswith("answered"), refused
    kube_ca_client = ssl.create_default_context(cafile=str(pki.ca_cert))
    admin = etcd_cluster.apiserver.pki.directory  # type: ignore[union-attr]
    kube_ca_client.load_cert_chain(admin / "admin.crt", admin / "admin.key")  # cluster-admin, but of the other CA
    refused = handshake(kube_ca_client)
    assert refused and not refused.startswith("answered"), refused
    with_cert = ssl.create_default_context(cafile=str(pki.ca_cert))
    with_cert.load_cert_chain(*pki.pair("healthcheck-client"))
    assert handshake(with_cert) == ""
    bare = [c for c in etcd_cluster.etcdctl_command() if not c.startswith(("--cert=", "--key="))]
    refused = subprocess.run([*bare, "--dial-timeout=2s", "--command-timeout=3s", "get", "--prefix", "/registry/"],
                             capture_output=True, text=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"})
    assert refused.returncode != 0 and "etcd-secret" not in refused.stdout
    for key in [*pki.etcd_dir.glob("*.key"), pki.pair("apiserver-etcd-client")[1]]:
        assert key.stat().st_mode & 0o777 == 0o600, key  # other accounts cannot read the keys
    assert pki.directory.parent.stat().st_mode & 0o077 == 0  # nor list the cluster's work directory


def test_an_etcd_of_your_own(etcd_pki: EtcdPKI, etcd_member: EtcdMember, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = etcd_pki.pair("apiserver-etcd-client")
    address = etcd_member.client_url.removeprefix("https://")
    by_query = open_store(f"etcd://{address}?cacert={etcd_pki.ca_cert}&cert={cert}&key={key}")
    by_query.put("/registry/configmaps/default/mine", b"{}")
    by_query.close()
    for name, path in (("CACERT", etcd_pki.ca_cert), ("CERT", cert), ("KEY", key)):
        monkeypatch.setenv(f"LABKIT_ETCD_{name}", str(path))
    with Cluster(nodes=0, runtime="sim", store=f"etcd://{address}", set_kubeconfig_env=False) as c:
        assert c.etcd is None and c.etcd_description.startswith("etcd: etcd 3.") and address in c.etcd_description
        assert "/registry/configmaps/default/mine" in c.etcdctl("get", "--prefix", "/registry/", "--keys-only").split()
        assert f"--cert={cert}" in c.etcdctl_command()  # the store's certificate: the cluster has no pki/etcd
    assert etcd_member.process is not None and etcd_member.process.poll() is None  # yours: left running
    with pytest.raises(ValueError, match="unknown parameter"):
        open_store(f"etcd://{address}?ca=x")


def test_a_crashed_clusters_etcd_is_stopped_by_the_next_start(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from labkit import Cluster\n"
        "c = Cluster(nodes=0, runtime='sim', store='etcd', set_kubeconfig_env=False).start(announce=False)\n"
        "print(c.etcd.pid, c.etcd.root, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # no stop(): the member outlives its cluster\n"
    )
    crashed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "TMPDIR": str(tmp_path)})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    pid_text, root_text = crashed.stdout.split()
    pid, root = int(pid_text), Path(root_text)
    try:
        assert root.is_dir() and _alive(pid), "the member outlived its cluster"
        with Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False):  # any next start, whatever its store
            pass
        wait_for(lambda: not _alive(pid), timeout=10, what=f"etcd {pid} stopped")
        assert not root.exists(), "its data and log removed"
        assert cleanup_leftovers() == 0
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root.parent, ignore_errors=True)  # the crashed cluster's work directory


def _alive(pid: int) -> bool:
    """Running, not a zombie (a container's init may be slow to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_closing_the_store_and_stopping_the_member(etcd_pki: EtcdPKI, tmp_path: Path) -> None:
    member = start_member(etcd_pki, tmp_path / "member")
    store = etcd_store(etcd_pki, member)
    assert isinstance(store, EtcdStore) and store.server_version().startswith("etcd 3.")
    pid = member.pid
    store.close()
    member.stop()
    assert pid is not None and not _alive(pid) and not (tmp_path / "member").exists()


def test_a_broken_connection_is_replaced(etcd_pki: EtcdPKI, etcd_member: EtcdMember, recorder) -> None:
    """A pooled connection that broke is retried once on a new one (not on another pooled one, as stale
    after a member's restart); the store's watch, cut, is watched
    again from the next revision, so no event is lost and writes still return once delivered."""
    store = etcd_store(etcd_pki, etcd_member)
    try:
        rec = recorder()
        store.watch("/k/", rec, prefix=True)
        store.put("/k/a", b"1")
        gateway = store._gateway  # type: ignore[attr-defined]
        gateway._idle.extend(gateway.connect() for _ in range(2))  # as after a burst of concurrent calls
        for connection in gateway._idle:  # all stale at once: the member restarted
            connection.sock.shutdown(socket.SHUT_RDWR)
        assert store.put("/k/b", b"1").revision == 3
        store._stream.close()  # type: ignore[attr-defined,union-attr]  # as if the member had dropped it
        assert store.put("/k/c", b"1").revision == 4  # returns once the new watch delivered it
        store.delete("/k/", prefix=True)
        assert rec.summary() == [("PUT", "/k/a", 2), ("PUT", "/k/b", 3), ("PUT", "/k/c", 4),
                                 ("DELETE", "/k/a", 5), ("DELETE", "/k/b", 5), ("DELETE", "/k/c", 5)]
    finally:
        store.close()
