"""Cgroups for the process runtime's containers, so their CPU and memory limits bite (root only).

Plays the part of runc under the kubelet's ``cgroupfs`` driver (``pkg/kubelet/cm/cgroup_manager_linux.go``,
``helpers_linux.go``): each container gets a cgroup of its own with the values kube computes from
its resources (:mod:`labkit.kubelet.runtime.cgroups`): ``cpu.shares``, ``cpu.cfs_period_us`` and
``cpu.cfs_quota_us``, ``memory.limit_in_bytes`` and no swap beyond it on cgroup v1 (one directory per
controller: cpu, cpuacct, memory); ``cpu.weight``, ``cpu.max``, ``memory.max`` and ``memory.swap.max 0``
on v2. Its processes also get the kubelet's ``oom_score_adj``. A container's command is started
through a busybox shell that moves itself into the cgroup and sets its OOM score before ``exec``, so
nothing runs outside the limits. When the kernel kills a process at the memory limit the cgroup's
``oom_kill`` counter says so, and the runtime reports ``OOMKilled`` as Docker does.

Cgroups live under ``labkit/<owner pid>-<owner start time>/<container id>`` in each hierarchy (as
Docker's live under ``docker/``, the kubelet's under ``kubepods/``); the owner part names the labkit
process that made them (:mod:`labkit.owner`), so :func:`cleanup_leftovers` finds those of a process
that is gone, kills what still runs in them and removes them.

Not root, or no writable cgroup hierarchy with the cpu and memory controllers: :func:`unavailable`
says why, and the runtime leaves limits unenforced. Left out: pod-level and QoS-level cgroups
(``kubepods/burstable/pod<uid>``), the systemd driver, cpusets, hugepages, pids limits.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import signal
import time
from pathlib import Path

from labkit import owner
from labkit.kubelet.runtime import ContainerConfig
from labkit.kubelet.runtime.cgroups import (
    CPU_PERIOD_US,
    ROOT,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    shares_to_weight,
    unified,
)

PARENT = "labkit"
_V1_CONTROLLERS = ("cpu", "cpuacct", "memory")


def _v1_mount(name: str, root: Path) -> Path | None:
    """The directory v1 controller ``name`` is mounted at (alone, or co-mounted as ``cpu,cpuacct``)."""
    for entry in (root / name, *root.glob(f"*{name}*")):
        if entry.is_dir() and name in entry.name.split(","):
            return entry.resolve()
    return None


def _hierarchies(root: Path) -> list[Path]:
    """The hierarchies a container's cgroup has a directory in: one for v2, one per controller mount for v1."""
    if unified(root):
        return [root]
    mounts = {_v1_mount(name, root) for name in _V1_CONTROLLERS}
    return sorted(m for m in mounts if m is not None)


def unavailable(root: Path = ROOT) -> str | None:
    """Why this process cannot give containers cgroups, in one line; None when it can."""
    if os.geteuid() != 0:
        return f"labkit runs as uid {os.geteuid()}, not root, and only root may make cgroups"
    if unified(root):
        missing = {"cpu", "memory"} - set((root / "cgroup.controllers").read_text().split())
    else:
        missing = {name for name in _V1_CONTROLLERS if _v1_mount(name, root) is None}
    if missing:
        return f"this machine's cgroups at {root} lack the {', '.join(sorted(missing))} controller(s)"
    read_only = [str(h) for h in _hierarchies(root) if not os.access(h, os.W_OK)]
    if read_only:
        return f"the cgroup hierarchy {read_only[0]} is read-only here (a container without --privileged?)"
    if unified(root):  # children get cpu and memory only if the top enables them for its subtree
        try:
            _write(root / "cgroup.subtree_control", "+cpu +memory")
        except OSError as e:  # EBUSY: processes live in the top cgroup (a container's cgroup namespace)
            return f"the cpu and memory controllers cannot be enabled below {root}: {e.strerror}"
    return None


def _owner_dir() -> str:
    return owner.OWNER.replace(":", "-")


def _write(path: Path, value: str | int) -> None:
    path.write_text(f"{value}\n")


