"""``labkit clean``: remove what clusters whose process is gone left behind (a kernel killed, a crash).

Plays the part of ``kubeadm reset`` (which removes what ``kubeadm init`` or ``join`` left on a node)
and of the kubelet's garbage collection of dead containers, for labkit's leftovers: the etcd members
and haproxy processes of clusters on etcd or with several control planes, the process runtime's pod
process groups and cgroups, the docker runtime's containers and networks, and the clusters' work
directories. Each leftover names the labkit process that made it (:mod:`labkit.owner`), so a running
cluster's things are never listed; a cluster start removes etcd's, haproxy's, its runtime's and the
work directories with the same functions. Only this account's processes and containers are seen (as
root, every account's), and only this account's work directories are removed.
Left out: address slots and network namespaces, which the kernel frees when their process ends.
"""

from __future__ import annotations

from collections.abc import Callable

from labkit import owner
from labkit.kubelet.runtime import process
from labkit.network import loadbalancer
from labkit.store import etcd_member


def leftovers(*, with_docker: bool = True) -> tuple[list[owner.Leftover], str]:
    """Every leftover, in the order they are removed (processes before the directories they used),
    and a note when Docker's could not be looked at."""
    found = [*etcd_member.leftovers(), *loadbalancer.leftovers(), *process.leftovers()]
    note = ""
    if with_docker:
        from labkit.cluster import docker_unavailable

        why_not = docker_unavailable()
        if why_not:
            note = f"docker containers and networks not looked at: {why_not}"
        else:
            from labkit.kubelet.runtime import docker

            found += docker.leftovers()
    found += owner.workdir_leftovers()
    seen: set[int] = set()  # an etcd member is also a process group: listed once, as what it is
    unique = []
    for leftover in found:
        if leftover.pid is not None:
            if leftover.pid in seen:
                continue
            seen.add(leftover.pid)
        unique.append(leftover)
    return unique, note


def clean(*, dry_run: bool = False, with_docker: bool = True, out: Callable[[str], None] = print) -> int:
    """Remove (with ``dry_run``, only list) every leftover, one line each, then one line of totals;
    returns how many could not be removed."""
    found, note = leftovers(with_docker=with_docker)
    if note:
        out(note)
    kept = 0
    for leftover in found:
        if dry_run:
            out(f"would remove {leftover}")
        elif leftover.remove():
            out(f"removed {leftover}")
        else:
            kept += 1
            out(f"left {leftover}: gone already, or still in use")
    if not found:
        out("labkit clean: nothing left behind by clusters whose process is gone")
    elif dry_run:
        out(f"labkit clean --dry-run: {len(found)} leftover(s) of clusters whose process is gone; "
            f"running clusters are not listed")
    else:
        out(f"labkit clean: removed {len(found) - kept} leftover(s) of clusters whose process is gone; "
            f"running clusters untouched")
    return kept
