"""What kube-proxy needs from Services and EndpointSlices: service ports and their usable endpoints.

Mirrors ``pkg/proxy/service.go`` (``ServicePortName``, the per-port info kube-proxy keeps) and
``pkg/proxy/endpointslicecache.go`` (endpoints of one service port merged over all its slices,
found by the ``kubernetes.io/service-name`` label). An endpoint is used when its ``ready`` condition
is true or unset; when a port has no ready endpoint, serving-and-terminating ones are used
(``ProxyTerminatingEndpoints``). Left out: UDP and SCTP, topology hints, internal/external traffic
policies, dual-stack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from labkit.apimachinery.meta import Obj
from labkit.proxy.roundrobin import DEFAULT_AFFINITY_TIMEOUT

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class ServicePortName:
    namespace: str
    name: str
    port: str = ""  # the port's name; "" for a single unnamed port

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" + (f":{self.port}" if self.port else "")


@dataclasses.dataclass(frozen=True, slots=True)
class ServicePortInfo:
    cluster_ip: str
    port: int
    node_port: int = 0
    client_ip_affinity: bool = False
    affinity_timeout: int = DEFAULT_AFFINITY_TIMEOUT  # sessionAffinityConfig.clientIP.timeoutSeconds


def service_ports(svc: Obj) -> dict[ServicePortName, ServicePortInfo]:
    """The proxied TCP ports of a Service (none for ExternalName and headless Services)."""
    meta, spec = svc["metadata"], svc.get("spec", {})
    ip = spec.get("clusterIP", "")
    if spec.get("type") == "ExternalName" or not ip or ip == "None":
        return {}
    affinity = spec.get("sessionAffinity") == "ClientIP"
    timeout = int(((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
                  or DEFAULT_AFFINITY_TIMEOUT)
    return {ServicePortName(meta.get("namespace", ""), meta["name"], p.get("name", "")):
            ServicePortInfo(ip, int(p["port"]), int(p.get("nodePort") or 0), affinity, timeout)
            for p in spec.get("ports") or [] if p.get("protocol", "TCP") == "TCP"}


def slices_of(slices: Iterable[Obj], namespace: str, name: str) -> list[Obj]:
    return [s for s in slices if s["metadata"].get("namespace") == namespace
            and s["metadata"].get("labels", {}).get(SERVICE_NAME_LABEL) == name]


def usable(slices: Iterable[Obj]) -> list[tuple[Obj, str]]:
    """``(slice, address)`` of the ready endpoints, or of the serving-and-terminating ones if none is ready."""
    ready: list[tuple[Obj, str]] = []
    terminating: list[tuple[Obj, str]] = []
    for eps in slices:
        if eps.get("addressType", "IPv4") != "IPv4":
            continue
        for ep in eps.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            if not ep.get("addresses"):
                continue
            if cond.get("ready") is not False:
                ready.append((eps, ep["addresses"][0]))
            elif cond.get("serving") and cond.get("terminating"):
                terminating.append((eps, ep["addresses"][0]))
    return ready or terminating


def endpoints_for(slices: Iterable[Obj], port_name: str) -> list[str]:
    """``ip:port`` of the endpoints to balance over for one service port, sorted, without duplicates."""
    def port_of(eps: Obj) -> int | None:
        return next((p.get("port") for p in eps.get("ports") or []
                     if p.get("name", "") == port_name and p.get("protocol", "TCP") == "TCP"), None)
    return sorted({f"{address}:{port_of(eps)}" for eps, address in usable(s for s in slices if port_of(s) is not None)})
