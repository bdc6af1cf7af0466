"""The Job strategy (``pkg/registry/batch/job``).

Mirrors ``SetDefaults_Job`` (``pkg/apis/batch/v1/defaults.go``), the selector generation of the Job
strategy (``generateSelector``: ``batch.kubernetes.io/controller-uid`` and ``job-name`` labels, with
their legacy unprefixed twins, on the template; a selector on the uid), ``ValidateJob``
(``pkg/apis/batch/validation``) and ``printJob`` (``pkg/printers/internalversion``: NAME STATUS
COMPLETIONS DURATION AGE, wide CONTAINERS IMAGES SELECTOR). The pod template is defaulted and
validated by the pod strategy. Left out: ``manualSelector``, Indexed completion, pod failure and
success policies, ``backoffLimitPerIndex``, and the update rules beyond an immutable selector.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import parse_time
from labkit.apimachinery.validation import Cause, not_supported, required
from labkit.apiserver.registry.pod.validation import validate_pod_template
from labkit.apiserver.registry.replicaset import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
    as_selector,
    container_cells,
    default_template,
    go_label_selector,
    go_string_map,
    invalid_go,
    nonnegative,
    selector_string,
    set_default,
    validate_selector,
    validate_selector_unchanged,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age, human_duration

CONTROLLER_UID, JOB_NAME = "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME = "controller-uid", "job-name"


def generate_selector(job: Obj) -> None:
    """Label the template with the Job's uid and name, and select on the uid (``generateSelector``)."""
    meta, spec = job["metadata"], job.setdefault("spec", {})
    template_meta = set_default(set_default(spec, "template", {}), "metadata", {})
    labels = set_default(template_meta, "labels", {})
    name = meta.get("name", "")  # validation, next, refuses a Job without one
    labels.update({CONTROLLER_UID: meta["uid"], JOB_NAME: name,
                   LEGACY_CONTROLLER_UID: meta["uid"], LEGACY_JOB_NAME: name})
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {CONTROLLER_UID: meta["uid"]}}
    if not meta.get("labels"):
        meta["labels"] = dict(labels)


def has_condition(job: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def _validate_numbers(spec: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for field in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        causes += nonnegative(spec, field, path)
    return causes


def _validate_template(template: Obj, path: str) -> list[Cause]:
    """The pod template of a Job, which must not restart its pods forever."""
    causes = validate_pod_template(template, path)
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        causes.append(not_supported(f"{path}.spec.restartPolicy", policy or "", ["OnFailure", "Never"]))
    return causes


def validate_job_template(job_template: Obj, path: str) -> list[Cause]:
    """``ValidateJobTemplateSpec`` (a CronJob's ``jobTemplate``): the Job spec without a selector, which
    each Job gets when it is created."""
    spec = job_template.get("spec") or {}
    causes = _validate_numbers(spec, f"{path}.spec")
    causes += _validate_template(spec.get("template") or {}, f"{path}.spec.template")
    if spec.get("selector") is not None:
        causes.append(invalid_go(f"{path}.spec.selector", go_label_selector(spec["selector"]),
                                 "`selector` will be auto-generated"))
    if spec.get("manualSelector"):
        causes.append(not_supported(f"{path}.spec.manualSelector", True, ["nil", "false"]))
    return causes


class JobStrategy(Strategy):
    kind = "Job"
    status_subresource = True
    tracks_generation = True
    columns = (
        Column("Status", description="Status of the job."),
        Column("Completions",
               description="The desired number of successfully finished pods the job should be run with."),
        Column("Duration", description="Time required to complete the job."),
        AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN, SELECTOR_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
        set_default(spec, "parallelism", 1)
        set_default(spec, "backoffLimit", 6)
        set_default(spec, "completionMode", "NonIndexed")
        set_default(spec, "suspend", False)
        set_default(spec, "podReplacementPolicy", "TerminatingOrFailed")
        default_template(spec)

    def validate(self, obj: Obj) -> list[Cause]:
        generate_selector(obj)  # kube does this in the strategy's Validate, once the uid is set
        return self._validate_spec(obj.get("spec") or {})

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return self._validate_spec(obj.get("spec") or {}) + validate_selector_unchanged(obj, old)

    @staticmethod
    def _validate_spec(spec: Obj) -> list[Cause]:
        causes = _validate_numbers(spec, "spec")
        selector = spec.get("selector")
        if selector is None:
            return causes + [required("spec.selector")]
        causes += validate_selector(selector, "spec.selector")
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels")
        converted = as_selector(selector)
        if converted is not None and not converted.matches(labels):
            causes.append(invalid_go("spec.template.metadata.labels", go_string_map(labels),
                                     "`selector` does not match template `labels`"))
        return causes + _validate_template(template, "spec.template")

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        succeeded = status.get("succeeded", 0)
        if spec.get("completions") is not None:
            completions = f"{succeeded}/{spec['completions']}"
        elif (spec.get("parallelism") or 0) > 1:
            completions = f"{succeeded}/1 of {spec['parallelism']}"
        else:
            completions = f"{succeeded}/1"
        start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
        duration = "" if start is None else human_duration(((end or now) - start).total_seconds())
        if has_condition(obj, "Complete"):
            state = "Complete"
        elif has_condition(obj, "Failed"):
            state = "Failed"
        elif obj["metadata"].get("deletionTimestamp"):
            state = "Terminating"
        elif has_condition(obj, "Suspended"):
            state = "Suspended"
        elif has_condition(obj, "FailureTarget"):
            state = "FailureTarget"
        else:
            state = "Running"
        return [state, completions, duration, age(obj, now), *container_cells(obj),
                selector_string(spec.get("selector"))]


STRATEGY = JobStrategy()
