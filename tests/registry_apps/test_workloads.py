"""DaemonSet, ControllerRevision, ReplicationController and CronJob strategies: defaults, validation
messages and Table rows as kube-apiserver has them."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from labkit.apimachinery import cron
from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry import controllerrevision, cronjob, daemonset, replicationcontroller
from labkit.apiserver.registry.scale import scale_of

from .helpers import CREATED, NOW, fields, status_causes

DS = daemonset.STRATEGY


def agent() -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "agent", "image": "fluentd:v1"}]}}}}


# --- DaemonSet ---------------------------------------------------------------------------------------


def test_daemonset_defaults_status_and_template_generation(registry):
    reg = registry("apps", "daemonsets")
    created, _ = reg.create("default", agent())
    spec = created["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert created["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                                 "numberReady": 0}
    assert created["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}

    relabelled = copy.deepcopy(created)
    relabelled["metadata"]["labels"] = {"team": "infra"}
    same, _ = reg.update("default", "agent", lambda _old: relabelled)
    assert same["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "1"
    assert same["metadata"]["generation"] == 1

    changed = copy.deepcopy(same)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "fluentd:v2"
    updated, _ = reg.update("default", "agent", lambda _old: changed)
    assert updated["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    assert updated["metadata"]["generation"] == 2


def test_ondelete_gets_no_rolling_update_defaults():
    obj = agent()
    obj["spec"]["updateStrategy"] = {"type": "OnDelete"}
    DS.default(obj)
    assert obj["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert DS.validate(obj) == []


@pytest.mark.parametrize(("rolling", "expected"), [
    ({"maxUnavailable": 1, "maxSurge": 1},
     [("spec.updateStrategy.rollingUpdate.maxSurge",
       "Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:\"\"}: may not be set when maxUnavailable is "
       "non-zero")]),
    ({"maxUnavailable": 0, "maxSurge": "0%"},
     [("spec.updateStrategy.rollingUpdate.maxUnavailable", "Required value: cannot be 0 when maxSurge is 0")]),
    ({"maxUnavailable": "120%", "maxSurge": 0},
     [("spec.updateStrategy.rollingUpdate.maxUnavailable",
       "Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"120%\"}: must not be greater than 100%")]),
    ({"maxUnavailable": -1, "maxSurge": 0},
     [("spec.updateStrategy.rollingUpdate.maxUnavailable", "Invalid value: -1: must be greater than or equal to 0")]),
    ({"maxUnavailable": 0, "maxSurge": "10%"}, []),
])
def test_rolling_update_takes_exactly_one_of_unavailable_and_surge(rolling, expected):
    obj = agent()
    obj["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": rolling}
    DS.default(obj)
    assert fields(DS.validate(obj)) == expected


def test_daemonset_spec_errors_read_as_kube():
    obj = agent()
    obj["spec"]["updateStrategy"] = {"type": "Sometimes"}
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    obj["spec"]["template"]["spec"].update(restartPolicy="OnFailure", activeDeadlineSeconds=5)
    obj["spec"]["minReadySeconds"] = -1
    DS.default(obj)
    assert fields(DS.validate(obj)) == [
        ("spec.template.metadata.labels",
         'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`'),
        ("spec.template.spec.restartPolicy", 'Unsupported value: "OnFailure": supported values: "Always"'),
        ("spec.template.spec.activeDeadlineSeconds", "Invalid value: 5: must not be specified"),
        ("spec.minReadySeconds", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.updateStrategy", 'Unsupported value: apps.DaemonSetUpdateStrategy{Type:"Sometimes", '
                                'RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}: supported values: '
                                '"RollingUpdate", "OnDelete"'),
    ]


def test_daemonset_selector_missing_empty_or_changed(registry):
    obj = agent()
    del obj["spec"]["selector"]
    DS.default(obj)
    assert fields(DS.validate(obj)) == [  # kube asks for no selector here: a nil one matches nothing
        ("spec.template.metadata.labels",
         'Invalid value: map[string]string{"app":"agent"}: `selector` does not match template `labels`')]
    obj["spec"]["selector"] = {}
    assert fields(DS.validate(obj)) == [
        ("spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                          "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: "
                          "empty selector is invalid for daemonset")]
    reg = registry("apps", "daemonsets")
    created, _ = reg.create("default", agent())
    moved = copy.deepcopy(created)
    moved["spec"]["selector"]["matchLabels"]["tier"] = "x"
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    with pytest.raises(ApiError) as err:
        reg.update("default", "agent", lambda _old: moved)
    assert status_causes(err.value) == [
        ("spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"agent", '
                          '"tier":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable')]


def test_daemonset_row():
    obj = agent()
    obj["metadata"]["creationTimestamp"] = CREATED
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux", "disk": "ssd"}
    obj["status"] = {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                     "updatedNumberScheduled": 1, "numberAvailable": 2}
    assert [c.name for c in DS.columns] == ["Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector",
                                            "Age", "Containers", "Images", "Selector"]
    assert DS.cells(obj, NOW) == [3, 3, 2, 1, 2, "disk=ssd,kubernetes.io/os=linux", "5m", "agent", "fluentd:v1",
                                  "app=agent"]
    del obj["spec"]["template"]["spec"]["nodeSelector"]
    assert DS.cells(obj, NOW)[5] == "<none>"


# --- ControllerRevision ------------------------------------------------------------------------------


def test_controllerrevision_data_is_required_and_immutable(registry):
    reg = registry("apps", "controllerrevisions")
    with pytest.raises(ApiError) as err:
        reg.create("default", {"metadata": {"name": "r"}, "revision": -1})
    assert status_causes(err.value) == [("data", "Required value: data is mandatory"),
                                        ("revision", "Invalid value: -1: must be greater than or equal to 0")]
    owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u1", "controller": True}
    created, _ = reg.create("default", {"metadata": {"name": "agent-abc", "ownerReferences": [owner]},
                                        "data": {"spec": {}}, "revision": 1})
    renumbered, _ = reg.update("default", "agent-abc", lambda old: {**old, "revision": 3})
    assert renumbered["revision"] == 3
    with pytest.raises(ApiError) as err:
        reg.update("default", "agent-abc", lambda old: {**old, "data": {"spec": {"x": 1}}})
    assert [c[0] for c in status_causes(err.value)] == ["data"]
    created["metadata"]["creationTimestamp"] = CREATED
    assert controllerrevision.STRATEGY.cells(created, NOW) == ["daemonset.apps/agent", 1, "5m"]


# --- ReplicationController ---------------------------------------------------------------------------

RC = replicationcontroller.STRATEGY


def nginx_rc() -> dict:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "nginx"},
            "spec": {"template": {"metadata": {"labels": {"app": "nginx"}},
                                  "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}


def test_rc_defaults_selector_labels_and_replicas_from_the_template(registry):
    created, _ = registry("", "replicationcontrollers").create("default", nginx_rc())
    assert created["spec"]["selector"] == {"app": "nginx"}
    assert created["metadata"]["labels"] == {"app": "nginx"}
    assert created["spec"]["replicas"] == 1
    assert created["status"] == {"replicas": 0}
    kept = nginx_rc()
    kept["metadata"]["labels"] = {"team": "web"}
    kept["spec"]["selector"] = {"app": "nginx"}
    kept["spec"]["template"]["metadata"]["labels"]["version"] = "1"
    RC.default(kept)
    assert (kept["metadata"]["labels"], kept["spec"]["selector"]) == ({"team": "web"}, {"app": "nginx"})


def test_rc_validation_reads_as_kube():
    obj = nginx_rc()
    del obj["spec"]["template"]["metadata"]
    obj["spec"].update(replicas=-1, minReadySeconds=-2)
    obj["spec"]["template"]["spec"].update(restartPolicy="Never", activeDeadlineSeconds=3)
    RC.default(obj)
    assert fields(RC.validate(obj)) == [
        ("spec.minReadySeconds", "Invalid value: -2: must be greater than or equal to 0"),
        ("spec.selector", "Required value"),
        ("spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"'),
        ("spec.template.spec.activeDeadlineSeconds",
         "Forbidden: activeDeadlineSeconds in ReplicationController is not Supported"),
    ]
    obj = nginx_rc()
    obj["spec"]["selector"] = {"app": "other"}
    RC.default(obj)
    assert fields(RC.validate(obj)) == [
        ("spec.template.metadata.labels",
         'Invalid value: map[string]string{"app":"nginx"}: `selector` does not match template `labels`')]
    no_template = {"metadata": {"name": "x"}, "spec": {"selector": {"app": "x"}}}
    RC.default(no_template)
    assert fields(RC.validate(no_template)) == [("spec.template", "Required value")]


def test_rc_row_and_scale_view():
    obj = nginx_rc()
    RC.default(obj)
    obj["metadata"]["creationTimestamp"] = CREATED
    obj["spec"]["replicas"] = 3
    obj["status"] = {"replicas": 2, "readyReplicas": 1}
    assert [c.name for c in RC.columns] == ["Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"]
    assert RC.cells(obj, NOW) == [3, 2, 1, "5m", "nginx", "nginx", "app=nginx"]
    assert scale_of(obj)["status"] == {"replicas": 2, "selector": "app=nginx"}


# --- CronJob and its schedules -----------------------------------------------------------------------

CJ = cronjob.STRATEGY
T0 = dt.datetime(2026, 1, 1, 12, 0, 30, tzinfo=dt.UTC)  # a Thursday


@pytest.mark.parametrize(("spec", "zone", "expected"), [
    ("* * * * *", None, "2026-01-01T12:01:00+00:00"),
    ("*/15 * * * *", None, "2026-01-01T12:15:00+00:00"),
    ("5/20 * * * *", None, "2026-01-01T12:05:00+00:00"),  # a/n runs from a to the maximum
    ("0 9 * * mon-FRI", None, "2026-01-02T09:00:00+00:00"),
    ("0 9 * * MON-FRI", "Europe/Paris", "2026-01-02T08:00:00+00:00"),
    ("0 0 13 * 5", None, "2026-01-02T00:00:00+00:00"),  # both days restricted: the 13th or a Friday
    ("0 0 13 * *", None, "2026-01-13T00:00:00+00:00"),
    ("30 4 1,15 FEB *", None, "2026-02-01T04:30:00+00:00"),
    ("@hourly", None, "2026-01-01T13:00:00+00:00"),
    ("@daily", None, "2026-01-02T00:00:00+00:00"),
    ("@weekly", None, "2026-01-04T00:00:00+00:00"),
    ("@yearly", None, "2027-01-01T00:00:00+00:00"),
    ("@every 90s", None, "2026-01-01T12:02:00+00:00"),
])
def test_next_schedule_time(spec, zone, expected):
    assert cron.parse_standard(spec).next(T0, cron.load_zone(zone)).isoformat() == expected


def test_a_schedule_that_never_fires():
    assert cron.parse_standard("0 0 30 2 *").next(T0) is None


def test_cronjob_defaults(registry):
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    created, _ = registry("batch", "cronjobs").create("default", body)
    spec = created["spec"]
    assert {k: spec[k] for k in ("concurrencyPolicy", "suspend", "successfulJobsHistoryLimit",
                                 "failedJobsHistoryLimit")} == {
        "concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    assert "completions" not in spec["jobTemplate"]["spec"]  # no Job defaults in the template
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert created["status"] == {}


def test_cronjob_validation_reads_as_kube():
    obj = {"metadata": {"name": "x" * 53},
           "spec": {"schedule": "61 * * * *", "timeZone": "Mars/Olympus", "concurrencyPolicy": "Sometimes",
                    "startingDeadlineSeconds": -1, "successfulJobsHistoryLimit": -1,
                    "jobTemplate": {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {
                        "restartPolicy": "Always", "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    CJ.default(obj)
    assert fields(CJ.validate(obj)) == [
        ("metadata.name", f'Invalid value: "{"x" * 53}": must be no more than 52 characters'),
        ("spec.schedule", 'Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'),
        ("spec.startingDeadlineSeconds", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.timeZone", 'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'),
        ("spec.concurrencyPolicy",
         'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"'),
        ("spec.jobTemplate.spec.template.spec.restartPolicy",
         'Unsupported value: "Always": supported values: "OnFailure", "Never"'),
        ("spec.jobTemplate.spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"a":"b"}, '
                                           'MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` will be '
                                           'auto-generated'),
        ("spec.successfulJobsHistoryLimit", "Invalid value: -1: must be greater than or equal to 0"),
    ]
    obj = {"metadata": {"name": "ok"}, "spec": {"schedule": "CRON_TZ=UTC 0 * * * *", "timeZone": "",
                                                "jobTemplate": {"spec": {"template": {"spec": {
                                                    "restartPolicy": "Never",
                                                    "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    CJ.default(obj)
    assert fields(CJ.validate(obj)) == [
        ("spec.schedule", 'Invalid value: "CRON_TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use '
                          'timeZone field instead'),
        ("spec.timeZone", 'Invalid value: "": timeZone must be nil or non-empty string'),
    ]


def test_cronjob_row():
    obj = {"metadata": {"name": "hello", "creationTimestamp": CREATED},
           "spec": {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {"spec": {"template": {"spec": {
               "containers": [{"name": "c", "image": "busybox"}]}}}}},
           "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2026-01-01T11:59:00Z"}}
    assert [c.name for c in CJ.columns] == ["Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age",
                                            "Containers", "Images", "Selector"]
    assert CJ.cells(obj, NOW) == ["*/5 * * * *", "<none>", "False", 1, "60s", "5m", "c", "busybox", "<none>"]


# --- StatefulSet ---------------------------------------------------------------------------------------


def test_statefulset_containers_may_mount_a_claim_template(registry):
    """kube leaves the template's pod spec unvalidated (ValidatePodTemplateSpecForStatefulSet): a mount
    may name a claim template, which becomes a volume only in each pod. The template's labels are still checked."""
    reg = registry("apps", "statefulsets")
    db = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
          "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                   "template": {"metadata": {"labels": {"app": "db"}},
                                "spec": {"containers": [{"name": "db", "image": "busybox",
                                                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                   "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                       "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}}]}}
    created, _ = reg.create("default", copy.deepcopy(db))
    assert created["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] == [{"name": "data",
                                                                                     "mountPath": "/data"}]
    bad = copy.deepcopy(db)
    bad["metadata"]["name"] = "bad"
    bad["spec"]["template"]["metadata"]["labels"]["app"] = "db"
    bad["spec"]["template"]["metadata"]["labels"]["bad key"] = "x"
    with pytest.raises(ApiError) as err:
        reg.create("default", bad)
    assert [f for f, _ in status_causes(err.value)] == ["spec.template.metadata.labels"]
