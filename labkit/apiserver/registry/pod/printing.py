"""The pod's Table: ``printPod`` (``pkg/printers/internalversion/printers.go``).

:data:`COLUMNS` are the columns after Name, as ``kubectl get pods [-o wide]`` shows them;
:func:`pod_cells` fills one row. The Status cell is the phase, or the reason of the most telling
container state (:func:`pod_row_summary`); Restarts counts restarts with the time since the last
one, sidecars (init containers with ``restartPolicy: Always``) included.

Left out: the row ``conditions`` kube adds to a Succeeded or Failed pod's row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj, find_status_condition
from labkit.apimachinery.timeutil import parse_time
from labkit.apiserver.strategy import AGE_COLUMN, Column, age, human_duration, list_of_dicts

COLUMNS = (
    Column("Ready", description="Ready containers out of all containers."),
    Column("Status", description="The phase, or the most telling container state."),
    Column("Restarts", description="Container restarts, and how long ago the last one was."),
    AGE_COLUMN,
    Column("IP", priority=1, description="The pod's first IP address."),
    Column("Node", priority=1, description="The node the pod is bound to."),
    Column("Nominated Node", priority=1, description="The node the scheduler preempted for this pod."),
    Column("Readiness Gates", priority=1, description="Readiness gates that are true, out of all."),
)


def _sidecars(spec: Obj) -> set[str]:
    """Init containers with ``restartPolicy: Always`` keep running beside the app containers."""
    return {c.get("name", "") for c in list_of_dicts(spec.get("initContainers")) if c.get("restartPolicy") == "Always"}


def _condition(status: Obj, kind: str) -> Obj:
    return find_status_condition(status.get("conditions"), kind) or {}


def _condition_true(status: Obj, kind: str) -> bool:
    return _condition(status, kind).get("status") == "True"


def _last_finished(cs: Obj) -> str:
    return ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt", "")


def _exit_reason(terminated: Obj) -> str:
    if terminated.get("reason"):
        return terminated["reason"]
    return f"Signal:{terminated['signal']}" if terminated.get("signal") else f"ExitCode:{terminated.get('exitCode', 0)}"


def pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    ips = list_of_dicts(status.get("podIPs"))
    return ips[0].get("ip", "") if ips else status.get("podIP", "")


def pod_row_summary(pod: Obj) -> tuple[str, str, int, str]:
    """``(ready, status, restarts, last restart finishedAt)`` as ``printPod`` computes them.

    The status is the phase, or the reason of the most telling container state: ``Init:1/2``,
    ``ContainerCreating``, ``CrashLoopBackOff``, ``Completed``, ``Error``, ``Terminating`` ..."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    sidecars = _sidecars(spec)
    total = len(list_of_dicts(spec.get("containers"))) + len(sidecars)
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last_restart = ""  # RFC 3339 strings compare in time order
    reason = status.get("reason") or status.get("phase", "")
    if _condition(status, "PodScheduled").get("reason") == "SchedulingGated":
        reason = "SchedulingGated"

    initializing = False
    n_init = len(list_of_dicts(spec.get("initContainers")))
    for i, cs in enumerate(list_of_dicts(status.get("initContainerStatuses"))):
        state = cs.get("state") or {}
        restarts += cs.get("restartCount", 0)
        last_restart = max(last_restart, _last_finished(cs))
        sidecar = cs.get("name") in sidecars
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            sidecar_last_restart = max(sidecar_last_restart, _last_finished(cs))
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            reason = "Init:" + _exit_reason(terminated)
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        for cs in reversed(list_of_dicts(status.get("containerStatuses"))):
            state = cs.get("state") or {}
            restarts += cs.get("restartCount", 0)
            last_restart = max(last_restart, _last_finished(cs))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _exit_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    deleting = bool(pod.get("metadata", {}).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return f"{ready}/{total}", reason, restarts, last_restart


def pod_cells(pod: Obj, now: dt.datetime) -> list[Any]:
    """One row's cells after Name, one per entry of :data:`COLUMNS`."""
    ready, reason, restarts, last_restart = pod_row_summary(pod)
    finished = parse_time(last_restart)
    restarts_cell = f"{restarts} ({human_duration((now - finished).total_seconds())} ago)" \
        if restarts and finished else str(restarts)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    gates = list_of_dicts(spec.get("readinessGates"))
    gates_cell = "<none>"
    if gates:
        true = sum(1 for g in gates if _condition_true(status, g.get("conditionType", "")))
        gates_cell = f"{true}/{len(gates)}"
    return [ready, reason, restarts_cell, age(pod, now), pod_ip(pod) or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_cell]
