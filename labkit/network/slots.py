"""Address slots: several labkit clusters on one machine, each with its own addresses.

A cluster's pod, Service and node addresses are real listening addresses (loopback on the process
runtime, a bridge on docker), so two clusters running at once (a notebook and a test, two
notebooks, two accounts on a shared machine) must not share them. Each running cluster holds one
*slot*; the slot number picks the cluster's ranges (:func:`labkit.network.cidr.address_plan`).

Nothing in Kubernetes does this (a real cluster has hosts of its own); it works as an X server takes
display ``:N``, by binding a name in Linux's *abstract* Unix socket namespace
(``@labkit-address-slot/N``, as X binds ``@/tmp/.X11-unix/XN``), minus X's lock file. Only one socket
can hold a name, the kernel frees it when the process ends however it ends, a pod the cluster starts
does not inherit it (Python's sockets are close-on-exec), and an abstract name is no file: no mode
to get wrong, nothing another account could read, chmod or delete, no directory whose first creator
would own it, nothing left behind. The scope is a network namespace, the scope of the addresses a slot
guards: loopback addresses belong to one, dockerd's bridges to the host's. So a slot is taken with a
plain socket by the process running the cluster, in the host's namespace, never with a socket made
in a cluster's namespace of its own.

Left out: a labkit from before slots were sockets (it took ``flock`` on ``/tmp/labkit-slots/N.lock``,
a directory whose first user kept it to themselves) does not see these slots, nor they its; and a
labkit in another network namespace (in a container) sharing the host's Docker daemon.
"""

from __future__ import annotations

import errno
import socket

#: what bounds clusters side by side on one machine by address: each slot takes a /16 of loopback's
#: upper half and two /18s of ``10.128.0.0/10`` (:func:`labkit.network.cidr.address_plan`). Memory
#: bounds them sooner: see the instructor's guide's capacity table.
SLOTS = 128
NAME = "labkit-address-slot/"  # + the slot number, in the abstract namespace (a leading NUL byte)


class NoFreeSlot(RuntimeError):
    pass


class Slot:
    """An exclusive claim on slot ``number`` for as long as it is held (``release()`` or process exit)."""

    def __init__(self, number: int, sock: socket.socket) -> None:
        self.number = number
        self._sock: socket.socket | None = sock

    def release(self) -> None:
        if self._sock is not None:
            self._sock.close()  # closing the socket frees the name
            self._sock = None


def acquire(*, only: int | None = None, name: str = NAME) -> Slot:
    """The lowest free slot (or exactly slot ``only``); :class:`NoFreeSlot` when none can be had.
    ``name`` is the prefix of the slots' socket names (tests use their own, away from real clusters)."""
    for number in range(SLOTS) if only is None else (only,):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(f"\0{name}{number}")
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                continue
            raise OSError(e.errno, f"cannot take labkit address slot {number} (abstract Unix socket "
                                   f"@{name}{number}): {e.strerror}") from e
        return Slot(number, sock)
    held = f"`ss -xap | grep {name}` shows which processes hold slots"
    if only is not None:
        raise NoFreeSlot(f"this cluster's saved state uses address slot {only}, which another running labkit "
                         f"cluster holds (maybe another account's): stop that cluster first ({held})")
    raise NoFreeSlot(f"all {SLOTS} labkit address slots are in use: stop a running cluster first ({held})")
