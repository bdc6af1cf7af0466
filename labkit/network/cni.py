"""A pod's network namespace wired to the cluster bridge, as the CNI ``bridge`` plugin's ADD does.

Mirrors ``plugins/main/bridge`` of containernetworking/plugins (and ``plugins/main/loopback``): a
veth pair whose pod end is created inside the sandbox's network namespace as ``eth0``, with the
pod's IP and a default route via the bridge's gateway, and whose host end (``veth<hex>``) joins the
bridge; the namespace's ``lo`` comes up. The kubelet chose the IP (``host-local`` IPAM is
:mod:`labkit.kubelet.ipam`). DEL is left to the kernel: the pair goes with the namespace when the
sandbox's last process exits.

Netlink through ``pyroute2``; the namespace is entered by a short-lived thread (``setns`` moves only
the calling thread), so no other thread ever runs in a pod's namespace. A process in this process's
own network namespace is never configured. Needs what a CNI plugin needs: CAP_NET_ADMIN and
CAP_SYS_ADMIN (without root, :mod:`labkit.network.agent` runs it in a container that has them), and
the bridge and the sandbox's process on this machine (not so with rootless Docker or Docker Desktop;
:func:`unavailable` says why). Left out: IPv6, hairpin mode, MTU,
masquerading (Docker's rules for the bridge already cover its subnet), CHECK.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: capability bits (linux/capability.h)
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
CLONE_NEWNET = 0x40000000
#: how long a sandbox may take to enter a network namespace of its own
NAMESPACE_WAIT_SECONDS = 2.0


class CNIError(RuntimeError):
    """The pod's network could not be set up; the message says why."""


def _effective_capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def privileged() -> bool:
    """Whether this process may wire namespaces itself (CAP_NET_ADMIN and CAP_SYS_ADMIN: root)."""
    try:
        caps = _effective_capabilities()
    except OSError:
        return False
    return bool(caps >> CAP_NET_ADMIN & 1 and caps >> CAP_SYS_ADMIN & 1)


def unavailable(bridge: str) -> str | None:
    """Why pods cannot be wired to ``bridge`` on this machine (by this process or, without root, by
    :mod:`labkit.network.agent`), or None when they can."""
    if not Path("/proc/self/status").exists():
        return "no /proc (not Linux)"
    if not Path(f"/sys/class/net/{bridge}/bridge").is_dir():
        return f"the bridge {bridge} is not on this machine (is the Docker daemon rootless, remote or in a VM?)"
    if importlib.util.find_spec("pyroute2") is None:  # a dependency on Linux only
        return "pyroute2 is not installed"
    return None


def _own_namespace(pid: int, owner: str) -> None:
    """Wait until ``pid``, a process of container ``owner``, is in a network namespace other than ours."""
    ours = os.stat("/proc/self/ns/net").st_ino
    deadline = time.monotonic() + NAMESPACE_WAIT_SECONDS
    try:
        if owner not in Path(f"/proc/{pid}/cgroup").read_text():  # never a reused pid
            raise CNIError(f"process {pid} is not in container {owner[:12]}'s cgroup")
        while os.stat(f"/proc/{pid}/ns/net").st_ino == ours:
            if time.monotonic() > deadline:
                raise CNIError(f"process {pid} of container {owner[:12]} is still in the host's network namespace")
            time.sleep(0.001)
    except OSError as e:
        raise CNIError(f"process {pid} of container {owner[:12]} is not visible here: {e}") from e


def add(pid: int, *, owner: str, ip: str, prefixlen: int, gateway: str, bridge: str) -> None:
    """Wire the network namespace of process ``pid`` of container ``owner`` to ``bridge``."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    _own_namespace(pid, owner)
    host_end = f"veth{secrets.token_hex(4)}"
    try:
        master = socket.if_nametoindex(bridge)
        with IPRoute() as host:
            host.link("add", ifname=host_end, kind="veth", master=master, peer={"ifname": "eth0", "net_ns_pid": pid})
            host.link("set", index=socket.if_nametoindex(host_end), state="up")
        _in_namespace(pid, lambda pod: _configure(pod, ip, prefixlen, gateway))
    except (NetlinkError, OSError) as e:
        raise CNIError(f"setting up eth0 of pid {pid} on {bridge}: {e}") from e


def _configure(pod: Any, ip: str, prefixlen: int, gateway: str) -> None:
    # interface indexes are asked in the calling thread's namespace: the pod's
    pod.link("set", index=socket.if_nametoindex("lo"), state="up")
    eth0 = socket.if_nametoindex("eth0")
    pod.addr("add", index=eth0, address=ip, prefixlen=prefixlen)
    pod.link("set", index=eth0, state="up")
    pod.route("add", dst="default", gateway=gateway)


def _in_namespace(pid: int, configure: Callable[[Any], None]) -> None:
    """Run ``configure(ipr)`` with a netlink socket opened inside ``pid``'s network namespace."""
    from pyroute2 import IPRoute

    failure: list[BaseException] = []

    def enter() -> None:  # a thread of its own: it ends in the pod's namespace and is never reused
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET):
                    raise CNIError(f"setns into pid {pid}: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
            with IPRoute() as pod:
                configure(pod)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(e)

    thread = threading.Thread(target=enter, name=f"cni-{pid}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
