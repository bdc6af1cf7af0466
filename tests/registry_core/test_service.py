"""Services: defaults, validation causes, kept allocations on update, and the Table cells."""

from __future__ import annotations

import pytest

from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry.service import STRATEGY

from .conftest import NOW
from .test_pod import causes_of

CREATED = "2026-01-01T09:00:00Z"


def svc(*ports: dict, name: str = "web", **spec) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"ports": list(ports), **spec}}


def test_defaults_as_kubectl_expose_gets_them(registry):
    created, _ = registry("services").create("default", svc({"port": 80}, selector={"app": "web"}))
    assert created["spec"] == {
        "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "selector": {"app": "web"}, "sessionAffinity": "None", "type": "ClusterIP",
    }
    assert created["status"] == {"loadBalancer": {}}


def test_node_port_and_load_balancer_defaults(registry):
    reg = registry("services")
    node_port, _ = reg.create("default", svc({"port": 80, "targetPort": "http"}, type="NodePort"))
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"
    assert node_port["spec"]["ports"][0]["targetPort"] == "http"
    lb, _ = reg.create("default", svc({"port": 80}, name="lb", type="LoadBalancer", sessionAffinity="ClientIP"))
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    assert lb["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


@pytest.mark.parametrize("timeout,cause", [
    (0, "Invalid value: 0: must be greater than 0 and less than 86400"),
    (86401, "Invalid value: 86401: must be greater than 0 and less than 86400"),
    (86400, None),
])
def test_client_ip_affinity_timeout_range(registry, timeout, cause):
    """``validateAffinityTimeout``: (0, 86400] seconds; 0 is a value, not a missing one, so not defaulted."""
    body = svc({"port": 80}, sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": timeout}})
    if cause is None:
        created, _ = registry("services").create("default", body)
        assert created["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 86400}}
        return
    with pytest.raises(ApiError) as err:
        registry("services").create("default", body)
    assert causes_of(err.value) == [("spec.sessionAffinityConfig.clientIP.timeoutSeconds", cause)]


def test_validation_causes(registry):
    body = svc({"port": 0, "name": "http"}, {"port": 80, "protocol": "ICMP", "targetPort": "Web_Port"},
               {"port": 80, "name": "http", "nodePort": 30080},
               type="Internal", clusterIP="10.0.0.300", selector={"app": "-bad"})
    with pytest.raises(ApiError) as err:
        registry("services").create("default", body)
    assert causes_of(err.value) == [
        ("spec.type", 'Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", '
                      '"LoadBalancer", "NodePort"'),
        ("spec.clusterIPs[0]", 'Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
        ("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ("spec.ports[0].targetPort", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ("spec.ports[1].name", "Required value"),
        ("spec.ports[1].protocol", 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
        ("spec.ports[1].targetPort", 'Invalid value: "Web_Port": must contain only alpha-numeric characters '
                                     "(a-z, 0-9), and hyphens (-)"),
        ("spec.ports[2].name", 'Duplicate value: "http"'),
        ("spec.selector", "Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric "
                          "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                          "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                          "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
    ]


def test_port_and_protocol_pairs_are_unique(registry):
    with pytest.raises(ApiError) as err:
        registry("services").create("default", svc({"name": "a", "port": 80}, {"name": "b", "port": 80}))
    assert causes_of(err.value) == [("spec.ports[1]", 'Duplicate value: {"port":80,"protocol":"TCP"}')]


def test_ports_required_unless_headless(registry):
    reg = registry("services")
    with pytest.raises(ApiError) as err:
        reg.create("default", svc())
    assert causes_of(err.value) == [("spec.ports", "Required value")]
    headless, _ = reg.create("default", svc(clusterIP="None", selector={"app": "db"}))
    assert headless["spec"]["clusterIPs"] == ["None"]


def test_node_port_forbidden_for_cluster_ip(registry):
    with pytest.raises(ApiError) as err:
        registry("services").create("default", svc({"port": 80, "nodePort": 30080}))
    assert causes_of(err.value) == [("spec.ports[0].nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'")]


def test_service_names_are_dns1035_labels(registry):
    with pytest.raises(ApiError) as err:
        registry("services").create("default", svc({"port": 80}, name="1web"))
    [(field, message)] = causes_of(err.value)
    assert field == "metadata.name"
    assert message.startswith('Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric')


def update(reg, name, change):
    def mutate(obj):
        change(obj)
        return obj
    return reg.update("default", name, mutate)[0]


def test_cluster_ip_is_immutable_but_kept_when_omitted(registry):
    reg = registry("services")
    reg.create("default", svc({"port": 80}, clusterIP="10.96.0.10"))
    kept = update(reg, "web", lambda o: [o["spec"].pop("clusterIP"), o["spec"].pop("clusterIPs")])
    assert kept["spec"]["clusterIP"] == "10.96.0.10"
    assert kept["spec"]["clusterIPs"] == ["10.96.0.10"]
    with pytest.raises(ApiError) as err:
        update(reg, "web", lambda o: o["spec"].update(clusterIP="10.96.0.11", clusterIPs=["10.96.0.11"]))
    assert causes_of(err.value) == [("spec.clusterIPs[0]", 'Invalid value: ["10.96.0.11"]: may not change once set')]


def test_node_ports_kept_by_name_and_dropped_with_the_type(registry):
    reg = registry("services")
    reg.create("default", svc({"name": "http", "port": 80, "nodePort": 30080}, type="NodePort"))
    kept = update(reg, "web", lambda o: o["spec"]["ports"][0].pop("nodePort"))
    assert kept["spec"]["ports"][0]["nodePort"] == 30080
    back = update(reg, "web", lambda o: o["spec"].update(type="ClusterIP"))
    assert "nodePort" not in back["spec"]["ports"][0]
    assert "externalTrafficPolicy" not in back["spec"]


def cells(spec: dict, status: dict | None = None) -> list:
    return STRATEGY.cells({"metadata": {"name": "web", "creationTimestamp": CREATED}, "spec": spec,
                           "status": status or {}}, NOW)


def test_table_cells():
    assert [c.name for c in STRATEGY.columns] == ["Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert cells({"type": "ClusterIP", "clusterIPs": ["10.96.0.10"], "selector": {"tier": "fe", "app": "web"},
                  "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}) == [
        "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "3h", "app=web,tier=fe"]
    assert cells({"type": "NodePort", "clusterIPs": ["10.96.0.11"],
                  "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]})[:4] == [
        "NodePort", "10.96.0.11", "<none>", "80:30080/TCP"]
    assert cells({"type": "LoadBalancer", "ports": []})[1:4] == ["<none>", "<pending>", "<none>"]
    assert cells({"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}})[2] == "1.2.3.4"
    assert cells({"type": "ExternalName", "externalName": "example.com"})[2] == "example.com"
    assert cells({"type": "ClusterIP"})[-1] == "<none>"
