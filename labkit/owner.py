"""Which labkit process owns a process that labkit started, so that a crashed cluster's leftovers can be found.

Every process a cluster starts outside its own (the process runtime's pods, etcd members, haproxy)
carries its owner in its environment: ``LABKIT_OWNER=<pid>:<start time>``, the cluster process's pid
and that pid's start time, so a reused pid is not mistaken for the owner. :func:`orphans` lists those
whose owner is gone; the next cluster start removes them. Only this user's processes are readable, so
nobody cleans up another's. Nothing in Kubernetes: kubelets and kind find their leftovers by container
labels, which processes do not have.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

#: the environment variable that tags a process with the labkit process that owns it
OWNER_ENV = "LABKIT_OWNER"


def start_time(pid: int) -> str:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat); empty if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def state(pid: int) -> str:
    """The process's state letter (``R``, ``S``, ``T`` when stopped, ``Z`` ...); empty if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


#: this process's tag
OWNER = f"{os.getpid()}:{start_time(os.getpid())}"


def alive(tag: str) -> bool:
    """True while the process a tag names still runs."""
    owner_pid, _, started = tag.partition(":")
    return owner_pid.isdigit() and start_time(int(owner_pid)) == started


def orphans() -> Iterator[tuple[int, str, dict[str, str]]]:
    """``(pid, owner tag, environment)`` of each readable process tagged by an owner that is gone."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        environ = dict(e.decode(errors="replace").split("=", 1) for e in raw if b"=" in e)
        tag = environ.get(OWNER_ENV, "")
        if tag and not alive(tag):
            yield int(entry.name), tag, environ


def kill_orphans(env_key: str) -> list[tuple[str, str]]:
    """SIGKILL each orphan whose environment sets ``env_key`` (a kind of process: an etcd member, a
    haproxy) and wait until it is gone, so its files are closed; ``(owner tag, env_key's value)`` of
    each, for the caller to remove what it left."""
    killed = []
    for pid, tag, environ in orphans():
        value = environ.get(env_key, "")
        if not value:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
        killed.append((tag, value))
        for _ in range(100):  # reaped by init once its parent is gone
            if not Path(f"/proc/{pid}").exists() or state(pid) == "Z":
                break
            time.sleep(0.01)
    return killed
