"""Deployment and ReplicaSet strategies, and the /scale view."""

from __future__ import annotations

import copy

import pytest

from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry import deployment, replicaset
from labkit.apiserver.registry.scale import apply_scale, scale_of, validate_scale

from .helpers import CREATED, NOW, fields, status_causes

DEPLOY = deployment.STRATEGY
RS = replicaset.STRATEGY


def web(kind: str = "Deployment") -> dict:
    """What ``kubectl create deployment web --image=nginx`` sends (an RS body has the same shape)."""
    return {
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
    }


# --- defaults ----------------------------------------------------------------------------------------


def test_deployment_defaults_match_a_real_cluster(registry):
    created, _ = registry("apps", "deployments").create("default", web())
    spec = created["spec"]
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "progressDeadlineSeconds": 600,
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
    }
    pod_spec = spec["template"]["spec"]
    assert {k: pod_spec[k] for k in ("dnsPolicy", "restartPolicy", "schedulerName", "securityContext",
                                     "terminationGracePeriodSeconds")} == {
        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
        "securityContext": {}, "terminationGracePeriodSeconds": 30}
    assert pod_spec["containers"][0]["imagePullPolicy"] == "Always"  # :latest
    assert created["status"] == {}
    assert created["metadata"]["generation"] == 1


def test_deployment_defaults_keep_what_is_set():
    obj = web()
    obj["spec"].update(replicas=3, strategy={"type": "Recreate"}, revisionHistoryLimit=None)
    DEPLOY.default(obj)
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["strategy"] == {"type": "Recreate"}
    assert obj["spec"]["revisionHistoryLimit"] == 10  # JSON null is defaulted like a missing field


