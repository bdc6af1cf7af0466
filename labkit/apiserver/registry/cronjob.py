"""The CronJob strategy (``pkg/registry/batch/cronjob``).

Mirrors ``SetDefaults_CronJob`` (``pkg/apis/batch/v1/defaults.go``: ``concurrencyPolicy: Allow``,
``suspend: false``, history limits 3 successful and 1 failed; the job template's pod spec gets the
pod defaults, not the Job defaults), ``ValidateCronJobCreate``/``Update`` (``pkg/apis/batch/validation``:
a name of at most 52 characters, the schedule as robfig's parser reads it, no ``TZ``/``CRON_TZ`` in
it, a known ``timeZone``, the concurrency policy, non-negative limits and deadline, the job template
as ``ValidateJobTemplateSpec``), the strategy's generation rule and ``printCronJob`` (NAME SCHEDULE
TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE, wide CONTAINERS IMAGES SELECTOR). Schedules are parsed by
``labkit/apimachinery/cron.py``.

Left out: keeping a ``TZ`` prefix an old CronJob already had, the warnings kube-apiserver adds for
``TZ`` and for schedules that do not look like cron, status validation on ``/status`` writes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from labkit.apimachinery.cron import CronError, load_zone, parse_standard
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import parse_time
from labkit.apimachinery.validation import Cause, invalid, not_supported, required
from labkit.apiserver.registry.job import validate_job_template
from labkit.apiserver.registry.pod.defaults import default_pod_spec
from labkit.apiserver.registry.replicaset import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
    nonnegative,
    selector_string,
    set_default,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age, human_duration

POLICIES = ["Allow", "Forbid", "Replace"]
_ZONE_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")  # validTimeZoneCharacters
MAX_NAME = 52  # a Job's name adds "-" and up to 10 digits, and must stay a DNS-1035 label (63)


def validate_schedule(schedule: str) -> list[Cause]:
    """``validateScheduleFormat``."""
    causes = []
    try:
        parse_standard(schedule)
    except CronError as e:
        causes.append(invalid("spec.schedule", schedule, str(e)))
    if "TZ" in schedule:
        causes.append(invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field "
                                                         "instead"))
    return causes


def validate_time_zone(zone: str | None) -> list[Cause]:
    """``validateTimeZone``."""
    path = "spec.timeZone"
    if zone is None:
        return []
    if zone == "":
        return [invalid(path, zone, "timeZone must be nil or non-empty string")]
    if any(p in (".", "..") or p.startswith("-") or not _ZONE_PART.match(p) for p in zone.split("/")):
        return [invalid(path, zone, f"unknown time zone {zone}")]
    causes = []
    if zone.lower() == "local":
        causes.append(invalid(path, zone, "timeZone must be an explicit time zone as defined in "
                                          "https://www.iana.org/time-zones"))
    try:
        load_zone(zone)
    except CronError as e:
        causes.append(invalid(path, zone, str(e)))
    return causes


def _bool(value: Any) -> str:
    """``printBoolPtr``."""
    return "<unset>" if value is None else ("True" if value else "False")


class CronJobStrategy(Strategy):
    kind = "CronJob"
    status_subresource = True
    tracks_generation = True
    columns = (
        Column("Schedule", description="The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
        Column("Timezone", description="The time zone name for the given schedule, see "
                                       "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
        Column("Suspend", "boolean", description="This flag tells the controller to suspend subsequent executions, "
                                                 "it does not apply to already started executions."),
        Column("Active", "integer", description="A list of pointers to currently running jobs."),
        Column("Last Schedule", description="Information when was the last time the job was successfully "
                                            "scheduled."),
        AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN, SELECTOR_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        set_default(spec, "concurrencyPolicy", "Allow")
        set_default(spec, "suspend", False)
        set_default(spec, "successfulJobsHistoryLimit", 3)
        set_default(spec, "failedJobsHistoryLimit", 1)
        job_spec = set_default(set_default(spec, "jobTemplate", {}), "spec", {})
        default_pod_spec(set_default(set_default(job_spec, "template", {}), "spec", {}))

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {}

    def validate(self, obj: Obj) -> list[Cause]:
        name = (obj.get("metadata") or {}).get("name") or ""
        causes = [invalid("metadata.name", name, f"must be no more than {MAX_NAME} characters")] \
            if len(name) > MAX_NAME else []
        return causes + self._validate_spec(obj.get("spec") or {}, None)

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return self._validate_spec(obj.get("spec") or {}, old.get("spec") or {})

    @staticmethod
    def _validate_spec(spec: Obj, old: Obj | None) -> list[Cause]:
        """``validateCronJobSpec``; the time zone is checked only when it is new or changed."""
        schedule = spec.get("schedule") or ""
        causes = validate_schedule(schedule) if schedule else [required("spec.schedule")]
        causes += nonnegative(spec, "startingDeadlineSeconds", "spec")
        if old is None or old.get("timeZone") != spec.get("timeZone"):
            causes += validate_time_zone(spec.get("timeZone"))
        policy = spec.get("concurrencyPolicy") or ""
        if not policy:
            causes.append(required("spec.concurrencyPolicy"))
        elif policy not in POLICIES:
            causes.append(not_supported("spec.concurrencyPolicy", policy, POLICIES))
        causes += validate_job_template(spec.get("jobTemplate") or {}, "spec.jobTemplate")
        causes += nonnegative(spec, "successfulJobsHistoryLimit", "spec")
        return causes + nonnegative(spec, "failedJobsHistoryLimit", "spec")

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        last = parse_time(status.get("lastScheduleTime"))
        job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        containers = (job_spec.get("template") or {}).get("spec", {}).get("containers") or []
        selector = job_spec.get("selector")
        return [spec.get("schedule", ""), spec.get("timeZone") or "<none>", _bool(spec.get("suspend")),
                len(status.get("active") or []),
                "<none>" if last is None else human_duration((now - last).total_seconds()), age(obj, now),
                ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
                "<none>" if selector is None else selector_string(selector)]


STRATEGY = CronJobStrategy()
