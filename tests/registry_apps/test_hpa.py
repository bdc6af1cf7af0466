"""The HorizontalPodAutoscaler strategy (defaults, validation, Table row) and the v1 view of stored
v2 objects, through the generic store and the versioned registry the API server serves v1 with."""

from __future__ import annotations

import copy
import json

import pytest

from labkit.apiserver.admission import AdmissionChain
from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry.horizontalpodautoscaler import STRATEGY, from_v1, to_v1
from labkit.apiserver.resources import lookup
from labkit.apiserver.storage import Registry
from labkit.apiserver.versions import VersionedRegistry
from labkit.ids import IdSource
from labkit.store import open_store

from .helpers import CREATED, NOW, fields, status_causes

CPU_50 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}


def hpa(**spec) -> dict:
    """What ``kubectl autoscale deployment web --max=5`` sends in v2 (1.33), plus ``spec``."""
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 5, **spec}}


@pytest.fixture
def registries():
    """The v2 registry (storage) and the v1 one served from it, on a fresh memory store."""
    store = open_store("memory")
    v2 = Registry(lookup("autoscaling", "v2", "horizontalpodautoscalers"), store, ids=IdSource(1),
                  admission=AdmissionChain([]), clock=lambda: NOW)
    yield v2, VersionedRegistry(lookup("autoscaling", "v1", "horizontalpodautoscalers"), v2)
    store.close()


def invalid(obj: dict) -> list[tuple[str, str]]:
    STRATEGY.default(obj)
    return fields(STRATEGY.validate(obj))


