"""Pod workers: one sync at a time per pod, and nothing left running once they are stopped."""

from __future__ import annotations

import asyncio

from labkit.kubelet.podworkers import PodWorker, PodWorkers
from labkit.workqueue import Gate


def pod(uid: str) -> dict:
    return {"metadata": {"uid": uid, "name": uid, "namespace": "default"}, "spec": {}}


def test_an_update_after_stop_starts_no_worker() -> None:
    """The informer may deliver while the kubelet stops: that must not leave a task behind."""

    async def run() -> tuple[list[str], set[asyncio.Task], dict]:
        synced: list[str] = []

        async def sync(worker: PodWorker) -> None:
            synced.append(worker.uid)

        workers = PodWorkers(gate=Gate("kubelet"), sync=sync, new_state=lambda p: None)
        workers.update(pod("a"))
        await asyncio.sleep(0.01)
        await workers.stop()
        workers.update(pod("b"))
        await asyncio.sleep(0.01)
        return synced, asyncio.all_tasks() - {asyncio.current_task()}, workers.workers

    synced, pending, left = asyncio.run(run())
    assert synced == ["a"] and not pending and not left
