"""Where a cluster's sockets and processes live: this machine's network namespace, or one of its own.

A real node's pods, Service addresses and node ports share the node's network; labkit's process
runtime puts them on loopback addresses (:mod:`labkit.network.cidr`). As root that is this machine's
loopback (:data:`HOST`). Without root, a Service's port 80 cannot be bound there
(``net.ipv4.ip_unprivileged_port_start`` is 1024), so the cluster gets a network namespace of its own
inside an unprivileged user namespace (:class:`UserNamespace`), as rootless container tools
(rootlesskit, podman) do:

- a *keeper* process (this file, run as a script) unshares a user and a network namespace, maps the
  learner's uid and gid to themselves, brings ``lo`` up (so all of ``127.0.0.0/8`` is local there, as
  here) and sets ``ip_unprivileged_port_start`` to 0 *in that namespace only*;
- pods run in it through ``nsenter`` (as the learner: the identity map grants no privilege);
- the cluster's own code (kube-proxy, the kubelet's probes and port-forward, the notebook's requests)
  asks the keeper for sockets, made in the namespace and handed back over a Unix socket
  (``SCM_RIGHTS``): a socket stays in the namespace it was made in, whoever uses it.

So a ClusterIP's port 80 is bound by kube-proxy, a pod's nginx stand-in listens on 80, and a request
from the notebook or from a pod reaches it, as on a node. The namespace is the cluster's network: a
program outside it (a terminal's ``curl``) reaches pods only through a NodePort or ``kubectl
port-forward``, as outside a real cluster. Where a machine forbids unprivileged user namespaces,
:func:`UserNamespace.start` raises :class:`NamespaceUnavailable` with the fix. Left out: a mount or
PID namespace (pods still see the host's files and processes), outbound traffic from pods (no
slirp4netns: the process runtime's pods talk only to each other and the API server).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
PR_SET_PDEATHSIG = 1
PORT_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
USERNS_FIX = ("allow unprivileged user namespaces (Debian: sysctl kernel.unprivileged_userns_clone=1; Ubuntu 24.04+: "
              "sysctl kernel.apparmor_restrict_unprivileged_userns=0), or run as root")


class NamespaceUnavailable(RuntimeError):
    """The cluster's network namespace cannot be made here; the message says why and what fixes it."""


def unprivileged_port_start() -> int:
    """The lowest port this process's network namespace lets a process without privilege bind."""
    try:
        return int(PORT_START.read_text())
    except (OSError, ValueError):
        return 1024


class HostNamespace:
    """This machine's network: sockets as usual, processes as they are."""

    name = "host"

    def make_socket(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        return socket.socket(family, kind)

    def enter(self, argv: Sequence[str]) -> list[str]:
        """The command line that runs ``argv`` in this namespace."""
        return list(argv)

    def can_bind(self, port: int) -> bool:
        return os.geteuid() == 0 or port >= unprivileged_port_start()

    def listen(self, host: str, port: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket bound to ``host:port`` (listening, for a stream), non-blocking."""
        sock = self.make_socket(socket.AF_INET, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            if kind == socket.SOCK_STREAM:
                sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    async def open_connection(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = self.make_socket()
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A blocking connection (for code on the notebook's thread)."""
        sock = self.make_socket()
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock


HOST = HostNamespace()


class UserNamespace(HostNamespace):
    """A network namespace of the cluster's own, in a user namespace the learner owns (see the module)."""

    name = "cluster"

    def __init__(self) -> None:
        self._keeper: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None
        self._lock = threading.Lock()
        self.nsenter = shutil.which("nsenter") or ""

    @property
    def pid(self) -> int:
        assert self._keeper is not None, "the namespace is not started"
        return self._keeper.pid

    def start(self) -> UserNamespace:
        """Start the keeper; :class:`NamespaceUnavailable` if this machine does not allow it."""
        if not self.nsenter:
            raise NamespaceUnavailable("nsenter (util-linux) is not installed: install util-linux, or run as root")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._keeper = subprocess.Popen([sys.executable, "-I", __file__, str(theirs.fileno())],
                                            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        ours.settimeout(10)
        try:
            answer = ours.recv(4096).decode()
        except OSError as e:
            answer = f"error: no answer from the namespace keeper ({e})"
        if answer != "ready":
            ours.close()
            self.stop()
            raise NamespaceUnavailable(f"{answer.removeprefix('error: ') or 'the namespace keeper exited'}: "
                                       f"{USERNS_FIX}")
        ours.settimeout(None)
        self._channel = ours
        return self

    def stop(self) -> None:
        """End the keeper (the namespace goes when its last process does)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._keeper is not None:
            self._keeper.kill()
            self._keeper.wait()
            self._keeper = None

    def make_socket(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        with self._lock:
            if self._channel is None:
                raise OSError(errno.ENETDOWN, "the cluster's network namespace is stopped")
            self._channel.send(struct.pack("=ii", family, kind))
            message, fds, _, _ = socket.recv_fds(self._channel, 256, 1)
        if not fds:
            raise OSError(errno.ENETDOWN, message.decode() or "the cluster's network namespace is gone")
        return socket.socket(fileno=fds[0])

    def enter(self, argv: Sequence[str]) -> list[str]:
        return [self.nsenter, f"--target={self.pid}", "--user", "--net", "--preserve-credentials", "--", *argv]

    def can_bind(self, port: int) -> bool:
        return True  # ip_unprivileged_port_start is 0 in the namespace


# --- the keeper: runs as a script, in a process of its own, standard library only ---------------

def _keeper(channel: socket.socket) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    try:
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "unshare of a user and a network namespace")
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        with socket.socket() as s:  # lo up: 127.0.0.0/8 becomes local, as on the host
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))
        PORT_START.write_text("0")
    except OSError as e:
        channel.send(f"error: unprivileged user namespaces are not allowed here ({e.strerror or e})".encode())
        return
    libc.prctl(PR_SET_PDEATHSIG, 9)  # the cluster's process is gone: so is the keeper
    if os.getppid() == 1:
        return
    channel.send(b"ready")
    while request := channel.recv(64):
        family, kind = struct.unpack("=ii", request)
        try:
            with socket.socket(family, kind) as made:
                socket.send_fds(channel, [b"ok"], [made.fileno()])
        except OSError as e:
            channel.send(str(e).encode())


if __name__ == "__main__":
    _keeper(socket.socket(fileno=int(sys.argv[1])))
