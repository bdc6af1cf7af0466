"""The CronJob controller: create a Job each time a schedule comes due (``pkg/controller/cronjob``,
``cronjob_controllerv2.go``).

``syncCronJob``: first bring ``status.active`` up to date with the CronJob's Jobs (a finished one
leaves it, "SawCompletedJob"; a missing one too, "MissingJob"; ``lastSuccessfulTime`` follows the
newest completed Job). Then, unless the CronJob is suspended or being deleted, find the most recent
schedule time not yet run (``mostRecentScheduleTime``: since ``lastScheduleTime``, or the creation,
or at most ``startingDeadlineSeconds`` back; more than 100 missed times are reported
"TooManyMissedTimes") and, if it is not too late (else "MissSchedule"), apply the concurrency policy:
``Allow`` runs Jobs side by side, ``Forbid`` skips while one is active ("JobAlreadyActive"; the missed
time runs once the active Job is done, if still within the deadline), ``Replace`` deletes the active
Jobs first ("SuccessfulDelete"). The Job is named ``<cronjob>-<scheduled time in minutes since the
epoch>`` (so a second sync cannot run the same time twice), owned by the CronJob, annotated with
``batch.kubernetes.io/cronjob-scheduled-timestamp`` ("SuccessfulCreate" "Created job X"). Finished
Jobs beyond ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit`` are deleted, oldest first.
The key comes back when the next time is due (``nextScheduleTimeDuration``).

Time comes from the controller's ``clock`` (``labkit/clock.py``), as in kube. A lesson or test that
wants minutes to pass in seconds gives it a faster one: ``ControllerManagerConfig(cronjob_clock_speed=60)``
runs it on a :class:`~labkit.clock.ScaledClock`, so ``* * * * *`` fires every real second; the
timestamps it reads (a CronJob's creation, a Job's completion, written by the API server in real
time) are read on that clock (``Clock.from_real``), and the ones it writes are its own.
Schedules are parsed by ``labkit/apimachinery/cron.py``. Left out: the ``UnexpectedJob`` event for a
Job the controller did not create (``kubectl create job --from=cronjob/...`` makes such Jobs; they are
left alone and show in the history like others).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.cron import CronError, Schedule, load_zone, parse_standard
from labkit.apimachinery.meta import Obj, get_controller_of, new_controller_ref
from labkit.apimachinery.timeutil import parse_time, rfc3339
from labkit.client import APIStatusError, Client, resource_path
from labkit.clock import REAL, Clock, ScaledClock
from labkit.controllers.base import CONTROLLER_UID_INDEX, Controller, Result, SharedInformers, controller_uid_index
from labkit.controllers.config import ControllerManagerConfig
from labkit.informer import Informer

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100
NEXT_SCHEDULE_DELTA = 0.1  # nextScheduleDelta: look again just after the time is due


def job_name(cronjob: str, scheduled: dt.datetime) -> str:
    """``getJobName``: the scheduled time in minutes since the epoch (``getTimeHashInMinutes``)."""
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


def finished(job: Obj) -> str | None:
    """``Complete`` or ``Failed`` once the Job has that condition, else None (``IsJobFinished``)."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def most_recent_schedule(cj: Obj, schedule: Schedule, zone: dt.tzinfo, now: dt.datetime,
                         clock: Clock = REAL) -> tuple[dt.datetime | None, int]:
    """``mostRecentScheduleTime``: the latest time due at ``now`` that has not run, and how many were
    missed on the way (None, 0 when nothing is due). The creation time is read on ``clock``."""
    status = cj.get("status") or {}
    created = parse_time(cj["metadata"].get("creationTimestamp"))
    earliest = parse_time(status.get("lastScheduleTime")) or (None if created is None else clock.from_real(created))
    if earliest is None:
        return None, 0
    deadline = cj["spec"].get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, now - dt.timedelta(seconds=deadline))
    latest, missed = None, 0
    t = schedule.next(earliest, zone)
    while t is not None and t <= now:
        latest, missed = t, missed + 1
        t = schedule.next(t, zone)
    return latest, missed


