"""Lease, EndpointSlice and PriorityClass strategies."""

from __future__ import annotations

import pytest

from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry import endpointslice, lease, priorityclass

from .helpers import CREATED, NOW, fields, status_causes

META = {"creationTimestamp": CREATED}

# --- Lease -------------------------------------------------------------------------------------------


def test_lease_validation_and_cells():
    assert lease.STRATEGY.validate({"spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}) == []
    assert fields(lease.STRATEGY.validate({"spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}})) == [
        ("spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0"),
        ("spec.leaseTransitions", "Invalid value: -1: must be greater than or equal to 0"),
    ]
    assert [c.name for c in lease.STRATEGY.columns] == ["Holder", "Age"]
    assert lease.STRATEGY.cells({"metadata": META, "spec": {"holderIdentity": "node-1"}}, NOW) == ["node-1", "5m"]
    assert lease.STRATEGY.cells({"metadata": META, "spec": {}}, NOW) == ["", "5m"]


# --- EndpointSlice -----------------------------------------------------------------------------------

ES = endpointslice.STRATEGY


def test_endpointslice_port_defaults(registry):
    reg = registry("discovery.k8s.io", "endpointslices")
    created, _ = reg.create("default", {"metadata": {"name": "web-abc"}, "addressType": "IPv4",
                                        "endpoints": [{"addresses": ["10.0.0.5"]}], "ports": [{"port": 80}]})
    assert created["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]


def test_endpointslice_validation():
    assert fields(ES.validate({})) == [("addressType", "Required value")]
    assert fields(ES.validate({"addressType": "IPv5"})) == [
        ("addressType", 'Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"')]
    obj = {"addressType": "IPv4",
           "endpoints": [{"addresses": []}, {"addresses": ["10.0.0.1", "fd00::1", "127.244.1.5", "169.254.1.1"]}],
           "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "http", "port": 0, "protocol": "ICMP"}]}
    assert fields(ES.validate(obj)) == [
        ("endpoints[0].addresses", "Required value: must contain at least 1 address"),
        ("endpoints[1].addresses[1]", 'Invalid value: "fd00::1": must be a valid IPv4 address'),
        ("endpoints[1].addresses[3]", 'Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'),
        ("ports[1].name", 'Duplicate value: "http"'),
        ("ports[1].protocol", 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
        ("ports[1].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
    ]
    assert ES.validate({"addressType": "FQDN", "endpoints": [{"addresses": ["db.example.com"]}]}) == []


def test_endpointslice_address_type_immutable():
    old = {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}]}
    assert ES.validate_update(dict(old), old) == []
    assert fields(ES.validate_update({"addressType": "IPv6"}, old)) == [
        ("addressType", 'Invalid value: "IPv6": field is immutable')]


def test_endpointslice_cells():
    obj = {"metadata": META, "addressType": "IPv4",
           "ports": [{"name": "http", "port": 80}, {"name": "named", "port": None}],
           "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3", "10.0.0.4", "10.0.0.5"]}]}
    assert [c.name for c in ES.columns] == ["AddressType", "Ports", "Endpoints", "Age"]
    assert ES.cells(obj, NOW) == ["IPv4", "80,named", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "5m"]
    assert ES.cells({"metadata": META, "addressType": "IPv4"}, NOW) == ["IPv4", "<unset>", "<unset>", "5m"]


# --- PriorityClass -----------------------------------------------------------------------------------

PC = priorityclass.STRATEGY


def test_priorityclass_defaults(registry):
    reg = registry("scheduling.k8s.io", "priorityclasses")
    created, _ = reg.create("", {"metadata": {"name": "high"}, "value": 1000})
    assert created["preemptionPolicy"] == "PreemptLowerPriority"
    created, _ = reg.create("", {"metadata": {"name": "zero"}})
    assert created["value"] == 0


def test_priorityclass_validation():
    assert PC.validate({"metadata": {"name": "high"}, "value": 1000000000, "preemptionPolicy": "Never"}) == []
    assert fields(PC.validate({"metadata": {"name": "too-high"}, "value": 1000000001})) == [
        ("value", "Forbidden: maximum allowed value of a user defined priority is 1000000000")]
    assert fields(PC.validate({"metadata": {"name": "system-mine"}, "value": 5})) == [
        ("metadata.name", "Forbidden: priority class names with 'system-' prefix are reserved for system use only. "
                          "error: system-mine is not a known system priority class")]
    assert fields(PC.validate({"metadata": {"name": "system-node-critical"}, "value": 5})) == [
        ("metadata.name", "Forbidden: priority class names with 'system-' prefix are reserved for system use only. "
                          "error: value of system-node-critical PriorityClass must be 2000001000")]
    assert PC.validate({"metadata": {"name": "system-node-critical"}, "value": 2000001000}) == []
    assert fields(PC.validate({"metadata": {"name": "p"}, "value": 1, "preemptionPolicy": "Always"})) == [
        ("preemptionPolicy", 'Unsupported value: "Always": supported values: "PreemptLowerPriority", "Never"')]


def test_priorityclass_value_and_policy_immutable(registry):
    reg = registry("scheduling.k8s.io", "priorityclasses")
    reg.create("", {"metadata": {"name": "high"}, "value": 1000})

    def change(obj):
        obj["value"] = 2000
        obj["preemptionPolicy"] = "Never"
        return obj

    with pytest.raises(ApiError) as err:
        reg.update("", "high", change)
    assert status_causes(err.value) == [
        ("value", "Forbidden: may not be changed in an update."),
        ("preemptionPolicy", 'Invalid value: "Never": field is immutable'),
    ]

    def describe(obj):
        obj["description"] = "for important things"
        return obj

    assert reg.update("", "high", describe)[0]["description"] == "for important things"


def test_priorityclass_cells():
    assert [c.name for c in PC.columns] == ["Value", "Global-Default", "Age", "PreemptionPolicy"]
    obj = {"metadata": META, "value": 1000, "preemptionPolicy": "Never"}
    assert PC.cells(obj, NOW) == [1000, False, "5m", "Never"]
    assert PC.cells({**obj, "globalDefault": True}, NOW)[1] is True
