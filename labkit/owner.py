"""Which labkit process owns a process that labkit started, so that a crashed cluster's leftovers can be found.

Every process a cluster starts outside its own (the process runtime's pods, etcd members, haproxy)
carries its owner in its environment: ``LABKIT_OWNER=<pid>:<start time>``, the cluster process's pid
and that pid's start time, so a reused pid is not mistaken for the owner. :func:`orphans` lists those
whose owner is gone; the next cluster start removes them. Only this user's processes are readable, so
nobody cleans up another's. A work directory a labkit process makes (:func:`make_workdir`) holds the
same tag in a file, so :func:`workdir_leftovers` finds the directories of processes that are gone.
Each kind of leftover (processes, containers, cgroups, directories) is a :class:`Leftover` that knows
how to remove itself: the next cluster start and ``labkit clean`` (:mod:`labkit.clean`) list and
remove them with the same functions. Nothing in Kubernetes: kubelets and kind find their leftovers by
container labels, which processes and directories do not have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

#: the environment variable that tags a process with the labkit process that owns it
OWNER_ENV = "LABKIT_OWNER"
#: the file in a work directory (:func:`make_workdir`) that holds its owner's tag
WORKDIR_OWNER = ".labkit-owner"
#: the prefix of every work directory labkit makes in the temporary directory
WORKDIR_PREFIX = "labkit-"


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


def orphan_leftovers(kind: str, env_key: str, remove_files: Callable[[Path, str], None]) -> list[Leftover]:
    """Each orphan whose environment sets ``env_key`` (a kind of process: an etcd member, a haproxy)
    to its folder, as a :class:`Leftover` whose removal kills it, then calls ``remove_files(folder,
    owner tag)``, which should check the folder is that owner's before removing anything."""
    def remove(pid: int, tag: str, folder: Path) -> bool:
        if not kill(pid):
            return False
        with contextlib.suppress(OSError):
            remove_files(folder, tag)
        return True

    return [Leftover(kind, f"pid {pid} (files in {environ[env_key]})", tag,
                     functools.partial(remove, pid, tag, Path(environ[env_key])), pid=pid)
            for pid, tag, environ in orphans() if environ.get(env_key)]


def kill(pid: int, *, group: bool = False) -> bool:
    """SIGKILL the process (its process group with ``group``) and wait until it is gone, so its files
    are closed; False if it was gone already."""
    try:
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        return False
    for _ in range(100):  # reaped by init once its parent is gone
        if not Path(f"/proc/{pid}").exists() or state(pid) == "Z":
            break
        time.sleep(0.01)
    return True


@dataclasses.dataclass(frozen=True)
class Leftover:
    """One thing a labkit process that is gone left behind, and how to remove it."""

    kind: str  # "etcd member", "docker container", "work directory" ...
    name: str  # which one, for a person
    owner: str  # the tag of the process that made it
    remove: Callable[[], bool] = dataclasses.field(compare=False, repr=False)  # False: gone already, or kept
    pid: int | None = None  # a process: the same one may be listed as two kinds of leftover

    def __str__(self) -> str:
        return f"{self.kind} {self.name} (its labkit process {self.owner.partition(':')[0]} is gone)"


def remove_all(leftovers: Iterable[Leftover]) -> int:
    """Remove each leftover, in order; how many were removed."""
    return sum(1 for leftover in leftovers if leftover.remove())


def make_workdir(prefix: str = WORKDIR_PREFIX) -> Path:
    """A new private directory in the temporary directory (``tempfile.mkdtemp``), tagged with this
    process as its owner. ``prefix`` starts with ``labkit-``."""
    assert prefix.startswith(WORKDIR_PREFIX), prefix
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    (workdir / WORKDIR_OWNER).write_text(OWNER)
    return workdir


def workdir_leftovers(tmp: Path | None = None) -> list[Leftover]:
    """This account's tagged work directories (in ``tmp``, the temporary directory by default) whose
    owner is gone. One is removed only once no process of its owner runs any more: the runtime's
    clean-up stops those first. A directory without a tag (another program's, an older labkit's) is
    never touched."""
    found = []
    for directory in sorted((tmp or Path(tempfile.gettempdir())).glob(f"{WORKDIR_PREFIX}*")):
        try:
            if directory.is_symlink() or not directory.is_dir() or directory.stat().st_uid != os.getuid():
                continue
            tag = (directory / WORKDIR_OWNER).read_text().strip()
        except OSError:
            continue
        if tag and not alive(tag):
            found.append(Leftover("work directory", str(directory), tag,
                                  functools.partial(_remove_workdir, directory, tag)))
    return found


def cleanup_workdirs() -> int:
    """Remove the work directories of labkit processes that are gone (see :func:`workdir_leftovers`)."""
    return remove_all(workdir_leftovers())


def _remove_workdir(directory: Path, tag: str) -> bool:
    if any(t == tag for _, t, _ in orphans()):
        return False
    shutil.rmtree(directory, ignore_errors=True)
    return not directory.exists()
