"""One worker per pod: ``pkg/kubelet/pod_workers.go``.

Updates for a pod (from the informer, from the runtime's relist, from a timer) wake its worker;
the worker syncs the pod once per wake-up, never two syncs of one pod at a time, and each sync
first passes the kubelet's :class:`~labkit.workqueue.Gate` so a learner can pause and step the
kubelet. A worker ends when its pod is fully terminated. Left out: the terminating/terminated
bookkeeping kube keeps for pods that reappear with the same UID, and the pod-level back-off queue
(labkit's syncs return their own next wake-up time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.workqueue import Gate

log = logging.getLogger(__name__)
#: sync(worker) -> seconds until the next sync is due (None: only when woken), or "done"
SyncFn = Callable[["PodWorker"], Awaitable[float | None | str]]


class PodWorker:
    """The latest known pod and a wake-up flag; ``state`` belongs to the kubelet's sync."""

    def __init__(self, uid: str, pod: Obj, state: Any) -> None:
        self.uid = uid
        self.pod = pod
        self.deleted = False  # gone from the API server (the informer's DELETED)
        self.state = state
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class PodWorkers:
    def __init__(self, *, gate: Gate, sync: SyncFn, new_state: Callable[[Obj], Any], retry_after: float = 1.0) -> None:
        self.gate = gate
        self.sync = sync
        self.new_state = new_state
        self.retry_after = retry_after
        self.workers: dict[str, PodWorker] = {}
        self.stopped = False

    def changed(self, old: Obj, new: Obj) -> None:
        """An informer update: wake the worker only if more than the status changed (kube's pod config
        ignores status-only updates, so the kubelet's own status writes do not resync the pod)."""
        if _without_status(old) == _without_status(new) and new["metadata"]["uid"] in self.workers:
            self.workers[new["metadata"]["uid"]].pod = new
        else:
            self.update(new)

    def update(self, pod: Obj, *, deleted: bool = False) -> None:
        """``UpdatePod``: hand the worker the newest pod and wake it (start one for a new pod)."""
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is None:
            if deleted or self.stopped:  # an update that arrives while the kubelet stops starts nothing
                return
            worker = self.workers[uid] = PodWorker(uid, pod, self.new_state(pod))
            worker.task = asyncio.get_running_loop().create_task(self._loop(worker), name=f"podworker:{uid}")
        worker.pod = pod
        worker.deleted = worker.deleted or deleted
        worker.wake.set()

    def wake(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.wake.set()

    async def _loop(self, worker: PodWorker) -> None:
        due: float | None = 0.0
        try:
            while True:
                timeout = None if due is None else max(due - time.monotonic(), 0)
                try:
                    await asyncio.wait_for(worker.wake.wait(), timeout)
                except TimeoutError:
                    pass
                worker.wake.clear()
                await self.gate.wait_turn()
                try:
                    result = await self.sync(worker)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("sync of pod %s failed", worker.pod["metadata"].get("name"))
                    result = self.retry_after
                if result == "done":
                    return
                due = None if result is None else time.monotonic() + float(result)
        finally:
            self.workers.pop(worker.uid, None)

    async def stop(self) -> None:
        self.stopped = True
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _without_status(pod: Obj) -> Obj:
    meta = {k: v for k, v in pod["metadata"].items() if k not in ("resourceVersion", "managedFields", "generation")}
    return {**pod, "metadata": meta, "status": None}
