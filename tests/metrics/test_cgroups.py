"""A container's usage from its cgroup files, as cAdvisor reads them, on both hierarchies (laid out
under a scratch root, for a ``/proc/<pid>/cgroup`` as Docker's cgroupfs driver makes it)."""

from __future__ import annotations

from pathlib import Path

from labkit.kubelet.runtime.cgroups import usage_of

CONTAINER = "/docker/0123abcd"


def write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def test_unified_hierarchy(tmp_path: Path) -> None:
    write(tmp_path, {"cgroup.controllers": "cpu memory\n"})
    write(tmp_path / CONTAINER.lstrip("/"), {
        "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n", "memory.current": "10485760\n",
        "memory.stat": "anon 4194304\nfile 6291456\ninactive_file 2097152\n"})
    usage = usage_of(f"0::{CONTAINER}\n", tmp_path)
    assert (usage.cpu_nanoseconds, usage.working_set_bytes) == (2_500_000_000, 8 * 1024 * 1024)


def test_v1_hierarchies_mounted_apart_or_together(tmp_path: Path) -> None:
    proc = f"12:memory:{CONTAINER}\n4:cpu,cpuacct:{CONTAINER}\n1:name=systemd:{CONTAINER}\n0::/\n"
    write(tmp_path / "cpu,cpuacct" / CONTAINER.lstrip("/"), {"cpuacct.usage": "1234567890\n"})
    write(tmp_path / "memory" / CONTAINER.lstrip("/"), {"memory.usage_in_bytes": "3145728\n",
                                                          "memory.stat": "cache 4096\ntotal_inactive_file 2097152\n"})
    usage = usage_of(proc, tmp_path)
    assert (usage.cpu_nanoseconds, usage.working_set_bytes) == (1_234_567_890, 1024 * 1024)
    write(tmp_path / "memory" / CONTAINER.lstrip("/"), {"memory.usage_in_bytes": "1048576\n"})
    assert usage_of(proc, tmp_path).working_set_bytes == 0  # never below zero
