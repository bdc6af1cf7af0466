"""Endpoints and core/v1 Events: validation, Table cells and field selectors."""

from __future__ import annotations

import pytest

from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry import endpoints, event

from .conftest import NOW
from .test_pod import causes_of

CREATED = "2026-01-01T11:00:00Z"  # an hour before NOW


# --- endpoints ------------------------------------------------------------------------------------


def eps(*subsets: dict) -> dict:
    return {"metadata": {"name": "web", "namespace": "default", "creationTimestamp": CREATED}, "subsets": list(subsets)}


@pytest.mark.parametrize(("subsets", "want"), [
    ([], "<none>"),
    ([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}], "10.0.0.1:80"),
    ([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]}],
     "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."),
    ([{"addresses": [{"ip": "10.0.0.1"}]}], "10.0.0.1"),  # headless, no ports
    ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80"),
    ([{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 4)], "ports": [{"port": 80}]},
      {"addresses": [{"ip": "10.0.1.1"}], "ports": [{"port": 80}]}], "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."),
])
def test_endpoints_cell(subsets, want):
    assert endpoints.STRATEGY.cells(eps(*subsets), NOW) == [want, "60m"]


def test_endpoints_defaults_and_validation(registry):
    reg = registry("endpoints")
    created, _ = reg.create("default", eps({"addresses": [{"ip": "127.0.0.5"}], "ports": [{"port": 80}]}))
    assert created["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]  # loopback allowed in labkit
    body = eps({"addresses": [{"ip": "10.0.0.300"}], "ports": [{"port": 80}, {"port": 70000, "name": "b"}]})
    body["metadata"]["name"] = "bad"
    with pytest.raises(ApiError) as err:
        reg.create("default", body)
    assert causes_of(err.value) == [
        ("subsets[0].addresses[0].ip", 'Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
        ("subsets[0].ports[0].name", "Required value"),
        ("subsets[0].ports[1].port", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ]


# --- events ---------------------------------------------------------------------------------------


def scheduled(**extra) -> dict:
    return {
        "metadata": {"name": "web.17a", "namespace": "default", "creationTimestamp": CREATED},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u-1", "apiVersion": "v1",
                           "resourceVersion": "42", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled", "message": "Successfully pulled image \"nginx\"\n", "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-01T11:50:00Z", "lastTimestamp": "2026-01-01T11:58:00Z", "count": 3, **extra}


def test_event_columns_have_name_last():
    assert event.STRATEGY.name_column is False
    assert [(c.name, c.priority) for c in event.STRATEGY.columns] == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1), ("Message", 0),
        ("First Seen", 1), ("Count", 1), ("Name", 1)]


def test_event_cells():
    assert event.STRATEGY.cells(scheduled(), NOW) == [
        "2m", "Normal", "Pulled", "pod/web", "spec.containers{web}", "kubelet, node-1",
        'Successfully pulled image "nginx"', "10m", 3, "web.17a"]
    new_style = scheduled(firstTimestamp=None, lastTimestamp=None, count=None, source={},
                          eventTime="2026-01-01T11:59:30.000000Z", reportingComponent="default-scheduler",
                          reportingInstance="", series={"count": 4, "lastObservedTime": "2026-01-01T11:59:50.000000Z"})
    cells = event.STRATEGY.cells(new_style, NOW)
    assert cells[0] == "10s" and cells[5] == "default-scheduler" and cells[7] == "30s" and cells[8] == 4
    singleton = event.STRATEGY.cells(scheduled(lastTimestamp=None, count=0), NOW)
    assert (singleton[0], singleton[8]) == ("10m", 1)  # Last Seen falls back to First Seen; count 0 shows 1


def test_event_field_labels():
    assert event.STRATEGY.field_labels(scheduled()) == {
        "involvedObject.kind": "Pod", "involvedObject.namespace": "default", "involvedObject.name": "web",
        "involvedObject.uid": "u-1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "42",
        "involvedObject.fieldPath": "spec.containers{web}", "reason": "Pulled", "reportingComponent": "",
        "source": "kubelet", "type": "Normal"}
    assert event.STRATEGY.field_labels(scheduled(source={}, reportingComponent="kubelet"))["source"] == "kubelet"


def test_event_namespace_must_match_the_involved_object(registry):
    reg = registry("events")
    with pytest.raises(ApiError) as err:
        reg.create("kube-system", scheduled(metadata={"name": "e1", "namespace": "kube-system"}))
    assert causes_of(err.value) == [("involvedObject.namespace", 'Invalid value: "default": does not match event.namespace')]
    node_event = scheduled(metadata={"name": "e2", "namespace": "default"},
                           involvedObject={"kind": "Node", "name": "node-1"})
    created, _ = reg.create("default", node_event)  # cluster-scoped objects' events go to "default"
    assert event.STRATEGY.cells(created, NOW)[3] == "node/node-1"


def test_new_style_events_need_reporting_fields(registry):
    body = scheduled(metadata={"name": "e3", "namespace": "default"}, eventTime="2026-01-01T11:59:30.000000Z", reason="")
    with pytest.raises(ApiError) as err:
        registry("events").create("default", body)
    assert causes_of(err.value) == [
        ("reportingComponent", "Required value"),
        ("reportingComponent", 'Invalid value: "": name part must be non-empty'),
        ("reportingInstance", "Required value"),
        ("action", "Required value"),
        ("reason", "Required value"),
    ]
