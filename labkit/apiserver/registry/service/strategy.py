"""The Service strategy (``pkg/registry/core/service/strategy.go``).

- Defaulting from ``SetDefaults_Service``: type ClusterIP, sessionAffinity None, port protocol TCP,
  targetPort = port, the traffic policies; plus the single-stack IPv4 ``ipFamilies`` /
  ``ipFamilyPolicy`` that kube-apiserver's service REST storage fills in for a one-family cluster.
- Validation: the parts of ``ValidateService`` / ``ValidateServiceUpdate`` a learner meets (ports,
  names, type, selector, clusterIP shape, immutable clusterIP, session affinity and its timeout).
- Updates keep what was allocated (``patchAllocatedValues``: clusterIP, nodePorts by port name) and
  drop nodePorts when the type no longer needs them (``dropTypeDependentFields``).
- Printing from ``printService``: ``80/TCP``, ``80:30080/TCP``.

Allocating clusterIPs and nodePorts is the storage's job, not the strategy's: ``storage.py`` beside
this module. Left out: dual-stack, load balancer class and source ranges, health-check node ports,
topology and traffic-distribution fields, externalIPs admission.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import (
    Cause,
    dns1123_label_errors,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from labkit.apiserver.registry.pod.validation import (
    port_number_errors,
    validate_port_number_or_name,
    validate_protocol,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age, list_of_dicts
from labkit.apiserver.validation import validate_labels

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SESSION_AFFINITIES = ["ClientIP", "None"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
DEFAULT_CLIENT_IP_TIMEOUT = 10800
MAX_CLIENT_IP_TIMEOUT = 86400  # MaxClientIPServiceAffinitySeconds: a day


def _ports(spec: Obj) -> list[Obj]:
    return list_of_dicts(spec.get("ports"))


def default_service(svc: Obj) -> None:
    spec = svc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig") or {}
        if not isinstance(config, dict) or (config.get("clientIP") or {}).get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_TIMEOUT}}
    for port in _ports(spec):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    kind = spec["type"]
    if kind in NODE_PORT_TYPES or (kind == "ClusterIP" and spec.get("externalIPs")):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind in ("ClusterIP", *NODE_PORT_TYPES):
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    # v1 keeps clusterIP and clusterIPs[0] in step (conversion)
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    elif spec.get("clusterIPs") and not spec.get("clusterIP"):
        spec["clusterIP"] = spec["clusterIPs"][0]


def validate_service(svc: Obj) -> list[Cause]:
    spec = svc.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    kind = spec.get("type")
    if kind not in SERVICE_TYPES:
        causes.append(not_supported("spec.type", kind, SERVICE_TYPES))
    cluster_ip = spec.get("clusterIP", "")
    headless = cluster_ip == "None"
    if cluster_ip and not headless:
        try:
            ipaddress.IPv4Address(cluster_ip)
        except ValueError:
            causes.append(invalid("spec.clusterIPs[0]", cluster_ip,
                                  "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    if kind == "ExternalName":
        if not spec.get("externalName"):
            causes.append(required("spec.externalName"))
        if cluster_ip:
            causes.append(forbidden("spec.clusterIP", "may not be set for ExternalName services"))
    raw_ports = spec.get("ports") or []
    if not raw_ports and not headless and kind != "ExternalName":
        causes.append(required("spec.ports"))
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(raw_ports):
        at = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            causes.append(invalid(at, port, "must be an object"))
            continue
        name = port.get("name", "")
        if len(raw_ports) > 1 and not name:
            causes.append(required(f"{at}.name"))
        elif name:
            causes += [invalid(f"{at}.name", name, e) for e in dns1123_label_errors(name)]
            if name in names:
                causes.append(duplicate(f"{at}.name", name))
            names.add(name)
        causes += [invalid(f"{at}.port", port.get("port"), e) for e in port_number_errors(port.get("port"))]
        causes += validate_protocol(port.get("protocol"), f"{at}.protocol")
        causes += validate_port_number_or_name(port.get("targetPort"), f"{at}.targetPort")
        node_port = port.get("nodePort")
        if node_port and kind == "ClusterIP":
            causes.append(forbidden(f"{at}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        elif node_port:
            causes += [invalid(f"{at}.nodePort", node_port, e) for e in port_number_errors(node_port)]
        key = (port.get("port"), port.get("protocol"))
        if key in seen:
            causes.append(duplicate(at, {"port": key[0], "protocol": key[1]}))
        seen.add(key)
    if spec.get("sessionAffinity") not in SESSION_AFFINITIES:
        causes.append(not_supported("spec.sessionAffinity", spec.get("sessionAffinity"), SESSION_AFFINITIES))
    causes += _session_affinity_config_errors(spec)
    for field in ("externalTrafficPolicy", "internalTrafficPolicy"):
        if field in spec and spec[field] not in TRAFFIC_POLICIES:
            causes.append(not_supported(f"spec.{field}", spec[field], TRAFFIC_POLICIES))
    causes += validate_labels(spec.get("selector"), "spec.selector")
    return causes


def _session_affinity_config_errors(spec: Obj) -> list[Cause]:
    """``validateClientIPAffinityConfig``: ClientIP needs a timeout in (0, 86400]; None takes no config
    (defaulting fills the first and drops the second, so mostly the range is what a user meets)."""
    at, config = "spec.sessionAffinityConfig", spec.get("sessionAffinityConfig")
    if spec.get("sessionAffinity") == "None":
        return [forbidden(at, "must not be set when session affinity is None")] if config is not None else []
    if spec.get("sessionAffinity") != "ClientIP":
        return []
    why = "when session affinity type is ClientIP"
    if not isinstance(config, dict):
        return [required(at, why)]
    if not isinstance(config.get("clientIP"), dict):
        return [required(f"{at}.clientIP", why)]
    timeout = config["clientIP"].get("timeoutSeconds")
    if timeout is None:
        return [required(f"{at}.clientIP.timeoutSeconds", why)]
    if not isinstance(timeout, int) or not 0 < timeout <= MAX_CLIENT_IP_TIMEOUT:
        return [invalid(f"{at}.clientIP.timeoutSeconds", timeout,
                        f"must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}")]
    return []


def keep_allocated(svc: Obj, old: Obj) -> None:
    """``patchAllocatedValues`` and ``dropTypeDependentFields`` for an update."""
    spec, old_spec = svc.get("spec"), old.get("spec") or {}
    if not isinstance(spec, dict):
        return
    if not spec.get("clusterIP") and not spec.get("clusterIPs") and spec.get("type") != "ExternalName":
        for field in ("clusterIP", "clusterIPs"):
            if field in old_spec:
                spec[field] = old_spec[field]
    old_node_ports = {p.get("name", ""): p.get("nodePort") for p in _ports(old_spec) if p.get("nodePort")}
    if old_spec.get("type") in NODE_PORT_TYPES and spec.get("type") in NODE_PORT_TYPES:
        used = {p.get("nodePort") for p in _ports(spec)}
        for port in _ports(spec):
            old_value = old_node_ports.get(port.get("name", ""))
            if not port.get("nodePort") and old_value and old_value not in used:
                port["nodePort"] = old_value
    elif spec.get("type") not in NODE_PORT_TYPES:
        if {p.get("name", ""): p.get("nodePort") for p in _ports(spec) if p.get("nodePort")} == old_node_ports:
            for port in _ports(spec):
                port.pop("nodePort", None)
        if spec.get("type") != "LoadBalancer":
            spec.pop("allocateLoadBalancerNodePorts", None)
        if not spec.get("externalIPs"):
            spec.pop("externalTrafficPolicy", None)


def port_cell(spec: Obj) -> str:
    pieces = []
    for p in _ports(spec):
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        pieces.append(f"{p.get('port')}{node_port}/{p.get('protocol', '')}")
    return ",".join(pieces) or "<none>"


def external_ip_cell(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    external = spec.get("externalIPs") or []
    kind = spec.get("type")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        lb = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
        return ",".join(dict.fromkeys(lb + external)) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


class ServiceStrategy(Strategy):
    kind = "Service"
    name_rule = "dns1035"
    status_subresource = True
    columns = (
        Column("Type", description="How the service is exposed: ClusterIP, NodePort, LoadBalancer, ExternalName."),
        Column("Cluster-IP", description="The virtual IP inside the cluster."),
        Column("External-IP", description="Addresses reachable from outside the cluster."),
        Column("Port(s)", description="Ports, with the node port after a colon."),
        AGE_COLUMN,
        Column("Selector", priority=1, description="Labels of the pods that back the service."),
    )

    def default(self, obj: Obj) -> None:
        default_service(obj)

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        super().prepare_for_update(obj, old)
        keep_allocated(obj, old)

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_service(obj)

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = validate_service(obj)
        old_ips = (old.get("spec") or {}).get("clusterIPs") or []
        new_ips = (obj.get("spec") or {}).get("clusterIPs") or []
        if old_ips and (obj.get("spec") or {}).get("type") != "ExternalName" and new_ips[:1] != old_ips[:1]:
            causes.append(invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        ips = spec.get("clusterIPs") or []
        selector = spec.get("selector") or {}
        return [spec.get("type", ""), ips[0] if ips else "<none>", external_ip_cell(obj), port_cell(spec),
                age(obj, now), ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"]


STRATEGY = ServiceStrategy()
