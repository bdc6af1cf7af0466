"""A container's cgroup as cAdvisor reads it: its usage, the limits its runtime set, and what they did.

Mirrors cAdvisor's cgroup handlers (``container/libcontainer/handler.go``, ``setMemoryStats``,
``setCPUStats``) and the values the kubelet asks runtimes for (``pkg/kubelet/cm/helpers_linux.go``,
``MilliCPUToQuota``, ``MilliCPUToShares``; ``pkg/kubelet/qos/policy.go`` for ``oom_score_adj``).

- CPU is the cgroup's cumulative usage (v1 ``cpuacct.usage`` in nanoseconds, v2 ``cpu.stat``
  ``usage_usec``); the working set is the memory usage minus the inactive file cache (v1
  ``memory.usage_in_bytes`` minus ``total_inactive_file``, v2 ``memory.current`` minus
  ``inactive_file``), never below zero.
- Throttling is ``cpu.stat``'s ``nr_periods``, ``nr_throttled`` and ``throttled_time`` (v1, ns) or
  ``throttled_usec`` (v2); the limits are ``cpu.cfs_quota_us``/``cpu.cfs_period_us``/``cpu.shares``
  and ``memory.limit_in_bytes`` (v1), or ``cpu.max``/``cpu.weight`` and ``memory.max`` (v2); OOM
  kills are ``oom_kill`` in ``memory.oom_control`` (v1) or ``memory.events`` (v2).

The cgroup is found from ``/proc/<pid>/cgroup`` of one of the container's processes, so this works for
either Docker cgroup driver (``cgroupfs``, ``systemd``) on v1, v2 and the hybrid layout.

Left out: the per-CPU figures, swap, pressure (PSI), cgroups not mounted at ``/sys/fs/cgroup``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")

# pkg/kubelet/cm/helpers_linux.go
CPU_PERIOD_US = 100_000
MIN_QUOTA_US = 1_000
MIN_SHARES = 2
#: v1 writes "no limit" as the largest page-aligned int64; anything this large is no limit
_UNLIMITED = 1 << 62


def milli_cpu_to_shares(milli_cpu: int) -> int:
    """``cpu.shares`` for a CPU request: 1024 per core, at least 2 (``MilliCPUToShares``)."""
    return max(MIN_SHARES, milli_cpu * 1024 // 1000)


def milli_cpu_to_quota(milli_cpu: int, period_us: int = CPU_PERIOD_US) -> int:
    """``cpu.cfs_quota_us`` for a CPU limit over ``period_us``, at least 1000 (``MilliCPUToQuota``); 0: none."""
    return max(MIN_QUOTA_US, milli_cpu * period_us // 1000) if milli_cpu else 0


def shares_to_weight(shares: int) -> int:
    """cgroup v2's ``cpu.weight`` (1-10000) for v1 shares (2-262144), as runc >= 1.3.2 and crun >= 1.23
    convert them: a curve through the ends of both ranges and 1024 -> 100, each one's default (before,
    a straight line put a 1-core request at 39)."""
    if shares <= MIN_SHARES:
        return 1
    if shares >= 1 << 18:
        return 10_000
    log = math.log2(shares)
    return math.ceil(10 ** ((log * log + 125 * log) / 612 - 7 / 34))


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    cpu_nanoseconds: int
    working_set_bytes: int


@dataclasses.dataclass(frozen=True, slots=True)
class Cgroup:
    """A container's cgroup. ``name`` is its path (cAdvisor's ``id`` label); ``version`` 1 or 2. Limits:
    ``cpu_quota_us`` None when there is no quota; ``cpu_shares`` (v1) or ``cpu_weight`` (v2), the other
    None; ``memory_limit_bytes`` None when unlimited. Counters since the cgroup was made: CFS periods,
    throttled periods and seconds, OOM kills."""

    name: str
    version: int
    cpu_quota_us: int | None
    cpu_period_us: int
    cpu_shares: int | None
    cpu_weight: int | None
    memory_limit_bytes: int | None
    nr_periods: int
    nr_throttled: int
    throttled_seconds: float
    oom_kills: int
    usage: Usage

    def files(self) -> dict[str, int | str]:
        """The limits as the cgroup's own files show them (``cat cpu.cfs_quota_us`` ...)."""
        memory = self.memory_limit_bytes
        if self.version == 2:
            return {"cpu.max": f"{self.cpu_quota_us or 'max'} {self.cpu_period_us}", "cpu.weight": self.cpu_weight or 0,
                    "memory.max": "max" if memory is None else memory}
        return {"cpu.cfs_quota_us": -1 if self.cpu_quota_us is None else self.cpu_quota_us,
                "cpu.cfs_period_us": self.cpu_period_us, "cpu.shares": self.cpu_shares or 0,
                "memory.limit_in_bytes": "unlimited" if memory is None else memory}


def _stat_file(path: Path) -> dict[str, int]:
    """A ``key value`` file (``memory.stat``, ``cpu.stat``)."""
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def read_small(path: str) -> bytes:
    """A small kernel file (cgroup, /proc), in one read: plain ``os`` calls cost a third of ``open``'s,
    paid for every container at every scrape."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def _read(path: str) -> str:
    return read_small(path).decode()


def _stat_value(text: str, key: str) -> int:
    """One key's value in a ``key value`` file's text (``memory.stat``, ``cpu.stat``); 0 when absent."""
    found = re.search(rf"^{key} (\d+)$", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _controllers(proc_cgroup: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as controller list -> path (``"cpu,cpuacct"``; ``""`` for the unified line)."""
    out = {}
    for line in proc_cgroup.splitlines():
        _, listed, path = line.split(":", 2)
        out[listed] = path
    return out


