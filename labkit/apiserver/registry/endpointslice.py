"""The EndpointSlice strategy (``pkg/registry/discovery/endpointslice``).

Mirrors ``SetDefaults_EndpointPort`` (``pkg/apis/discovery/v1/defaults.go``: name ``""``, protocol
``TCP``), ``ValidateEndpointSliceCreate`` / ``ValidateEndpointSliceUpdate``
(``pkg/apis/discovery/validation``: ``addressType`` required, supported and immutable; every endpoint
has addresses of that type; ports named and unique) and ``printEndpointSlice``.

Left out: the per-slice limits (1000 endpoints, 100 ports) and ``hints``/``zone`` validation.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import (
    Cause,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    duplicate,
    invalid,
    not_supported,
    required,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]


def _special_ip_errors(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """``ValidateNonSpecialIP``: addresses that can never be a Pod's. Unlike Kubernetes, loopback is
    allowed: on labkit's process runtime every pod lives on its own 127.x.y.z address."""
    errs = []
    if ip.is_unspecified:
        errs.append(f"may not be unspecified ({ip})")
    if ip.is_link_local:
        errs.append("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    if ip in ipaddress.ip_network("224.0.0.0/24") or ip in ipaddress.ip_network("ff02::/16"):
        errs.append("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    return errs


def _address_errors(address: str, address_type: str, path: str) -> list[Cause]:
    if address_type in ("IPv4", "IPv6"):
        want = ipaddress.IPv4Address if address_type == "IPv4" else ipaddress.IPv6Address
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if not isinstance(ip, want):
            return [invalid(path, address, f"must be a valid {address_type} address")]
        return [invalid(path, address, e) for e in _special_ip_errors(ip)]
    if address_type == "FQDN":
        name = address.removesuffix(".")
        if errs := dns1123_subdomain_errors(name):
            return [invalid(path, name, ",".join(errs))]
        if "." not in name:
            return [invalid(path, name, "should be a domain with at least two segments separated by dots")]
    return []


def _validate_endpoints(obj: Obj) -> list[Cause]:
    causes = []
    for i, endpoint in enumerate(obj.get("endpoints") or []):
        path = f"endpoints[{i}].addresses"
        addresses = endpoint.get("addresses") or []
        if not addresses:
            causes.append(required(path, "must contain at least 1 address"))
        for j, address in enumerate(addresses):
            causes += _address_errors(address, obj.get("addressType", ""), f"{path}[{j}]")
        if endpoint.get("hostname") is not None:
            causes += [invalid(f"endpoints[{i}].hostname", endpoint["hostname"], e)
                       for e in dns1123_label_errors(endpoint["hostname"])]
    return causes


def _validate_ports(obj: Obj) -> list[Cause]:
    causes = []
    names: set[str] = set()
    for i, port in enumerate(obj.get("ports") or []):
        path = f"ports[{i}]"
        name = port.get("name") or ""
        if name:
            causes += [invalid(f"{path}.name", name, e) for e in dns1123_label_errors(name)]
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            causes.append(required(f"{path}.protocol"))
        elif protocol not in PROTOCOLS:
            causes.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
        number = port.get("port")
        if number is not None and not 1 <= number <= 65535:
            causes.append(invalid(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
    return causes


def _list_cell(items: list[str]) -> str:
    """``listWithMoreString``: at most three, then ``+ N more...``; ``<unset>`` when empty."""
    if not items:
        return "<unset>"
    shown = ",".join(items[:3])
    return f"{shown} + {len(items) - 3} more..." if len(items) > 3 else shown


class EndpointSliceStrategy(Strategy):
    kind = "EndpointSlice"
    columns = (
        Column("AddressType", description="Type of address carried by this EndpointSlice."),
        Column("Ports", description="Network ports exposed by each endpoint."),
        Column("Endpoints", description="Addresses of the endpoints in this slice."),
        AGE_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        for port in obj.get("ports") or []:
            if port.get("name") is None:
                port["name"] = ""
            if port.get("protocol") is None:
                port["protocol"] = "TCP"

    def validate(self, obj: Obj) -> list[Cause]:
        causes = []
        address_type = obj.get("addressType")
        if not address_type:
            causes.append(required("addressType"))
        elif address_type not in ADDRESS_TYPES:
            causes.append(not_supported("addressType", address_type, ADDRESS_TYPES))
        return causes + _validate_endpoints(obj) + _validate_ports(obj)

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = _validate_endpoints(obj) + _validate_ports(obj)
        if obj.get("addressType") != old.get("addressType"):
            causes.append(invalid("addressType", obj.get("addressType"), "field is immutable"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        ports = []
        for port in obj.get("ports") or []:
            if port.get("port") is not None:
                ports.append(str(port["port"]))
            else:
                ports.append(port["name"] if port.get("name") is not None else "*")
        addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
        return [obj.get("addressType", ""), _list_cell(ports), _list_cell(addresses), age(obj, now)]


STRATEGY = EndpointSliceStrategy()
