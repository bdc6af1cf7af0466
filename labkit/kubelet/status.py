"""Pod status: computed from what the runtime reports, then written through ``pods/NAME/status``.

Mirrors ``pkg/kubelet/kubelet_pods.go`` (``generateAPIPodStatus``, ``getPhase``,
``convertToAPIContainerStatuses``), ``pkg/kubelet/status/generate.go`` (the Initialized,
ContainersReady, Ready and PodReadyToStartContainers conditions) and ``pkg/kubelet/status/
status_manager.go`` (write only on change, keep ``lastTransitionTime`` of unchanged conditions, keep
the fields others own, retry on conflict). Left out: readiness gates, pod resize status,
ephemeral containers, sidecar (restartable init) containers, the status manager's batching.
"""

from __future__ import annotations

import dataclasses
import logging

from labkit import codec
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import now_utc, rfc3339, unix
from labkit.client import APIStatusError, Client, resource_path
from labkit.kubelet.runtime import ContainerStatus

log = logging.getLogger(__name__)
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


@dataclasses.dataclass
class ContainerView:
    """What the kubelet knows of one container of the pod spec."""

    spec: Obj
    current: ContainerStatus | None = None
    previous: ContainerStatus | None = None
    waiting: tuple[str, str] | None = None  # (reason, message) while not running: CrashLoopBackOff, ErrImagePull ...
    ready: bool = False
    started: bool = False


def _terminated(c: ContainerStatus, runtime: str) -> Obj:
    out = {"exitCode": c.exit_code, "reason": c.reason or ("Completed" if c.exit_code == 0 else "Error"),
           "startedAt": rfc3339(unix(c.started_at or c.created_at)), "finishedAt": rfc3339(unix(c.finished_at)),
           "containerID": f"{runtime}://{c.id}"}
    if c.message:
        out["message"] = c.message
    return out


def container_status(view: ContainerView, *, runtime: str, default_waiting: str) -> Obj:
    """One entry of ``containerStatuses``/``initContainerStatuses``."""
    spec, cur = view.spec, view.current
    status: Obj = {"name": spec["name"], "image": spec.get("image", ""), "imageID": "", "ready": view.ready,
                   "restartCount": cur.attempt if cur else 0, "started": view.started, "lastState": {}}
    if cur is not None:
        status["imageID"] = cur.image_ref
        status["containerID"] = f"{runtime}://{cur.id}"
    if view.previous is not None:
        status["lastState"] = {"terminated": _terminated(view.previous, runtime)}
    if view.waiting is not None:
        reason, message = view.waiting
        status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if cur is not None and cur.state == "exited":  # waiting to restart: the dead attempt is the last state
            status["lastState"] = {"terminated": _terminated(cur, runtime)}
    elif cur is None or cur.state == "created":
        status["state"] = {"waiting": {"reason": default_waiting}}
    elif cur.state == "running":
        status["state"] = {"running": {"startedAt": rfc3339(unix(cur.started_at))}}
    else:
        status["state"] = {"terminated": _terminated(cur, runtime)}
    return status


def phase(spec: Obj, init: list[Obj], regular: list[Obj]) -> str:
    """``getPhase``: Pending until init containers succeed and every container has started once."""
    policy = spec.get("restartPolicy", "Always")
    for s in init:
        term = s["state"].get("terminated")
        if term is None or term["exitCode"] != 0:
            if policy == "Never" and (term or (s["lastState"].get("terminated") and "waiting" not in s["state"])):
                return "Failed"
            return "Pending"
    running = stopped = succeeded = waiting = 0
    for s in regular:
        state, last = s["state"], s["lastState"].get("terminated")
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif last is not None:
            stopped += 1
            succeeded += last["exitCode"] == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if policy == "Never" else "Running"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        cond["reason"] = reason
    if not ok and message:
        cond["message"] = message
    return cond


def conditions(*, sandbox_ready: bool, init: list[Obj], regular: list[Obj], pod_phase: str) -> list[Obj]:
    """The kubelet's pod conditions (``generate.go``), in the order kube lists them."""
    unready_init = [s["name"] for s in init if not s["ready"]]
    unready = [s["name"] for s in regular if not s["ready"]]
    done = pod_phase == "Succeeded"
    names = " ".join(unready)
    ready_args = ("PodCompleted", "") if done else ("ContainersNotReady", f"containers with unready status: [{names}]")
    return [
        _condition("PodReadyToStartContainers", sandbox_ready),
        _condition("Initialized", not unready_init or done, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(unready_init)}]"),
        _condition("Ready", not unready and not done and pod_phase == "Running", *ready_args),
        _condition("ContainersReady", not unready and not done and pod_phase == "Running", *ready_args),
        _condition("PodScheduled", True),
    ]


def merge_status(old: Obj, new: Obj, now: str) -> Obj:
    """``new`` on top of ``old``: keep fields the kubelet does not own and unchanged conditions' transition times."""
    merged = codec.clone(old)
    merged.update(new)
    old_conds = {c["type"]: c for c in old.get("conditions") or []}
    conds = [c for c in old.get("conditions") or [] if c["type"] not in KUBELET_CONDITIONS]
    for cond in new.get("conditions", []):
        prev = old_conds.get(cond["type"])
        if cond["type"] == "PodScheduled" and prev is not None:
            conds.append(prev)  # the scheduler's condition stays as it wrote it
            continue
        same = prev is not None and prev.get("status") == cond["status"]
        conds.append({**cond, "lastTransitionTime": prev.get("lastTransitionTime", now) if same and prev else now})
    merged["conditions"] = conds
    return merged


def _without_times(status: Obj) -> Obj:
    return {**status, "conditions": [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                                     for c in status.get("conditions") or []]}


class StatusManager:
    """Writes pod statuses for one kubelet (``status_manager.go``'s ``SetPodStatus`` + ``syncPod``)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def set_status(self, pod: Obj, status: Obj, *, attempts: int = 5) -> Obj | None:
        """Write ``status`` if it changes the pod; returns the pod as written (None if it is gone)."""
        meta = pod["metadata"]
        path = resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"], subresource="status")
        now = rfc3339(now_utc())
        for _ in range(attempts):
            merged = merge_status(pod.get("status") or {}, status, now)
            if _without_times(merged) == _without_times(pod.get("status") or {}):
                return pod
            try:
                return await self.client.update(path, {**pod, "status": merged})
            except APIStatusError as e:
                if e.code == 404:
                    return None
                if e.code != 409:
                    raise
                pod = await self.client.get(resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"]))
                if pod["metadata"]["uid"] != meta["uid"]:
                    return None
        log.warning("status of pod %s/%s not written after %d conflicts", meta["namespace"], meta["name"], attempts)
        return pod