def _kill_all(group: Path) -> None:
    """SIGKILL whatever still runs in ``group`` and remove it (once its processes are gone)."""
    for _ in range(100):
        with contextlib.suppress(FileNotFoundError):
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY while a killed process is still exiting
            time.sleep(0.01)


class ContainerCgroup:
    """One container's cgroup: a directory in each hierarchy, with its limits written."""

    def __init__(self, container_id: str, config: ContainerConfig, root: Path = ROOT) -> None:
        self.version = 2 if unified(root) else 1
        self.oom_score_adj = config.oom_score_adj
        self.dirs = [h / PARENT / _owner_dir() / container_id for h in _hierarchies(root)]
        for d in self.dirs:
            if self.version == 2:  # a v2 child has the controllers its parents enable for their subtree
                for parent in (d.parent.parent, d.parent):
                    parent.mkdir(exist_ok=True)
                    _write(parent / "cgroup.subtree_control", "+cpu +memory")
            d.mkdir(parents=True, exist_ok=True)
            self._set(d, config)

    def _set(self, d: Path, config: ContainerConfig) -> None:
        shares, quota = milli_cpu_to_shares(config.cpu_request_millis), milli_cpu_to_quota(config.cpu_limit_millis)
        memory = config.memory_limit_bytes
        if self.version == 2:
            _write(d / "cpu.weight", shares_to_weight(shares))
            _write(d / "cpu.max", f"{quota or 'max'} {CPU_PERIOD_US}")
            if memory:
                _write(d / "memory.max", memory)
                if (d / "memory.swap.max").exists():
                    _write(d / "memory.swap.max", 0)
            return
        if (d / "cpu.shares").exists():
            _write(d / "cpu.shares", shares)
            _write(d / "cpu.cfs_period_us", CPU_PERIOD_US)
            _write(d / "cpu.cfs_quota_us", quota or -1)
        if memory and (d / "memory.limit_in_bytes").exists():
            _write(d / "memory.limit_in_bytes", memory)
            if (d / "memory.memsw.limit_in_bytes").exists():  # no swap beyond the limit
                _write(d / "memory.memsw.limit_in_bytes", memory)

    def enter(self, argv: list[str], busybox: str) -> list[str]:
        """``argv`` run inside this cgroup with the container's OOM score adjustment."""
        joins = " && ".join(f"echo $$ >{shlex.quote(str(d / 'cgroup.procs'))}" for d in self.dirs)
        script = f'{joins} && echo {self.oom_score_adj} >/proc/self/oom_score_adj && exec "$@"'
        return [busybox, "sh", "-c", script, "sh", *argv]

    def oom_kills(self) -> int:
        """How many processes the kernel killed at this cgroup's memory limit."""
        for d in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError):
                    for line in (d / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
        return 0

    def remove(self) -> None:
        """Kill what still runs in it and remove its directories (and its owner's, once empty)."""
        for d in self.dirs:
            _kill_all(d)
            with contextlib.suppress(OSError):  # in use by this owner's other containers, or others'
                d.parent.rmdir()
                d.parent.parent.rmdir()


def leftovers(root: Path = ROOT) -> list[owner.Leftover]:
    """The container cgroups of labkit processes no longer running, one per owner and hierarchy;
    removing one kills what runs in its groups."""
    found = []
    for hierarchy in _hierarchies(root):
        with contextlib.suppress(FileNotFoundError):
            for owned in (hierarchy / PARENT).iterdir():
                pid, _, start = owned.name.partition("-")
                if owned.is_dir() and not owner.alive(f"{pid}:{start}"):
                    found.append(owner.Leftover("cgroup", str(owned), f"{pid}:{start}",
                                                functools.partial(_remove_owned, owned)))
    return found


def _remove_owned(owned: Path) -> bool:
    with contextlib.suppress(FileNotFoundError):
        for group in [g for g in owned.iterdir() if g.is_dir()]:
            _kill_all(group)
    with contextlib.suppress(OSError):
        owned.rmdir()
        owned.parent.rmdir()
    return not owned.exists()


def cleanup_leftovers(root: Path = ROOT) -> int:
    """Remove the container cgroups of labkit processes no longer running (killing what runs in them);
    returns how many owners' cgroups were removed."""
    return owner.remove_all(leftovers(root))