def test_defaults_are_min_one_and_80_percent_cpu_and_no_behavior(registries):
    v2, _ = registries
    created, _ = v2.create("default", hpa())
    assert created["spec"]["minReplicas"] == 1
    assert created["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in created["spec"], "an unset behavior stays unset: the controller's legacy rule applies"
    assert created["status"] == {"desiredReplicas": 0}


def test_a_given_behavior_is_filled_in_rule_by_rule():
    obj = hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    STRATEGY.default(obj)
    assert obj["spec"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                 {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}


def test_replica_bounds_and_target_reference():
    assert invalid(hpa(minReplicas=0, maxReplicas=0, scaleTargetRef={})) == [
        ("spec.minReplicas", "Invalid value: 0: must be greater than or equal to 1"),
        ("spec.maxReplicas", "Invalid value: 0: must be greater than 0"),
        ("spec.scaleTargetRef.kind", "Required value"),
        ("spec.scaleTargetRef.name", "Required value")]
    assert invalid(hpa(minReplicas=7)) == [
        ("spec.maxReplicas", "Invalid value: 5: must be greater than or equal to `minReplicas`")]


def test_metric_messages():
    assert invalid(hpa(metrics=[{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
                                {"type": "Resource", "resource": {"name": "cpu", "target": {
                                    "type": "Utilization", "averageUtilization": 0, "averageValue": "100m"}}},
                                {"type": "Pods"},
                                {"type": "Bogus", "resource": {"name": "cpu", "target": {
                                    "type": "Utilization", "averageUtilization": 50}}}])) == [
        ("spec.metrics[0].resource.target.averageUtilization",
         "Required value: must set either a target raw value or a target utilization"),
        ("spec.metrics[1].resource.target.averageUtilization", "Invalid value: 0: must be greater than 0"),
        ("spec.metrics[1].resource.target.averageValue",
         "Forbidden: may not set both a target raw value and a target utilization"),
        ("spec.metrics[2].pods", "Required value: must populate information for the given metric source"),
        ("spec.metrics[3].type", 'Unsupported value: "Bogus": supported values: "ContainerResource", "External", '
                                 '"Object", "Pods", "Resource"')]


def test_behavior_messages():
    assert invalid(hpa(behavior={"scaleUp": {"stabilizationWindowSeconds": 3601, "selectPolicy": "Most",
                                             "policies": [{"type": "Nodes", "value": 0, "periodSeconds": 1801}]},
                                 "scaleDown": {"policies": []}})) == [
        ("spec.behavior.scaleUp.stabilizationWindowSeconds", "Invalid value: 3601: must be less than or equal to 3600"),
        ("spec.behavior.scaleUp.selectPolicy", 'Unsupported value: "Most": supported values: "Disabled", "Max", "Min"'),
        ("spec.behavior.scaleUp.policies[0].type", 'Unsupported value: "Nodes": supported values: "Percent", "Pods"'),
        ("spec.behavior.scaleUp.policies[0].value", "Invalid value: 0: must be greater than zero"),
        ("spec.behavior.scaleUp.policies[0].periodSeconds", "Invalid value: 1801: must be less than or equal to 1800"),
        ("spec.behavior.scaleDown.policies", "Required value: must specify at least one Policy")]


def test_an_invalid_create_is_kubes_422(registries):
    v2, _ = registries
    with pytest.raises(ApiError) as e:
        v2.create("default", hpa(maxReplicas=0))
    assert (e.value.code, e.value.status()["message"]) == (  # minReplicas defaulted to 1 first, as in kube
        422, 'HorizontalPodAutoscaler.autoscaling "web" is invalid: [spec.maxReplicas: Invalid value: 0: '
             "must be greater than 0, spec.maxReplicas: Invalid value: 0: must be greater than or equal to "
             "`minReplicas`]")
    assert status_causes(e.value) == [("spec.maxReplicas", "Invalid value: 0: must be greater than 0"), (
        "spec.maxReplicas", "Invalid value: 0: must be greater than or equal to `minReplicas`")]


def test_table_row_before_and_after_the_controller_measured():
    obj = hpa(metrics=[CPU_50, {"type": "Resource", "resource": {
        "name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}])
    STRATEGY.default(obj)
    obj["metadata"]["creationTimestamp"] = CREATED
    assert STRATEGY.cells(obj, NOW) == ["Deployment/web", "cpu: <unknown>/50%, memory: <unknown>/100Mi", "1", 5, 0,
                                        "5m"]
    obj["status"] = {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12, "averageValue": "6m"}}},
        {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "52428800"}}}]}
    # the controller writes usage as a decimal milli-quantity, so memory prints in bytes, as in kube
    assert STRATEGY.cells(obj, NOW)[1:5] == ["cpu: 12%/50%, memory: 52428800/100Mi", "1", 5, 2]


# --- autoscaling/v1 --------------------------------------------------------------------------------------


def test_kubectl_autoscale_v1_body_is_stored_as_v2_and_read_back_without_annotations(registries):
    v2, v1 = registries
    body = {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                     "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50},
            "status": {"currentReplicas": 0, "desiredReplicas": 0}}  # what kubectl 1.27 and 1.31 POST
    created, _ = v1.create("default", body)
    assert created["apiVersion"] == "autoscaling/v1" and "annotations" not in created["metadata"]
    assert created["spec"] == body["spec"] and created["status"] == {"currentReplicas": 0, "desiredReplicas": 0}
    stored = v2.get("default", "web")
    assert stored["spec"]["metrics"] == [CPU_50] and stored["apiVersion"] == "autoscaling/v2"
    without_target = copy.deepcopy(body)
    del without_target["spec"]["targetCPUUtilizationPercentage"]
    without_target["metadata"]["name"] = "bare"
    assert v1.create("default", without_target)[0]["spec"]["targetCPUUtilizationPercentage"] == 80


def test_what_v1_cannot_hold_travels_in_annotations_and_comes_back():
    obj = hpa(minReplicas=1, metrics=[CPU_50, {"type": "Resource", "resource": {
        "name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}],
        behavior={"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}]}})
    condition = {"type": "ScalingActive", "status": "True", "lastTransitionTime": CREATED, "reason": "ValidMetricFound",
                 "message": "the HPA was able to successfully calculate a replica count from cpu resource "
                            "utilization (percentage of request)"}
    cpu = {"name": "cpu", "current": {"averageUtilization": 70, "averageValue": "35m"}}
    obj["status"] = {"currentReplicas": 2, "desiredReplicas": 3, "conditions": [condition],
                     "currentMetrics": [{"type": "Resource", "resource": cpu}]}
    v1 = to_v1(obj)
    annotations = v1["metadata"]["annotations"]
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50 and v1["status"]["currentCPUUtilizationPercentage"] == 70
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}}]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/current-metrics"]) == [
        {"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 70,
                                          "currentAverageValue": "35m"}}]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/conditions"]) == [condition]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/behavior"]) == {
        "ScaleUp": None, "ScaleDown": {"StabilizationWindowSeconds": 60, "SelectPolicy": "Max",
                                       "Policies": [{"Type": "Pods", "Value": 1, "PeriodSeconds": 30}]}}
    back = from_v1(v1)
    assert "annotations" not in back["metadata"], "v2 never shows the round-trip annotations"
    assert back["spec"]["metrics"] == [obj["spec"]["metrics"][1], CPU_50]  # the v1 target comes last, as in kube
    assert back["spec"]["behavior"] == obj["spec"]["behavior"]
    assert back["status"]["conditions"] == [condition] and back["status"]["currentMetrics"] == obj["status"][
        "currentMetrics"]


def test_a_v1_client_updating_an_object_keeps_the_v2_fields(registries):
    v2, v1 = registries
    v2.create("default", hpa(metrics=[CPU_50, {"type": "Resource", "resource": {
        "name": "memory", "target": {"type": "Utilization", "averageUtilization": 60}}}]))
    read = v1.get("default", "web")
    read["spec"]["maxReplicas"] = 9
    v1.update("default", "web", lambda _old: read)
    stored = v2.get("default", "web")
    assert stored["spec"]["maxReplicas"] == 9 and len(stored["spec"]["metrics"]) == 2
    listed = v1.list("default")
    assert listed["apiVersion"] == "autoscaling/v1" and listed["items"][0]["spec"]["maxReplicas"] == 9
