"""The Job controller: run pods until enough succeed, or give up (``pkg/controller/job``).

``syncJob``: count the Job's pods (owned through ``controllerRef``) as active, succeeded and failed;
when ``failed`` exceeds ``backoffLimit`` or the Job ran past ``activeDeadlineSeconds``, delete the
active pods and add the ``Failed`` condition (``BackoffLimitExceeded`` / ``DeadlineExceeded``); once
``succeeded`` reaches ``completions`` (or, without completions, a pod succeeded and none is left
running) add ``Complete`` (``CompletionsReached``) and ``completionTime``. Otherwise keep
``min(parallelism, completions - succeeded)`` pods active, created in slow-start batches as the
ReplicaSet controller does. Kube counts finished pods through the ``batch.kubernetes.io/job-tracking``
finalizer so deleting them loses nothing; labkit counts the pods it sees and never lets a count go
down. Left out: the pod failure back-off (10 s doubling), Indexed jobs, pod failure / success
policies, ``suspend``, ``ttlSecondsAfterFinished`` (a controller of its own), orphan adoption.
"""

from __future__ import annotations

from typing import Any

from labkit.apimachinery.meta import Obj, get_controller_of, new_controller_ref
from labkit.apimachinery.podutil import is_pod_ready
from labkit.apimachinery.timeutil import parse_time, rfc3339
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import CONTROLLER_UID_INDEX, Controller, Result, controller_uid_index
from labkit.controllers.replicaset import Expectations, pod_from_template, slow_start_batch
from labkit.informer import Informer, key_of


def finished_condition(kind: str, reason: str, message: str, now: str) -> Obj:
    return {"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


class JobController(Controller):
    name = "job-controller"
    resource = "jobs"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expectations = Expectations(self.clock)

    @property
    def jobs(self) -> Informer:
        return self.informer("batch/v1", "jobs")

    @property
    def pods(self) -> Informer:
        return self.informer("v1", "pods")

    def register(self) -> None:
        self.jobs.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.pods.add_handlers(on_add=lambda p: self._pod_event(p, added=True),
                               on_update=lambda _o, p: self._pod_event(p),
                               on_delete=lambda p: self._pod_event(p, deleted=True))
        self.pods.add_indexer(CONTROLLER_UID_INDEX, controller_uid_index)

    def _pod_event(self, pod: Obj, *, added: bool = False, deleted: bool = False) -> None:
        ref = get_controller_of(pod)
        if ref is None or ref.get("kind") != "Job":
            return
        key = f"{pod['metadata']['namespace']}/{ref['name']}"
        if added:
            self.expectations.creation_observed(key)
        if deleted or pod["metadata"].get("deletionTimestamp"):
            self.expectations.deletion_observed(key, key_of(pod))
        self.queue.add(key)

    async def sync(self, key: str) -> Result | None:
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            return None
        status = dict(job.get("status") or {})
        if any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in status.get("conditions") or []):
            return None
        spec, uid = job["spec"], job["metadata"]["uid"]
        pods = self.pods.by_index(CONTROLLER_UID_INDEX, uid)
        active = [p for p in pods if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
                  and not p["metadata"].get("deletionTimestamp")]
        succeeded = max(status.get("succeeded", 0), sum(p.get("status", {}).get("phase") == "Succeeded" for p in pods))
        failed = max(status.get("failed", 0), sum(p.get("status", {}).get("phase") == "Failed" for p in pods))
        now = self.clock.now()
        status.setdefault("startTime", rfc3339(now))
        started = parse_time(status["startTime"])
        deadline = spec.get("activeDeadlineSeconds")
        completions = spec.get("completions")
        finished, created = None, 0
        if failed > spec.get("backoffLimit", 6):
            finished = finished_condition("Failed", "BackoffLimitExceeded",
                                          "Job has reached the specified backoff limit", rfc3339(now))
        elif deadline is not None and started is not None and (now - started).total_seconds() >= deadline:
            finished = finished_condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline",
                                          rfc3339(now))
        elif (completions is not None and succeeded >= completions) \
                or (completions is None and succeeded and not active):
            finished = finished_condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods",
                                          rfc3339(now))
        if finished is not None:
            await self._delete_pods(job, active)
            active = []
            status["conditions"] = [*(status.get("conditions") or []), finished]
            if finished["type"] == "Complete":
                status["completionTime"] = finished["lastTransitionTime"]
                self.recorder.event(job, "Normal", "Completed", "Job completed")
            else:
                self.recorder.event(job, "Warning", finished["reason"], finished["message"])
        elif self.expectations.satisfied(key):
            want = spec.get("parallelism", 1)
            if completions is not None:
                want = min(want, completions - succeeded)
            elif succeeded:
                want = 0
            if len(active) < want:  # manageJob: the status counts the pods just created, and not those deleted
                created = await self._create_pods(key, job, want - len(active))
            elif len(active) > want:
                await self._delete_pods(job, active[want:])
                active = active[:want]
        status.update(active=len(active) + created, succeeded=succeeded, failed=failed,
                      ready=sum(1 for p in active if is_pod_ready(p)))
        if status != (job.get("status") or {}):
            await self.client.update(resource_path("batch/v1", "jobs", namespace=job["metadata"]["namespace"],
                                                   name=job["metadata"]["name"], subresource="status"),
                                     {**job, "status": status})
        if finished is None and deadline is not None and started is not None:
            return Result(requeue_after=max(deadline - (now - started).total_seconds(), 0.05))
        return None

    async def _create_pods(self, key: str, job: Obj, count: int) -> int:
        """Create ``count`` pods in slow-start batches; how many were created (a failure is raised)."""
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        body = pod_from_template(job["spec"]["template"], generate_name=f"{name}-", namespace=ns,
                                 owner_ref=new_controller_ref(job, kind="Job", api_version="batch/v1"))
        self.expectations.expect(key, adds=count)

        async def create() -> None:
            try:
                pod = await self.client.create(resource_path("v1", "pods", namespace=ns), body)
            except APIStatusError as e:
                self.expectations.creation_failed(key)
                self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {e.status.get('message', e)}")
                raise
            self.recorder.event(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

        try:
            return await slow_start_batch(count, create)
        except BaseException:
            self.expectations.expect(key)
            raise

    async def _delete_pods(self, job: Obj, pods: list[Obj]) -> None:
        for pod in pods:
            try:
                await self.client.delete(resource_path("v1", "pods", namespace=pod["metadata"]["namespace"],
                                                       name=pod["metadata"]["name"]))
            except APIStatusError as e:
                if e.code != 404:
                    raise
            self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