class CronJobController(Controller):
    name = "cronjob-controller"
    resource = "cronjobs"

    def __init__(self, client: Client, *, informers: SharedInformers | None = None,
                 config: ControllerManagerConfig | None = None, clock: Clock = REAL) -> None:
        config = config or ControllerManagerConfig()
        if clock is REAL and config.cronjob_clock_speed != 1.0:
            clock = ScaledClock(config.cronjob_clock_speed)
        super().__init__(client, informers=informers, config=config, clock=clock)

    @property
    def cronjobs(self) -> Informer:
        return self.informer("batch/v1", "cronjobs")

    @property
    def jobs(self) -> Informer:
        return self.informer("batch/v1", "jobs")

    def register(self) -> None:
        self.cronjobs.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                   on_delete=self.enqueue)
        self.jobs.add_handlers(on_add=self._job_changed, on_update=lambda _o, n: self._job_changed(n),
                               on_delete=self._job_changed)
        self.jobs.add_indexer(CONTROLLER_UID_INDEX, controller_uid_index)

    def _job_changed(self, job: Obj) -> None:
        ref = get_controller_of(job)
        if ref is not None and ref.get("kind") == "CronJob":
            self.queue.add(f"{job['metadata']['namespace']}/{ref['name']}")

    async def sync(self, key: str) -> Result | None:
        cj = self.cronjobs.get(key)
        if cj is None:
            return None
        now = self.clock.now()
        status: Obj = dict(cj.get("status") or {})
        jobs = self.jobs.by_index(CONTROLLER_UID_INDEX, cj["metadata"]["uid"])
        self._reconcile_active(cj, status, jobs)
        result = await self._schedule(cj, status, now)
        await self._cleanup_finished(cj, status, jobs)
        if status != (cj.get("status") or {}):
            await self.client.update(resource_path("batch/v1", "cronjobs", namespace=cj["metadata"]["namespace"],
                                                   name=cj["metadata"]["name"], subresource="status"),
                                     {**cj, "status": status})
        return result

    def _reconcile_active(self, cj: Obj, status: Obj, jobs: list[Obj]) -> None:
        """The active list holds the unfinished Jobs; ``lastSuccessfulTime`` the newest completion."""
        active = list(status.get("active") or [])
        uids = {j["metadata"]["uid"] for j in jobs}
        for job in jobs:
            outcome = finished(job)
            if outcome is None:
                continue
            if any(ref.get("uid") == job["metadata"]["uid"] for ref in active):
                active = [ref for ref in active if ref.get("uid") != job["metadata"]["uid"]]
                self.recorder.event(cj, "Normal", "SawCompletedJob",
                                    f"Saw completed job: {job['metadata']['name']}, status: {outcome}")
            completed = parse_time((job.get("status") or {}).get("completionTime"))
            if outcome != "Complete" or completed is None:
                continue
            completed = self.clock.from_real(completed)
            last = parse_time(status.get("lastSuccessfulTime"))
            if last is None or completed > last:
                status["lastSuccessfulTime"] = rfc3339(completed)
        for ref in list(active):
            if ref.get("uid") not in uids and self.jobs.get(f"{ref.get('namespace')}/{ref.get('name')}") is None:
                active.remove(ref)
                self.recorder.event(cj, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    def _requeue(self, schedule: Schedule, zone: dt.tzinfo, now: dt.datetime) -> Result | None:
        upcoming = schedule.next(now, zone)
        if upcoming is None:
            return None
        return Result(requeue_after=(upcoming - now).total_seconds() + NEXT_SCHEDULE_DELTA)

    async def _schedule(self, cj: Obj, status: Obj, now: dt.datetime) -> Result | None:
        """Create the Job of the most recent unmet time, as the concurrency policy allows."""
        spec = cj["spec"]
        if cj["metadata"].get("deletionTimestamp") or spec.get("suspend"):
            return None
        try:
            zone = load_zone(spec.get("timeZone"))
        except CronError as e:
            self.recorder.event(cj, "Warning", "UnknownTimeZone", f"invalid timeZone: {spec.get('timeZone')!r}: {e}")
            return None
        try:
            schedule = parse_standard(spec.get("schedule", ""))
        except CronError as e:
            self.recorder.event(cj, "Warning", "UnparseableSchedule",
                                f"unparseable schedule: \"{spec.get('schedule', '')}\" : {e}")
            return None
        scheduled, missed = most_recent_schedule({**cj, "status": status}, schedule, zone, now, self.clock)
        if scheduled is None:
            return self._requeue(schedule, zone, now)
        if missed > TOO_MANY_MISSED:
            self.recorder.event(cj, "Warning", "TooManyMissedTimes",
                                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or "
                                "check clock skew")
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + dt.timedelta(seconds=deadline) < now:
            self.recorder.event(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: "
                                + scheduled.astimezone(zone).strftime("%a, %d %b %Y %H:%M:%S %z"))
            return self._requeue(schedule, zone, now)
        name = job_name(cj["metadata"]["name"], scheduled)
        active = list(status.get("active") or [])
        if any(ref.get("name") == name for ref in active) or status.get("lastScheduleTime") == rfc3339(scheduled):
            return self._requeue(schedule, zone, now)
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            self.recorder.event(cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is "
                                                                  "running and concurrency policy is Forbid")
            return self._requeue(schedule, zone, now)
        if policy == "Replace":
            for ref in active:
                await self._delete_job(cj, ref["name"])
            active = []
        job = await self._create_job(cj, name, scheduled, zone)
        if job is not None:
            active.append({"kind": "Job", "namespace": job["metadata"]["namespace"], "name": name,
                           "uid": job["metadata"]["uid"], "apiVersion": "batch/v1",
                           "resourceVersion": job["metadata"]["resourceVersion"]})
        if active:
            status["active"] = active
        else:
            status.pop("active", None)
        status["lastScheduleTime"] = rfc3339(scheduled)
        return self._requeue(schedule, zone, now)

    async def _create_job(self, cj: Obj, name: str, scheduled: dt.datetime, zone: dt.tzinfo) -> Obj | None:
        """``getJobFromTemplate2`` and its create; a Job of that name already ours is taken as created."""
        template = cj["spec"].get("jobTemplate") or {}
        meta = template.get("metadata") or {}
        ns = cj["metadata"]["namespace"]
        body: Obj = {"apiVersion": "batch/v1", "kind": "Job",
                     "metadata": {"name": name, "namespace": ns, "labels": dict(meta.get("labels") or {}),
                                  "annotations": {**(meta.get("annotations") or {}),
                                                  SCHEDULED_TIMESTAMP: scheduled.astimezone(zone).isoformat()
                                                  .replace("+00:00", "Z")},
                                  "ownerReferences": [new_controller_ref(cj, kind="CronJob", api_version="batch/v1")]},
                     "spec": dict(template.get("spec") or {})}
        try:
            job: Obj = await self.client.create(resource_path("batch/v1", "jobs", namespace=ns), body)
        except APIStatusError as e:
            if e.code != 409:
                self.recorder.event(cj, "Warning", "FailedCreate", f"Error creating job: {e.status.get('message', e)}")
                raise
            existing: Obj = await self.client.get(resource_path("batch/v1", "jobs", namespace=ns, name=name))
            return existing if (get_controller_of(existing) or {}).get("uid") == cj["metadata"]["uid"] else None
        self.recorder.event(cj, "Normal", "SuccessfulCreate", f"Created job {name}")
        return job

    async def _delete_job(self, cj: Obj, name: str) -> bool:
        """``deleteJob``: in the background (the garbage collector takes its pods)."""
        try:
            await self.client.delete(resource_path("batch/v1", "jobs", namespace=cj["metadata"]["namespace"],
                                                   name=name),
                                     {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        except APIStatusError as e:
            if e.code != 404:
                self.recorder.event(cj, "Warning", "FailedDelete", f"Deleted job: {e.status.get('message', e)}")
                raise
            return False
        self.recorder.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")
        return True

    async def _cleanup_finished(self, cj: Obj, status: Obj, jobs: list[Obj]) -> None:
        """``cleanupFinishedJobs``: keep the newest finished Jobs up to each history limit."""
        spec = cj["spec"]
        active = {ref.get("uid") for ref in status.get("active") or []}
        for outcome, limit in (("Complete", spec.get("successfulJobsHistoryLimit")),
                               ("Failed", spec.get("failedJobsHistoryLimit"))):
            if limit is None:
                continue
            done = [j for j in jobs if finished(j) == outcome and j["metadata"]["uid"] not in active
                    and not j["metadata"].get("deletionTimestamp")]
            done.sort(key=self._started)
            for job in done[:max(len(done) - limit, 0)]:
                await self._delete_job(cj, job["metadata"]["name"])

    @staticmethod
    def _started(job: Obj) -> Any:
        """``byJobStartTime``: jobs without a start time last, then by start time, then by name."""
        start = (job.get("status") or {}).get("startTime")
        return (start is None, start or "", job["metadata"]["name"])
