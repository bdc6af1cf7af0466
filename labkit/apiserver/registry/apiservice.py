"""The APIService strategy (``k8s.io/kube-aggregator/pkg/registry/apiservice``).

Mirrors kube-aggregator's ``SetDefaults_ServiceReference`` (port 443), ``ValidateAPIService`` (the name
must be ``<version>.<group>``, the priorities' ranges, a local APIService has no TLS settings, a
Service reference names its namespace and name), ``ValidateAPIServiceStatus`` and the table of
``registry/apiservice/etcd`` (NAME SERVICE AVAILABLE AGE: ``Local`` for an APIService served by
kube-apiserver itself, ``False (Reason)`` for an unavailable one). Who serves an APIService's group and
how is :mod:`labkit.apiserver.aggregator`. Left out: ``caBundle`` checks beyond the local case.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import (
    Cause,
    dns1035_label_errors,
    dns1123_subdomain_errors,
    invalid,
    not_supported,
    required,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

CONDITION_STATUSES = ["True", "False", "Unknown"]


def available(obj: Obj) -> str:
    """The AVAILABLE cell: the ``Available`` condition's status, with its reason when not True."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Available":
            status = cond.get("status", "")
            return f"{status} ({cond['reason']})" if status != "True" and cond.get("reason") else status
    return "Unknown"


class APIServiceStrategy(Strategy):
    kind = "APIService"
    name_rule = "path"
    status_subresource = True
    columns = (Column("Service", description="The reference to the service that hosts this API endpoint."),
               Column("Available", description="Whether this service is available."), AGE_COLUMN)

    def default(self, obj: Obj) -> None:
        service = (obj.get("spec") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        group, version = spec.get("group", ""), spec.get("version", "")
        causes = []
        name, wanted = obj["metadata"].get("name", ""), f"{version}.{group}"
        if name != wanted:
            causes.append(invalid("metadata.name", name, f'must be `spec.version+"."+spec.group`: "{wanted}"'))
        if not group and version != "v1":
            causes.append(required("spec.group", "only v1 may have an empty group and it better be legacy kube"))
        causes += [invalid("spec.group", group, e) for e in (dns1123_subdomain_errors(group) if group else [])]
        causes += [invalid("spec.version", version, e) for e in dns1035_label_errors(version)]
        if not 0 < spec.get("groupPriorityMinimum", 0) <= 20000:
            causes.append(invalid("spec.groupPriorityMinimum", spec.get("groupPriorityMinimum", 0),
                                  "must be positive and less than 20000"))
        if not 0 < spec.get("versionPriority", 0) <= 1000:
            causes.append(invalid("spec.versionPriority", spec.get("versionPriority", 0),
                                  "must be positive and less than 1000"))
        for i, cond in enumerate((obj.get("status") or {}).get("conditions") or []):
            if cond.get("status") not in CONDITION_STATUSES:
                causes.append(not_supported(f"status.conditions[{i}].status", cond.get("status"),
                                            CONDITION_STATUSES))
        service = spec.get("service")
        if service is None:
            if spec.get("insecureSkipTLSVerify"):
                causes.append(invalid("spec.insecureSkipTLSVerify", True,
                                      "local APIServices may not have insecureSkipTLSVerify"))
            return causes
        causes += [required(f"spec.service.{key}") for key in ("namespace", "name") if not service.get(key)]
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        service = (obj.get("spec") or {}).get("service")
        where = f"{service.get('namespace', '')}/{service.get('name', '')}" if service else "Local"
        return [where, available(obj), age(obj, now)]


STRATEGY = APIServiceStrategy()
