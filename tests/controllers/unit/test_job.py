"""The Job controller alone (``pkg/controller/job``): pods up to parallelism, then Complete, or Failed
after the back-off limit or the deadline (on a fake clock)."""

from __future__ import annotations

import datetime as dt

from labkit.apiserver.registry.job import STRATEGY
from labkit.controllers.job import JobController
from labkit.testing import fail

from .objects import NS, job, owner, pod

KEY = f"{NS}/work"


def pod_body(j: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "work-", "namespace": NS, "labels": j["spec"]["template"]["metadata"]["labels"],
                         "annotations": {}, "ownerReferences": [owner(j)]},
            "spec": j["spec"]["template"]["spec"]}


def stored(h) -> dict:
    (j,) = h.objects("batch/v1", "jobs")
    return j


def finish(h, name: str, phase: str) -> None:
    h.run(h.client.patch(f"/api/v1/namespaces/{NS}/pods/{name}/status", {"status": {"phase": phase}}))


def test_pods_are_created_up_to_parallelism_and_counted_as_active(harness):
    j = job(completions=3, parallelism=2)
    h = harness(JobController, [j])
    assert h.drain() == [KEY]
    creates = [a for a in h.writes() if a.verb == "create"]
    assert creates == [("create", "pods", NS, "", pod_body(j))] * 2
    status = stored(h)["status"]
    assert (status["active"], status["succeeded"], status["failed"], status["startTime"]) == (
        2, 0, 0, "2026-01-01T12:00:00Z"), "manageJob counts the pods it just created"
    assert len(h.events()) == 2 and all(e.startswith("Normal SuccessfulCreate Created pod: work-") for e in h.events())


def test_a_job_runs_to_completion_never_with_more_pods_than_completions_left(harness):
    h = harness(JobController, [job(completions=3, parallelism=2)])
    h.drain(watch=True)
    first = [p["metadata"]["name"] for p in h.objects("v1", "pods")]
    for name in first:
        finish(h, name, "Succeeded")
    h.clear()
    h.drain(watch=True)
    assert sum(a.verb == "create" for a in h.writes()) == 1, "3 completions - 2 succeeded = 1 more pod"
    (last,) = [p["metadata"]["name"] for p in h.objects("v1", "pods") if p["metadata"]["name"] not in first]
    finish(h, last, "Succeeded")
    h.drain(watch=True)
    status = stored(h)["status"]
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods")
    assert (status["succeeded"], status["active"], status["completionTime"]) == (3, 0, cond["lastTransitionTime"])
    assert h.events()[-1] == "Normal Completed Job completed"
    assert STRATEGY.cells(stored(h), dt.datetime(2026, 1, 1, 12, 1, tzinfo=dt.timezone.utc))[:2] == ["Complete", "3/3"]


def test_a_job_without_completions_is_complete_when_one_pod_succeeded_and_none_runs(harness):
    j = job(parallelism=2)
    del j["spec"]["completions"]
    h = harness(JobController, [j, pod("w1", owned_by=j, phase="Succeeded"), pod("w2", owned_by=j, phase="Succeeded")])
    h.drain()
    assert [c["type"] for c in stored(h)["status"]["conditions"]] == ["Complete"]
    assert not [a for a in h.writes() if a.verb == "create"]


def test_too_many_failures_fail_the_job_and_its_active_pods_go(harness):
    j = job(backoffLimit=1)
    h = harness(JobController, [j, pod("f1", owned_by=j, phase="Failed"), pod("f2", owned_by=j, phase="Failed"),
                                pod("still", owned_by=j, phase="Running")])
    h.drain()
    assert [a for a in h.writes() if a.verb == "delete"] == [("delete", "pods", NS, "still", None)]
    status = stored(h)["status"]
    (cond,) = status["conditions"]
    assert (cond["type"], cond["reason"], cond["message"]) == (
        "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert (status["failed"], status["active"]) == (2, 0)
    assert "Warning BackoffLimitExceeded Job has reached the specified backoff limit" in h.events()


def test_the_active_deadline_is_kept_on_the_clock(harness):
    h = harness(JobController, [job(activeDeadlineSeconds=60)])
    h.drain(watch=True)
    assert h.waiting() == [(KEY, 60)]
    h.clear()
    h.drain(watch=True, advance=60)
    (cond,) = stored(h)["status"]["conditions"]
    assert (cond["type"], cond["reason"], cond["lastTransitionTime"]) == (
        "Failed", "DeadlineExceeded", "2026-01-01T12:01:00Z")
    assert [a.verb for a in h.writes() if a.resource == "pods"] == ["delete"], "its running pod goes"


def test_no_second_create_before_the_first_pods_are_seen(harness):
    h = harness(JobController, [job(completions=2, parallelism=2)])
    h.drain()
    h.clear()
    h.controller.queue.add(KEY)
    h.drain()
    assert not [a for a in h.writes() if a.verb == "create"]


def test_a_failed_create_is_a_warning_and_retried(harness):
    h = harness(JobController, [job()])
    h.client.prepend_reactor("create", "pods", fail(403, "exceeded quota", times=1))
    h.drain()
    assert h.events() == ["Warning FailedCreate Error creating: exceeded quota"]
    assert h.waiting() == [(KEY, 0.005)]
    h.drain(watch=True, advance=0.005)
    assert len(h.objects("v1", "pods")) == 1


def test_a_finished_job_is_left_alone(harness):
    j = job()
    j["status"] = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
    h = harness(JobController, [j])
    h.drain()
    assert h.actions() == []
