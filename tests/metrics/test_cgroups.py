"""A container's usage, limits and throttling from its cgroup files, as cAdvisor reads them, on both
hierarchies (laid out under a scratch root, for a ``/proc/<pid>/cgroup`` as Docker's cgroupfs driver
makes it); the kubelet's CPU and OOM score formulas."""

from __future__ import annotations

import os
from pathlib import Path

from labkit.kubelet.qos import container_oom_score_adjust
from labkit.kubelet.runtime import ContainerConfig
from labkit.kubelet.runtime.cgroups import (
    cgroup_from,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    shares_to_weight,
    usage_of,
)
from labkit.kubelet.runtime.proccgroups import ContainerCgroup, unavailable

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


def test_limits_and_throttling_on_v1(tmp_path: Path) -> None:
    proc = f"12:memory:{CONTAINER}\n4:cpu,cpuacct:{CONTAINER}\n0::/\n"
    write(tmp_path / "cpu,cpuacct" / CONTAINER.lstrip("/"), {
        "cpuacct.usage": "5\n", "cpu.cfs_quota_us": "50000\n", "cpu.cfs_period_us": "100000\n", "cpu.shares": "512\n",
        "cpu.stat": "nr_periods 40\nnr_throttled 30\nthrottled_time 2500000000\n"})
    write(tmp_path / "memory" / CONTAINER.lstrip("/"), {
        "memory.usage_in_bytes": "0\n", "memory.stat": "", "memory.limit_in_bytes": "536870912\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
    cgroup = cgroup_from(proc, tmp_path)
    assert cgroup.files() == {"cpu.cfs_quota_us": 50000, "cpu.cfs_period_us": 100000, "cpu.shares": 512,
                              "memory.limit_in_bytes": 512 * 1024 * 1024}
    assert (cgroup.name, cgroup.nr_periods, cgroup.nr_throttled, cgroup.throttled_seconds, cgroup.oom_kills) == (
        CONTAINER, 40, 30, 2.5, 2)
    write(tmp_path / "cpu,cpuacct" / CONTAINER.lstrip("/"), {"cpu.cfs_quota_us": "-1\n"})
    write(tmp_path / "memory" / CONTAINER.lstrip("/"), {"memory.limit_in_bytes": "9223372036854771712\n"})
    unlimited = cgroup_from(proc, tmp_path)
    assert (unlimited.cpu_quota_us, unlimited.memory_limit_bytes) == (None, None)


def test_limits_and_throttling_on_v2(tmp_path: Path) -> None:
    write(tmp_path, {"cgroup.controllers": "cpu memory\n"})
    write(tmp_path / CONTAINER.lstrip("/"), {
        "cpu.stat": "usage_usec 1\nnr_periods 7\nnr_throttled 3\nthrottled_usec 1500000\n", "memory.current": "0\n",
        "memory.stat": "", "cpu.max": "50000 100000\n", "cpu.weight": "20\n", "memory.max": "max\n",
        "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n"})
    cgroup = cgroup_from(f"0::{CONTAINER}\n", tmp_path)
    assert cgroup.files() == {"cpu.max": "50000 100000", "cpu.weight": 20, "memory.max": "max"}
    assert (cgroup.nr_periods, cgroup.nr_throttled, cgroup.throttled_seconds, cgroup.oom_kills) == (7, 3, 1.5, 1)


def test_kube_cpu_and_oom_formulas() -> None:
    # pkg/kubelet/cm/helpers_linux.go: the article's 500m is 50000us of every 100000us, 512 shares
    assert (milli_cpu_to_quota(500), milli_cpu_to_shares(500)) == (50_000, 512)
    assert (milli_cpu_to_quota(1), milli_cpu_to_quota(0)) == (1000, 0)  # a limit of 1m still gets 1 ms
    assert (milli_cpu_to_shares(0), milli_cpu_to_shares(1)) == (2, 2)
    assert [shares_to_weight(s) for s in (2, 512, 1024, 262144)] == [1, 59, 100, 10000]  # runc >= 1.3.2
    # pkg/kubelet/qos/policy.go, on a node of 4Gi
    node = 4 * 1024**3
    article = {"name": "nginx", "resources": {"limits": {"memory": "512Mi", "cpu": "500m"},
                                              "requests": {"memory": "512Mi", "cpu": "500m"}}}
    assert container_oom_score_adjust({"spec": {"containers": [article]}}, article, node) == -997
    assert container_oom_score_adjust({"spec": {"containers": [{"name": "c"}]}}, {"name": "c"}, node) == 1000
    for request, expected in (("1Gi", 750), ("4Gi", 3), ("1Ki", 999)):
        c = {"name": "c", "resources": {"requests": {"memory": request}}}
        assert container_oom_score_adjust({"spec": {"containers": [c]}}, c, node) == expected


def test_process_runtime_cgroup_on_v2(tmp_path: Path) -> None:
    """What labkit writes for a container of the process runtime on the unified hierarchy (a scratch one)."""
    write(tmp_path, {"cgroup.controllers": "cpu memory pids\n", "cgroup.subtree_control": "+cpu +memory\n"})
    config = ContainerConfig(name="nginx", image="nginx", cpu_limit_millis=500, cpu_request_millis=500,
                             memory_limit_bytes=512 << 20, oom_score_adj=-997)
    cgroup = ContainerCgroup("c1", config, tmp_path)
    [d] = cgroup.dirs
    assert d.relative_to(tmp_path).parts[0] == "labkit" and d.name == "c1"
    assert {f: (d / f).read_text() for f in ("cpu.max", "cpu.weight", "memory.max")} == {
        "cpu.max": "50000 100000\n", "cpu.weight": "59\n", "memory.max": "536870912\n"}
    assert (tmp_path / "labkit" / "cgroup.subtree_control").read_text() == "+cpu +memory\n"
    argv = cgroup.enter(["/bin/busybox", "sleep", "1"], "/bin/busybox")
    assert argv[:2] == ["/bin/busybox", "sh"] and argv[-3:] == ["/bin/busybox", "sleep", "1"]
    assert f"echo $$ >{d}/cgroup.procs" in argv[3] and "echo -997 >/proc/self/oom_score_adj" in argv[3]


def test_why_the_process_runtime_cannot_make_cgroups(tmp_path: Path) -> None:
    write(tmp_path, {"cgroup.controllers": "memory pids\n"})
    expected = (f"this machine's cgroups at {tmp_path} lack the cpu controller(s)" if os.geteuid() == 0 else
                f"labkit runs as uid {os.geteuid()}, not root, and only root may make cgroups")
    assert unavailable(tmp_path) == expected
