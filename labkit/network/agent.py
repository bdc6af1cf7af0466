"""The node's privileged network agent, for a learner in the docker group who is not root.

On a real node the parts of the data path that need root run as root: the CNI plugin (run by the
container runtime), and kube-proxy and CoreDNS as privileged, host-network pods. labkit runs
kube-proxy and the cluster DNS in the learner's Python process, so without root three things fail:
adding a ClusterIP to the cluster's bridge (CAP_NET_ADMIN), binding a ClusterIP's port 80 or the DNS's
port 53 (CAP_NET_BIND_SERVICE) and wiring a pod's network namespace (:mod:`labkit.network.cni`).

Membership of the docker group is the power to start a container with any capability, which is how
kind runs whole nodes without root. So labkit starts one container per cluster, as kube-proxy's
DaemonSet pod is: host network, host PID namespace, CAP_NET_ADMIN and CAP_SYS_ADMIN (and CAP_SYS_PTRACE,
to open the namespace of a sandbox whose runc init is not yet dumpable), the host's
filesystem read-only at ``/host``; it ``chroot``s there and runs this file with the learner's own
Python. It answers the cluster's process only (the peer's uid, checked on every connection) on an
abstract Unix socket, and does exactly these things, each limited to its cluster:

- ``address``: add or remove a ClusterIP (inside the Service CIDR) on the cluster's bridge;
- ``listen``: bind a socket to a ClusterIP or the bridge's gateway and hand it back (``SCM_RIGHTS``),
  so kube-proxy and the DNS serve low ports from the learner's process;
- ``wire``: CNI ADD of a sandbox's namespace to the bridge (:func:`labkit.network.cni.add`);
- ``kill``: signal an exec'd process of one of the cluster's containers (docker has no exec-kill).

It exits when the cluster's process is gone, and the container is labelled like every container
of the cluster, so a later start removes what a crash left. The container launch is the docker
runtime's (:meth:`labkit.kubelet.runtime.docker.DockerNetwork.start_agent`); this module is the
protocol, :class:`AgentClient` on the cluster's side and :func:`serve` in the container. Left out:
anything a real node's agents do that labkit does not need (iptables, conntrack, MTU).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: how long the cluster waits for a new agent to answer
START_SECONDS = 20.0
_PEERCRED = struct.Struct("3i")


class AgentError(OSError):
    """The agent refused or failed a request; the message is its answer."""


def _peer(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    return _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))


class AgentClient:
    """The cluster's connections to its agent: one per request in flight, from any thread (pods that
    start at once are wired at once)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect("\0" + self.address)
            if _peer(sock)[1] != 0:  # anyone may bind an abstract name; only root's answer is the agent's
                raise AgentError(0, f"@{self.address} is not labkit's network agent (its process is not root)")
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self, *, timeout: float = START_SECONDS, alive: Callable[[], str | None] = lambda: None) -> None:
        """Wait until the agent answers; ``alive()`` says why to give up (its container exited)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = self._connect()
                break
            except AgentError:
                raise
            except OSError as e:
                if (why := alive()) or time.monotonic() > deadline:
                    raise AgentError(e.errno, f"the network agent did not answer: {why or e}") from None
                time.sleep(0.02)
        with self._lock:
            self._idle.append(sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    def _call(self, op: str, **args: Any) -> tuple[dict[str, Any], list[int]]:
        with self._lock:
            if self._closed:
                raise AgentError(0, "the network agent is stopped")
            sock = self._idle.pop() if self._idle else None
        sock = sock or self._connect()
        try:
            sock.send(json.dumps({"op": op, **args}).encode())
            data, fds, _, _ = socket.recv_fds(sock, 65536, 1)
        except BaseException:
            sock.close()
            raise
        with self._lock:
            if self._closed or not data:
                sock.close()
            else:
                self._idle.append(sock)
        if not data:
            raise AgentError(0, "the network agent has gone")
        answer = json.loads(data)
        if "error" in answer:
            for fd in fds:
                os.close(fd)
            raise AgentError(answer.get("errno", 0), answer["error"])
        return answer, fds

    def add_address(self, ip: str) -> None:
        self._call("address", action="add", ip=ip)

    def remove_address(self, ip: str) -> None:
        self._call("address", action="remove", ip=ip)

    def listen(self, host: str, port: int, kind: int) -> socket.socket:
        _, fds = self._call("listen", host=host, port=port, kind=kind)
        sock = socket.socket(fileno=fds[0])
        sock.setblocking(False)
        return sock

    def wire(self, pid: int, *, owner: str, ip: str) -> None:
        self._call("wire", pid=pid, owner=owner, ip=ip)

    def kill(self, pid: int, *, owner: str) -> None:
        self._call("kill", pid=pid, owner=owner)


# --- the agent: runs in its container, as root --------------------------------------------------

class _Agent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.bridge = args.bridge
        self.subnet = ipaddress.ip_network(args.subnet)
        self.services = ipaddress.ip_network(args.service_cidr)
        self.gateway = str(self.subnet.broadcast_address - 1)
        self.owner_uid, self.owner_pid, self.owner_start = args.owner_uid, args.owner_pid, args.owner_start

    def _service_ip(self, ip: str) -> str:
        if ipaddress.ip_address(ip) not in self.services:
            raise PermissionError(f"{ip} is not in this cluster's Service CIDR {self.services}")
        return ip

    def address(self, action: str, ip: str) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as host:
            index = socket.if_nametoindex(self.bridge)
            try:
                host.addr("add" if action == "add" else "del", index=index, address=self._service_ip(ip), prefixlen=32)
            except NetlinkError as e:  # EEXIST on add, EADDRNOTAVAIL on remove: already as asked
                if e.code not in (17, 99):
                    raise OSError(e.code, f"{action} {ip} on {self.bridge}: {e}") from e

    def listen(self, host: str, port: int, kind: int) -> socket.socket:
        if host != self.gateway:
            self._service_ip(host)
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
        return sock

    def wire(self, pid: int, owner: str, ip: str) -> None:
        import cni  # beside this file (run as a script, without the labkit package)

        if ipaddress.ip_address(ip) not in self.subnet:
            raise PermissionError(f"{ip} is not on this cluster's bridge {self.subnet}")
        cni.add(pid, owner=owner, ip=ip, prefixlen=self.subnet.prefixlen, gateway=self.gateway, bridge=self.bridge)

    def kill(self, pid: int, owner: str) -> None:
        if len(owner) < 12 or owner not in Path(f"/proc/{pid}/cgroup").read_text():
            raise PermissionError(f"process {pid} is not in container {owner[:12]}")
        os.kill(pid, signal.SIGKILL)

    def answer(self, request: dict[str, Any]) -> tuple[dict[str, Any], socket.socket | None]:
        op = request.pop("op", "")
        if op == "listen":
            return {}, self.listen(**request)
        if op in ("address", "wire", "kill"):
            getattr(self, op)(**request)
            return {}, None
        raise ValueError(f"unknown request {op!r}")

    def serve_client(self, conn: socket.socket) -> None:
        with conn:
            if _peer(conn)[1] != self.owner_uid:
                return
            while data := conn.recv(65536):
                made: socket.socket | None = None
                try:
                    reply, made = self.answer(json.loads(data))
                except Exception as e:  # noqa: BLE001 - every failure is the client's answer, never the agent's end
                    reply = {"error": str(e), "errno": getattr(e, "errno", 0) or 0}
                try:
                    socket.send_fds(conn, [json.dumps(reply).encode()], [made.fileno()] if made else [])
                finally:
                    if made is not None:
                        made.close()

    def owner_alive(self) -> bool:
        try:
            stat = Path(f"/proc/{self.owner_pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[19] == self.owner_start


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="labkit's network agent (started by the cluster, not by hand)")
    for name in ("--address", "--bridge", "--subnet", "--service-cidr", "--owner-start"):
        parser.add_argument(name, required=True)
    for name in ("--owner-uid", "--owner-pid"):
        parser.add_argument(name, required=True, type=int)
    args = parser.parse_args(argv)
    agent = _Agent(args)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind("\0" + args.address)
    server.listen(8)
    server.settimeout(1.0)
    while agent.owner_alive():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        threading.Thread(target=agent.serve_client, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1:])
