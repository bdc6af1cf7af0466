"""Address slots: several labkit clusters on one machine, each with its own addresses.

A cluster's pod, Service and node addresses are real listening addresses (loopback on the process
runtime, a bridge on docker), so two clusters running at once (a notebook and a test, two
notebooks) must not share them. Each running cluster holds one *slot*: an exclusive ``flock`` on a
file in ``/tmp/labkit-slots`` (machine-wide, whatever ``TMPDIR`` says), released by the kernel when
the process ends, however it ends.
The slot number picks the cluster's ranges (:func:`labkit.network.cidr.address_plan`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

SLOTS = 8  # docker can have 10.200-10.207.0.0/16; the loopback plans fit as many


class NoFreeSlot(RuntimeError):
    pass


class Slot:
    """An exclusive claim on slot ``number`` for as long as it is held (``release()`` or process exit)."""

    def __init__(self, number: int, fd: int) -> None:
        self.number = number
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def acquire(*, only: int | None = None, directory: Path | None = None) -> Slot:
    """The lowest free slot (or exactly slot ``only``); :class:`NoFreeSlot` when none can be had."""
    base = Path(directory or "/tmp") / "labkit-slots"
    base.mkdir(exist_ok=True)
    for number in range(SLOTS) if only is None else (only,):
        fd = os.open(base / f"{number}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(number, fd)
    if only is not None:
        raise NoFreeSlot(f"this cluster's saved state uses address slot {only}, which another running labkit "
                         "cluster holds: stop that cluster first")
    raise NoFreeSlot(f"all {SLOTS} labkit address slots are in use: stop a running cluster first")
