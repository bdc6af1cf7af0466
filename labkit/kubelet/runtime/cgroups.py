"""A container's CPU time and memory working set, read from its cgroup as cAdvisor reads them.

Mirrors cAdvisor's cgroup handlers (``container/libcontainer/handler.go``, ``setMemoryStats``): CPU is
the cgroup's cumulative usage (v1 ``cpuacct.usage`` in nanoseconds, v2 ``cpu.stat`` ``usage_usec``);
the working set is the memory usage minus the inactive file cache (v1 ``memory.usage_in_bytes`` minus
``total_inactive_file``, v2 ``memory.current`` minus ``inactive_file``), never below zero. The cgroup
is found from ``/proc/<pid>/cgroup`` of one of the container's processes, so this works for either
Docker cgroup driver (``cgroupfs``, ``systemd``) on v1, v2 and the hybrid layout.

Left out: the per-CPU and throttling figures, swap, and cgroups not mounted at ``/sys/fs/cgroup``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    cpu_nanoseconds: int
    working_set_bytes: int


def _stat_file(path: Path) -> dict[str, int]:
    """A ``key value`` file (``memory.stat``, ``cpu.stat``)."""
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def _v1_dir(controllers: dict[str, str], name: str, root: Path) -> Path:
    """The v1 directory of controller ``name``: mounted alone (``cpuacct``) or co-mounted (``cpu,cpuacct``)."""
    for listed, path in controllers.items():
        if name in listed.split(","):
            for mount in (listed, name):
                if (root / mount).is_dir():
                    return root / mount / path.lstrip("/")
    raise FileNotFoundError(f"no {name} cgroup")


def cgroup_usage(pid: int, root: Path = ROOT) -> Usage:
    """The usage of the cgroup process ``pid`` is in; OSError when it is gone or cannot be read."""
    return usage_of(Path(f"/proc/{pid}/cgroup").read_text(), root)


def usage_of(proc_cgroup: str, root: Path = ROOT) -> Usage:
    """The usage of the cgroup that ``proc_cgroup`` (a ``/proc/<pid>/cgroup``) names, under ``root``."""
    controllers = {}
    for line in proc_cgroup.splitlines():
        _, listed, path = line.split(":", 2)
        controllers[listed] = path
    if (root / "cgroup.controllers").exists():  # the unified (v2) hierarchy alone
        group = root / controllers[""].lstrip("/")
        memory = _stat_file(group / "memory.stat")
        current = int((group / "memory.current").read_text())
        return Usage(_stat_file(group / "cpu.stat")["usage_usec"] * 1000,
                     max(current - memory.get("inactive_file", 0), 0))
    cpu = int((_v1_dir(controllers, "cpuacct", root) / "cpuacct.usage").read_text())
    group = _v1_dir(controllers, "memory", root)
    usage = int((group / "memory.usage_in_bytes").read_text())
    return Usage(cpu, max(usage - _stat_file(group / "memory.stat").get("total_inactive_file", 0), 0))
