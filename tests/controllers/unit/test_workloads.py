"""The DaemonSet and CronJob controllers alone, on fakes: the exact pods and Jobs a sync creates and
deletes (``daemon_controller_test.go``, ``cronjob_controllerv2_test.go``)."""

from __future__ import annotations

from typing import Any

from labkit.controllers.cronjob import CronJobController
from labkit.controllers.daemonset import DaemonSetsController, should_run
from labkit.testing.clock import EPOCH

from .objects import NS, meta, owner, pod, template

OLD_HASH = "old"


def node(name: str, *, taints: list[dict[str, Any]] | None = None, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta(name, None, labels=labels or {}),
            "spec": {"taints": taints} if taints else {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def daemonset(**strategy: Any) -> dict:
    rolling = {"maxUnavailable": 1, "maxSurge": 0, **strategy}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": meta("agent", generation=2, annotations={"deprecated.daemonset.template.generation": "2"}),
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(image="agent:2"),
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
                     "revisionHistoryLimit": 10},
            "status": {}}


def old_pods(ds: dict, nodes: int) -> list[dict]:
    """An available pod of the previous template on each node."""
    pods = []
    for i in range(1, nodes + 1):
        p = pod(f"agent-{i}", owned_by=ds, node=f"node-{i}")
        p["metadata"]["labels"].update({"controller-revision-hash": OLD_HASH, "pod-template-generation": "1"})
        pods.append(p)
    return pods


def rollout_step(harness, ds: dict, nodes: int) -> tuple[list[str], list[str]]:
    """One sync: (the nodes that got a new pod, the pods deleted)."""
    h = harness(DaemonSetsController, [ds, *(node(f"node-{i}") for i in range(1, nodes + 1)), *old_pods(ds, nodes)])
    h.sync(f"{NS}/agent")
    created = [a.body["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
               ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
               for a in h.writes() if a.verb == "create" and a.resource == "pods"]
    deleted = [a.name for a in h.writes() if a.verb == "delete" and a.resource == "pods"]
    return created, deleted


def test_rolling_update_deletes_at_most_max_unavailable_old_pods(harness):
    assert len(rollout_step(harness, daemonset(), 4)[1]) == 1
    assert len(rollout_step(harness, daemonset(maxUnavailable="50%"), 4)[1]) == 2
    assert len(rollout_step(harness, daemonset(maxUnavailable="30%"), 4)[1]) == 2  # rounded up, as kube


def test_rolling_update_with_surge_starts_new_pods_beside_old_ones(harness):
    created, deleted = rollout_step(harness, daemonset(maxUnavailable=0, maxSurge=2), 4)
    assert (len(created), deleted) == (2, [])


def test_a_node_fits_by_selector_affinity_and_taints():
    ds = daemonset()
    assert should_run(ds, node("n")) == (True, True)
    assert should_run(ds, node("n", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}])) \
        == (True, True)  # tolerated as every daemon pod tolerates it
    assert should_run(ds, node("n", taints=[{"key": "gpu", "effect": "NoSchedule"}])) == (False, True)
    assert should_run(ds, node("n", taints=[{"key": "gpu", "effect": "NoExecute"}])) == (False, False)
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert should_run(ds, node("n")) == (False, False)
    assert should_run(ds, node("n", labels={"disk": "ssd"})) == (True, True)
    ds["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]}]}]}}}
    assert should_run(ds, node("b", labels={"disk": "ssd"})) == (False, False)
    assert should_run(ds, node("a", labels={"disk": "ssd"})) == (True, True)


# --- CronJob ---------------------------------------------------------------------------------------------


def cronjob(schedule: str = "*/30 * * * *", **spec: Any) -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("nightly"),  # created at 11:00
            "spec": {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1, **spec,
                     "jobTemplate": {"metadata": {"labels": {"team": "x"}},
                                     "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                                         {"name": "c", "image": "busybox"}]}}}}},
            "status": {}}


def job(cj: dict, name: str, *, done: str | None = None, start: str = "2026-01-01T11:00:00Z") -> dict:
    status: dict[str, Any] = {"startTime": start}
    if done:
        status["conditions"] = [{"type": done, "status": "True"}]
        status["completionTime"] = start
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name, ownerReferences=[owner(cj)]),
            "spec": {}, "status": status}


MINUTES_AT_EPOCH = int(EPOCH.timestamp()) // 60  # the fake clock starts at 12:00


