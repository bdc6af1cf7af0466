"""The Endpoints strategy (``pkg/registry/core/endpoint``).

Defaulting from ``SetDefaults_Endpoints`` (port protocol TCP), validation from
``ValidateEndpoints`` (addresses are IPs, ports well-formed and named when there are several), the
Table from ``printEndpoints``: ``10.0.0.1:80,10.0.0.2:80 + 1 more...``.

Left out: kube rejects loopback and link-local addresses in endpoints; labkit's pods live on
127.0.0.0/8, so it allows them. Hostname and nodeName checks are left out too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, dns1123_label_errors, invalid, required
from labkit.apiserver.registry.pod.validation import ip_errors, port_number_errors, validate_protocol
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age, list_of_dicts

MAX_SHOWN = 3


def format_endpoints(endpoints: Obj) -> str:
    """Up to three ``ip:port`` pairs, then ``+ N more...``; ``<none>`` without subsets."""
    subsets = list_of_dicts(endpoints.get("subsets"))
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in list_of_dicts(subset.get("addresses"))]
        ports = list_of_dicts(subset.get("ports"))
        pairs = addresses if not ports else [
            f"[{ip}]:{p.get('port')}" if ":" in ip else f"{ip}:{p.get('port')}" for p in ports for ip in addresses]
        count += len(pairs)
        shown += pairs[:MAX_SHOWN - len(shown)]
    text = ",".join(shown)
    return f"{text} + {count - MAX_SHOWN} more..." if count > MAX_SHOWN else text


def validate_endpoints(endpoints: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for i, subset in enumerate(list_of_dicts(endpoints.get("subsets"))):
        at = f"subsets[{i}]"
        for kind in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(list_of_dicts(subset.get(kind))):
                causes += [invalid(f"{at}.{kind}[{j}].ip", address.get("ip"), e) for e in ip_errors(address.get("ip"))]
        ports = list_of_dicts(subset.get("ports"))
        for j, port in enumerate(ports):
            pat = f"{at}.ports[{j}]"
            name = port.get("name", "")
            if len(ports) > 1 and not name:
                causes.append(required(f"{pat}.name"))
            elif name:
                causes += [invalid(f"{pat}.name", name, e) for e in dns1123_label_errors(name)]
            causes += [invalid(f"{pat}.port", port.get("port"), e) for e in port_number_errors(port.get("port"))]
            causes += validate_protocol(port.get("protocol"), f"{pat}.protocol")
    return causes


class EndpointsStrategy(Strategy):
    kind = "Endpoints"
    columns = (Column("Endpoints", description="Ready addresses with their ports."), AGE_COLUMN)

    def default(self, obj: Obj) -> None:
        for subset in list_of_dicts(obj.get("subsets")):
            for port in list_of_dicts(subset.get("ports")):
                port.setdefault("protocol", "TCP")

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_endpoints(obj)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [format_endpoints(obj), age(obj, now)]


STRATEGY = EndpointsStrategy()
