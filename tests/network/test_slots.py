"""labkit.network.slots: one address slot per running cluster, machine-wide, whoever runs it.

The two-account test needs root (to run processes as other uids; numeric uids, so no account is
created); the others run as anyone, and CI runs them as its unprivileged accounts too."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from testkit import need

from labkit.network import slots

SOURCE = Path(slots.__file__).read_text()  # run as another uid, which may not read this checkout


@pytest.fixture
def name() -> str:
    """Socket names of this test's own, so a running cluster's slots and this test's never meet."""
    return f"labkit-test-slot/{uuid.uuid4().hex[:12]}/"


def program(code: str) -> list[str]:
    """``python -c`` running slots.py's source (no import of labkit needed), then ``code``."""
    return ["-I", "-c", f"{SOURCE}\nimport os, subprocess, sys\n{code}"]


class Holder:
    """A process that takes a slot, prints its number and holds it until told to exit (stdin closed)."""

    def __init__(self, python: str, name: str, *, only: int | None = None, uid: int | None = None,
                 code: str = "") -> None:
        hold = (f"slot = acquire(only={only!r}, name={name!r})\n{code}\n"
                "print(slot.number, flush=True)\nsys.stdin.read()\n")
        self.proc = subprocess.Popen([python, *program(hold)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd="/", user=uid, group=uid, extra_groups=[] if uid else None)
        assert self.proc.stdout is not None
        self.lines = self.proc.stdout
        self.number = int(self.lines.readline())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def try_as(python: str, uid: int, name: str, only: int | None) -> str:
    """What ``acquire`` says to ``uid``: ``took N`` or ``refused: <message>``."""
    code = (f"try:\n    print('took', acquire(only={only!r}, name={name!r}).number)\n"
            "except NoFreeSlot as e:\n    print('refused:', e)\n")
    out = subprocess.run([python, *program(code)], capture_output=True, text=True, cwd="/", timeout=30,
                         user=uid, group=uid, extra_groups=[])
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def free_uids(count: int) -> list[int]:
    """Uids no account uses: a process can run as one without creating the account."""
    uids = []
    for uid in range(64000, 65000):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            uids.append(uid)
            if len(uids) == count:
                return uids
    raise AssertionError("no free uid in 64000-64999")


def python_for(uid: int) -> str:
    """A Python that ``uid`` can run: this one unless it lives where others cannot read (a venv over
    /root/.pyenv), else the system's."""
    for python in (sys.executable, "/usr/bin/python3"):
        try:
            if subprocess.run([python, "-I", "-c", "pass"], user=uid, group=uid, extra_groups=[], cwd="/",
                              capture_output=True).returncode == 0:
                return python
        except OSError:  # not even executable for uid
            continue
    need(False, f"a Python that uid {uid} can run ({sys.executable} and /usr/bin/python3 cannot)")
    raise AssertionError


@pytest.mark.unprivileged
def test_lowest_free_slot_exclusive_until_released(name: str) -> None:
    first, second = slots.acquire(name=name), slots.acquire(name=name)
    assert (first.number, second.number) == (0, 1)
    with pytest.raises(slots.NoFreeSlot, match="saved state uses address slot 0, which another running labkit cluster holds"):
        slots.acquire(only=0, name=name)
    first.release()
    first.release()  # twice is harmless
    again = slots.acquire(only=0, name=name)
    assert again.number == 0
    rest = [slots.acquire(name=name) for _ in range(slots.SLOTS - 2)]
    assert [s.number for s in rest] == list(range(2, slots.SLOTS))
    with pytest.raises(slots.NoFreeSlot, match=f"all {slots.SLOTS} labkit address slots are in use: stop a running cluster first"):
        slots.acquire(name=name)
    for s in (second, again, *rest):
        s.release()


@pytest.mark.unprivileged
def test_a_killed_cluster_frees_its_slot_even_while_its_pods_live(name: str) -> None:
    """The kernel frees the slot when the process ends, however it ends; a pod process it started
    (the process runtime's, in a session of its own) does not keep it."""
    pod = "pod = subprocess.Popen(['sleep', '600'], start_new_session=True)\nprint(pod.pid, flush=True)"
    holder = Holder(sys.executable, name, code=pod)
    pod_pid = holder.number
    number = int(holder.lines.readline())
    try:
        with pytest.raises(slots.NoFreeSlot):
            slots.acquire(only=number, name=name)
        holder.proc.send_signal(signal.SIGKILL)
        holder.proc.wait(timeout=10)
        os.kill(pod_pid, 0)  # the pod still runs
        slots.acquire(only=number, name=name).release()
    finally:
        os.kill(pod_pid, signal.SIGKILL)
        holder.proc.kill()


def test_two_accounts_share_the_slots_and_neither_can_take_the_others(name: str) -> None:
    """On a machine shared by accounts, their clusters' addresses are the same host's, so the slots are
    the machine's: account B gets the next slot while A holds one, cannot take A's (nor can root), and
    there is no file or directory that one account would own and could lock the others out of."""
    need(os.geteuid() == 0, "root (to run processes as two other uids)")
    a, b = free_uids(2)
    python = python_for(b)
    holder = Holder(python, name, uid=a)
    try:
        assert holder.number == 0
        assert try_as(python, b, name, None) == "took 1"  # the lowest slot A does not hold
        refused = try_as(python, b, name, 0)
        assert refused.startswith("refused: this cluster's saved state uses address slot 0, which another running "
                                  "labkit cluster holds (maybe another account's): stop that cluster first"), refused
        with pytest.raises(slots.NoFreeSlot):
            slots.acquire(only=0, name=name)  # not even root: a socket's name cannot be taken from it
        names = [line.split()[-1] for line in Path("/proc/net/unix").read_text().splitlines()[1:]]
        assert f"@{name}0" in names  # an abstract name ("@"): there is no file anywhere
    finally:
        holder.stop()
    assert try_as(python, b, name, 0) == "took 0"  # A is gone: B may take slot 0