def test_the_most_recent_missed_time_runs_once_with_kubes_name(harness):
    cj = cronjob()
    h = harness(CronJobController, [cj])
    result = h.sync(f"{NS}/nightly")
    creates = [a for a in h.writes() if a.verb == "create" and a.resource == "jobs"]
    assert len(creates) == 1  # 11:30 and 12:00 were missed; only 12:00 runs
    body = creates[0].body
    assert body["metadata"]["name"] == f"nightly-{MINUTES_AT_EPOCH}"
    assert body["metadata"]["labels"] == {"team": "x"}
    assert body["metadata"]["annotations"] == {
        "batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-01-01T12:00:00Z"}
    assert body["metadata"]["ownerReferences"] == [owner(cj)]
    assert h.events() == [f"Normal SuccessfulCreate Created job nightly-{MINUTES_AT_EPOCH}"]
    (stored,) = h.objects("batch/v1", "cronjobs")
    assert stored["status"]["lastScheduleTime"] == "2026-01-01T12:00:00Z"
    assert [a["name"] for a in stored["status"]["active"]] == [f"nightly-{MINUTES_AT_EPOCH}"]
    assert result is not None and abs(result.requeue_after - 30 * 60) < 1  # back at 12:30


def test_a_deadline_skips_a_time_too_late_to_start(harness):
    h = harness(CronJobController, [cronjob(startingDeadlineSeconds=10)])
    h.clock.step(60)  # 12:01: 12:00 is more than 10 s ago
    h.sync(f"{NS}/nightly")
    assert [a for a in h.writes() if a.resource == "jobs"] == []


def test_forbid_skips_while_a_job_runs_and_replace_deletes_it(harness):
    cj = cronjob(concurrencyPolicy="Forbid")
    running = job(cj, "nightly-1")
    cj["status"] = {"active": [{"kind": "Job", "name": "nightly-1", "namespace": NS, "uid": "uid-nightly-1"}],
                    "lastScheduleTime": "2026-01-01T11:30:00Z"}
    h = harness(CronJobController, [cj, running])
    h.sync(f"{NS}/nightly")
    assert [a for a in h.writes() if a.resource == "jobs"] == []
    assert h.events() == ["Normal JobAlreadyActive Not starting job because prior execution is running and "
                          "concurrency policy is Forbid"]
    cj["spec"]["concurrencyPolicy"] = "Replace"
    h = harness(CronJobController, [cj, running])
    h.sync(f"{NS}/nightly")
    assert [(a.verb, a.name or a.body["metadata"]["name"]) for a in h.writes() if a.resource == "jobs"] == [
        ("delete", "nightly-1"), ("create", f"nightly-{MINUTES_AT_EPOCH}")]
    assert "Normal SuccessfulDelete Deleted job nightly-1" in h.events()


def test_finished_jobs_leave_the_active_list_and_the_history_is_trimmed(harness):
    cj = cronjob(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0)
    done = [job(cj, f"nightly-{i}", done="Complete", start=f"2026-01-01T11:0{i}:00Z") for i in range(3)]
    failed = job(cj, "nightly-f", done="Failed")
    cj["status"] = {"active": [{"kind": "Job", "name": "nightly-2", "namespace": NS, "uid": "uid-nightly-2"}],
                    "lastScheduleTime": "2026-01-01T12:00:00Z"}
    h = harness(CronJobController, [cj, *done, failed])
    h.sync(f"{NS}/nightly")
    assert sorted(a.name for a in h.writes() if a.verb == "delete") == ["nightly-0", "nightly-1", "nightly-f"]
    assert "Normal SawCompletedJob Saw completed job: nightly-2, status: Complete" in h.events()
    (stored,) = h.objects("batch/v1", "cronjobs")
    assert "active" not in stored["status"]
    assert stored["status"]["lastSuccessfulTime"] == "2026-01-01T11:02:00Z"


def test_suspended_creates_nothing(harness):
    h = harness(CronJobController, [cronjob(suspend=True)])
    assert h.sync(f"{NS}/nightly") is None
    assert [a for a in h.writes() if a.resource == "jobs"] == []


def test_time_zone(harness):
    cj = cronjob("0 13 * * *", timeZone="Europe/Paris")  # 13:00 in Paris is 12:00 UTC
    h = harness(CronJobController, [cj])
    h.sync(f"{NS}/nightly")
    (create,) = [a for a in h.writes() if a.verb == "create" and a.resource == "jobs"]
    assert create.body["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] \
        == "2026-01-01T13:00:00+01:00"