#: what was found of each root's layout; cgroup hierarchies are not remounted while labkit runs, and
#: metrics read them every scrape
_unified: dict[Path, bool] = {}
_mounts: dict[tuple[str, str, Path], str] = {}


def unified(root: Path = ROOT) -> bool:
    """True for the unified (v2) hierarchy alone at ``root``."""
    if root not in _unified:
        _unified[root] = (root / "cgroup.controllers").exists()
    return _unified[root]


def _v1_dir(controllers: dict[str, str], name: str, root: Path) -> str:
    """The v1 directory of controller ``name``: mounted alone (``cpuacct``) or co-mounted (``cpu,cpuacct``)."""
    for listed, path in controllers.items():
        if name in listed.split(","):
            mount = _v1_mount(listed, name, root)
            if mount is not None:
                return mount + path.rstrip("/")
    raise FileNotFoundError(f"no {name} cgroup")


def _v1_mount(listed: str, name: str, root: Path) -> str | None:
    """Where the hierarchy of ``listed`` (a ``/proc/<pid>/cgroup`` line's controllers) is mounted, if it is."""
    key = (listed, name, root)
    if key not in _mounts:
        found = next((str(root / mount) for mount in (listed, name) if (root / mount).is_dir()), None)
        if found is None:
            return None
        _mounts[key] = found
    return _mounts[key]


def usage_of(proc_cgroup: str, root: Path = ROOT) -> Usage:
    """The usage of the cgroup that ``proc_cgroup`` (a ``/proc/<pid>/cgroup``) names, under ``root``:
    three small reads, as often as metrics are scraped."""
    controllers = _controllers(proc_cgroup)
    if unified(root):
        group = f"{root}/{controllers[''].lstrip('/')}"
        current = int(_read(f"{group}/memory.current"))
        return Usage(_stat_value(_read(f"{group}/cpu.stat"), "usage_usec") * 1000,
                     max(current - _stat_value(_read(f"{group}/memory.stat"), "inactive_file"), 0))
    cpu = int(_read(f"{_v1_dir(controllers, 'cpuacct', root)}/cpuacct.usage"))
    memory = _v1_dir(controllers, "memory", root)
    usage = int(_read(f"{memory}/memory.usage_in_bytes"))
    return Usage(cpu, max(usage - _stat_value(_read(f"{memory}/memory.stat"), "total_inactive_file"), 0))


def usage_of_pid(pid: int, root: Path = ROOT) -> Usage:
    """The usage of the cgroup process ``pid`` is in (what CRI stats carry); OSError when it is gone."""
    return usage_of(_read(f"/proc/{pid}/cgroup"), root)


def cgroup_of(pid: int, root: Path = ROOT) -> Cgroup:
    """The cgroup process ``pid`` is in; OSError when it is gone or cannot be read."""
    return cgroup_from(Path(f"/proc/{pid}/cgroup").read_text(), root)


def cgroup_from(proc_cgroup: str, root: Path = ROOT) -> Cgroup:
    """The cgroup that ``proc_cgroup`` (a ``/proc/<pid>/cgroup``) names, under ``root``."""
    controllers = _controllers(proc_cgroup)
    usage = usage_of(proc_cgroup, root)
    if unified(root):
        name = controllers[""]
        group = root / name.lstrip("/")
        max_quota, period = (group / "cpu.max").read_text().split()
        memory = (group / "memory.max").read_text().strip()
        cpu = _stat_file(group / "cpu.stat")
        return Cgroup(name=name, version=2, cpu_quota_us=None if max_quota == "max" else int(max_quota),
                      cpu_period_us=int(period), cpu_shares=None, cpu_weight=int((group / "cpu.weight").read_text()),
                      memory_limit_bytes=None if memory == "max" else int(memory),
                      nr_periods=cpu.get("nr_periods", 0), nr_throttled=cpu.get("nr_throttled", 0),
                      throttled_seconds=cpu.get("throttled_usec", 0) / 1e6,
                      oom_kills=_stat_file(group / "memory.events").get("oom_kill", 0), usage=usage)
    cpu_dir, memory_dir = Path(_v1_dir(controllers, "cpu", root)), Path(_v1_dir(controllers, "memory", root))
    name = next(path for listed, path in controllers.items() if "cpu" in listed.split(","))
    quota = int((cpu_dir / "cpu.cfs_quota_us").read_text())
    limit = int((memory_dir / "memory.limit_in_bytes").read_text())
    cpu = _stat_file(cpu_dir / "cpu.stat")
    return Cgroup(name=name, version=1, cpu_quota_us=None if quota < 0 else quota,
                  cpu_period_us=int((cpu_dir / "cpu.cfs_period_us").read_text()),
                  cpu_shares=int((cpu_dir / "cpu.shares").read_text()), cpu_weight=None,
                  memory_limit_bytes=None if limit >= _UNLIMITED else limit,
                  nr_periods=cpu.get("nr_periods", 0), nr_throttled=cpu.get("nr_throttled", 0),
                  throttled_seconds=cpu.get("throttled_time", 0) / 1e9,
                  oom_kills=_stat_file(memory_dir / "memory.oom_control").get("oom_kill", 0), usage=usage)
