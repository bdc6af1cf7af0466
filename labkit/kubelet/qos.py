"""The OOM score the kubelet gives a container's processes, by its pod's QoS class.

Mirrors ``pkg/kubelet/qos/policy.go`` (``GetContainerOOMScoreAdjust``): Guaranteed -997, BestEffort
1000, Burstable ``1000 - 1000 * memory request / node memory``, kept within 3..999 so a Burstable
container always ranks between the other two. The kernel's OOM killer, when the node runs out of
memory, picks the process with the highest ``oom_score`` (its share of memory, in thousandths, plus
this adjustment).

Lowering a process's ``oom_score_adj`` takes CAP_SYS_RESOURCE in the machine's user namespace, which
a labkit in a container (or without root) may lack: runc then fails to start the container at all.
:func:`lowest_oom_score_adj` finds what is allowed here, and the kubelet asks for no less.

Left out: node-critical pods (also -997), the sidecar rule, pod-level resources.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.podutil import qos_class
from labkit.apimachinery.resource import to_bytes

GUARANTEED_OOM_SCORE_ADJ = -997
BESTEFFORT_OOM_SCORE_ADJ = 1000


def container_oom_score_adjust(pod: Obj, container: Obj, memory_capacity: int) -> int:
    """``oom_score_adj`` for ``container`` of ``pod`` on a node of ``memory_capacity`` bytes."""
    qos = qos_class(pod.get("spec") or {})
    if qos == "Guaranteed":
        return GUARANTEED_OOM_SCORE_ADJ
    if qos == "BestEffort":
        return BESTEFFORT_OOM_SCORE_ADJ
    request = to_bytes(((container.get("resources") or {}).get("requests") or {}).get("memory", 0))
    adjust = 1000 - (1000 * request) // memory_capacity if memory_capacity > 0 else BESTEFFORT_OOM_SCORE_ADJ
    return min(max(adjust, 1000 + GUARANTEED_OOM_SCORE_ADJ), BESTEFFORT_OOM_SCORE_ADJ - 1)


@functools.cache
def lowest_oom_score_adj() -> int:
    """The lowest ``oom_score_adj`` a process started from here may have: -1000 where it may be lowered
    (a child process tries), else this process's own."""
    lowered = subprocess.run(["/bin/sh", "-c", "echo -1000 >/proc/self/oom_score_adj"], capture_output=True,
                             check=False).returncode == 0
    return -1000 if lowered else int(Path("/proc/self/oom_score_adj").read_text())