def test_replicaset_defaults_and_status(registry):
    body = web("ReplicaSet")
    del body["spec"]["replicas"]
    created, _ = registry("apps", "replicasets").create("default", body)
    assert created["spec"]["replicas"] == 1
    assert created["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert created["status"] == {"replicas": 0}


# --- validation --------------------------------------------------------------------------------------


def test_missing_selector_fails_twice_like_kube():
    obj = web()
    del obj["spec"]["selector"]
    DEPLOY.default(obj)
    assert fields(DEPLOY.validate(obj)) == [
        ("spec.selector", "Required value"),
        ("spec.template.metadata.labels",
         'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`'),
    ]


def test_selector_must_match_template_labels():
    obj = web("ReplicaSet")
    obj["spec"]["selector"] = {"matchLabels": {"app": "web"},
                               "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}
    RS.default(obj)
    assert [c.field for c in RS.validate(obj)] == ["spec.template.metadata.labels"]
    obj["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    assert RS.validate(obj) == []


def test_selector_shapes():
    obj = web()
    obj["spec"]["selector"] = {}
    DEPLOY.default(obj)
    assert fields(DEPLOY.validate(obj)) == [
        ("spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                          "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")]
    obj["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In"}]}
    causes = DEPLOY.validate(obj)
    assert fields(causes)[0] == ("spec.selector.matchExpressions[0].values",
                                 "Required value: must be specified when `operator` is 'In' or 'NotIn'")
    assert ("spec.selector", "invalid label selector") in [(c.field, c.message.rsplit(": ", 1)[1]) for c in causes]


def test_spec_numbers_strategy_and_restart_policy():
    obj = web()
    obj["spec"].update(replicas=-1, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
                       minReadySeconds=700)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    DEPLOY.default(obj)
    assert fields(DEPLOY.validate(obj)) == [
        ("spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"'),
        ("spec.strategy.rollingUpdate.maxUnavailable",
         'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"0%"}: may not be 0 when `maxSurge` is 0'),
        ("spec.progressDeadlineSeconds", "Invalid value: 600: must be greater than minReadySeconds"),
    ]


def test_bad_percent_and_recreate_with_rolling_update():
    obj = web()
    obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "1", "maxUnavailable": "150%"}}
    DEPLOY.default(obj)
    assert [c.field for c in DEPLOY.validate(obj)] == ["spec.strategy.rollingUpdate.maxSurge",
                                                       "spec.strategy.rollingUpdate.maxUnavailable"]
    obj["spec"]["strategy"] = {"type": "Recreate", "rollingUpdate": {}}
    assert fields(DEPLOY.validate(obj)) == [
        ("spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'")]


def test_template_pod_spec_is_validated_with_pod_rules():
    obj = web("ReplicaSet")
    obj["spec"]["template"]["spec"]["containers"] = []
    RS.default(obj)
    assert ("spec.template.spec.containers", "Required value") in fields(RS.validate(obj))


# --- updates: status, generation, selector -----------------------------------------------------------


def test_selector_is_immutable(registry):
    reg = registry("apps", "deployments")
    reg.create("default", web())

    def retarget(obj):
        obj["spec"]["selector"] = {"matchLabels": {"app": "web2"}}
        obj["spec"]["template"]["metadata"]["labels"] = {"app": "web2"}
        return obj

    with pytest.raises(ApiError) as err:
        reg.update("default", "web", retarget)
    assert status_causes(err.value) == [
        ("spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, '
                          "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")]


def test_generation_and_status_on_update(registry):
    reg = registry("apps", "deployments")
    reg.create("default", web())

    def scale_and_fake_status(obj):
        obj["spec"]["replicas"] = 3
        obj["status"] = {"replicas": 99}
        return obj

    updated, _ = reg.update("default", "web", scale_and_fake_status)
    assert updated["metadata"]["generation"] == 2
    assert updated["status"] == {}  # the main resource cannot write status

    def annotate(obj):
        obj["metadata"]["annotations"] = {"note": "x"}
        return obj

    assert reg.update("default", "web", annotate)[0]["metadata"]["generation"] == 3

    def label(obj):
        obj["metadata"]["labels"]["team"] = "a"
        return obj

    assert reg.update("default", "web", label)[0]["metadata"]["generation"] == 3

    def report(obj):
        obj["status"] = {"replicas": 3, "readyReplicas": 3}
        return obj

    updated, _ = reg.update("default", "web", report, subresource="status")
    assert updated["status"] == {"replicas": 3, "readyReplicas": 3}
    assert updated["metadata"]["generation"] == 3


# --- tables and field selectors ----------------------------------------------------------------------


def test_deployment_cells():
    obj = web()
    obj["metadata"]["creationTimestamp"] = CREATED
    obj["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox:1.36"})
    obj["status"] = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 0, "availableReplicas": 0}
    assert [c.name for c in DEPLOY.columns] == ["Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]
    assert [c.priority for c in DEPLOY.columns] == [0, 0, 0, 0, 1, 1, 1]
    assert DEPLOY.cells(obj, NOW) == ["0/1", 1, 0, "5m", "nginx,sidecar", "nginx,busybox:1.36", "app=web"]


def test_replicaset_cells_and_field_labels():
    obj = web("ReplicaSet")
    obj["metadata"]["creationTimestamp"] = CREATED
    obj["spec"]["replicas"] = 3
    obj["spec"]["selector"]["matchExpressions"] = [{"key": "tier", "operator": "NotIn", "values": ["db", "cache"]}]
    obj["status"] = {"replicas": 2, "readyReplicas": 1}
    assert [c.name for c in RS.columns] == ["Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"]
    assert RS.cells(obj, NOW) == [3, 2, 1, "5m", "nginx", "nginx", "app=web,tier notin (cache,db)"]
    assert RS.field_labels(obj) == {"status.replicas": "2"}


# --- /scale ------------------------------------------------------------------------------------------


def test_scale_view_and_apply():
    obj = web()
    obj["metadata"].update(namespace="default", uid="u-1", resourceVersion="7", creationTimestamp=CREATED)
    obj["status"] = {"replicas": 1}
    assert scale_of(obj) == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                     "creationTimestamp": CREATED},
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "selector": "app=web"},
    }
    before = copy.deepcopy(obj)
    scaled = apply_scale(obj, {"spec": {"replicas": 0}, "metadata": {"resourceVersion": "6"}})
    assert obj == before
    assert scaled["spec"]["replicas"] == 0
    assert scaled["metadata"]["resourceVersion"] == "6"  # a stale Scale makes the write conflict
    assert scale_of(scaled)["spec"] == {}  # replicas is omitempty in autoscaling/v1
    assert validate_scale({"spec": {"replicas": 2}}) == []
    assert fields(validate_scale({"spec": {"replicas": -2}})) == [
        ("spec.replicas", "Invalid value: -2: must be greater than or equal to 0")]
