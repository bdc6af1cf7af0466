"""The LimitRange strategy (``pkg/registry/core/limitrange``).

Mirrors ``SetDefaults_LimitRangeItem`` (``pkg/apis/core/v1/defaults.go``: for a ``Container`` item a
missing ``default`` is the ``max``, and a missing ``defaultRequest`` the ``default``, else the
``min``), ``SetDefaults_ResourceList`` on every list, ``ValidateLimitRange``
(``pkg/apis/core/validation``: each ``type`` once and one of kube's, or with a ``/``; resource
names; no defaults on a ``Pod`` item; ``min <= defaultRequest <= default <= max``; a ratio of at
least 1 and at most max/min) and ``printLimitRange`` (NAME and CREATED AT, the timestamp itself).

Left out: the storage rule of ``PersistentVolumeClaim`` items, the equal default/defaultRequest rule
of resources that may not overcommit. Where kube's checks walk a Go map, the errors come here sorted
by resource name. kube passes the offending ``resource.Quantity`` itself to ``field.Invalid``, so its
message prints the Go struct (``Invalid value: resource.Quantity{i:resource.int64Amount{...}}``);
labkit prints the quantity as a string there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import Quantity, default_resource_list
from labkit.apimachinery.validation import Cause, duplicate, forbidden, invalid, qualified_name_errors
from labkit.apiserver.registry.pod.validation import container_resource_name_errors
from labkit.apiserver.strategy import Column, Strategy, list_of_dicts
from labkit.quota import parse_list

FIELDS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
LIMIT_TYPES = ("Pod", "Container", "PersistentVolumeClaim")
_POD_ONLY = "may not be specified when `type` is 'Pod'"


def _order_errors(path: str, lists: dict[str, dict[str, Quantity]]) -> list[Cause]:
    """The ordering rules, resource by resource (kube's messages; see the module docstring for the value)."""
    causes = []
    low, high, dflt, dreq, ratio = (lists.get(f, {}) for f in ("min", "max", "default", "defaultRequest",
                                                              "maxLimitRequestRatio"))
    for k in sorted(set().union(*lists.values())):
        at = f"{path}.%s[{k}]"
        if k in low and k in high and low[k] > high[k]:
            causes.append(invalid(at % "min", str(low[k]), f"min value {low[k]} is greater than max value {high[k]}"))
        if k in dreq and k in low and low[k] > dreq[k]:
            causes.append(invalid(at % "defaultRequest", str(dreq[k]),
                                  f"min value {low[k]} is greater than default request value {dreq[k]}"))
        if k in dreq and k in high and dreq[k] > high[k]:
            causes.append(invalid(at % "defaultRequest", str(dreq[k]),
                                  f"default request value {dreq[k]} is greater than max value {high[k]}"))
        if k in dreq and k in dflt and dreq[k] > dflt[k]:
            causes.append(invalid(at % "defaultRequest", str(dreq[k]),
                                  f"default request value {dreq[k]} is greater than default limit value {dflt[k]}"))
        if k in dflt and k in low and low[k] > dflt[k]:
            causes.append(invalid(at % "default", str(low[k]), f"min value {low[k]} is greater than default value "
                                                               f"{dflt[k]}"))
        if k in dflt and k in high and dflt[k] > high[k]:
            causes.append(invalid(at % "default", str(high[k]), f"default value {dflt[k]} is greater than max value "
                                                                f"{high[k]}"))
        if k in ratio and ratio[k].amount < 1:
            causes.append(invalid(at % "maxLimitRequestRatio", str(ratio[k]), f"ratio {ratio[k]} is less than 1"))
        if k in ratio and k in low and k in high and low[k].milli_value():
            most = high[k].milli_value() / low[k].milli_value()
            if ratio[k].milli_value() / 1000 > most:
                causes.append(invalid(at % "maxLimitRequestRatio", str(ratio[k]),
                                      f"ratio {ratio[k]} is greater than max/min = {most:f}"))
    return causes


def _type_errors(path: str, kind: str) -> list[Cause]:
    """``validateLimitRangeTypeName``: a qualified name; one of kube's types unless it has a ``/``."""
    causes = [invalid(path, kind, e) for e in qualified_name_errors(kind)]
    if not causes and "/" not in kind and kind not in LIMIT_TYPES:
        causes.append(invalid(path, kind, "must be a standard limit type or fully qualified"))
    return causes


class LimitRangeStrategy(Strategy):
    kind = "LimitRange"
    columns = (Column("Created At", "date", description="CreationTimestamp is a timestamp representing the server "
                                                        "time when this object was created."),)

    def default(self, obj: Obj) -> None:
        for item in list_of_dicts((obj.get("spec") or {}).get("limits")):
            for field in FIELDS:
                default_resource_list(item.get(field))
            if item.get("type") != "Container":
                continue
            for source, target in (("max", "default"), ("default", "defaultRequest"), ("min", "defaultRequest")):
                for name, value in (item.get(source) or {}).items():
                    item.setdefault(target, {}).setdefault(name, value)

    def validate(self, obj: Obj) -> list[Cause]:
        causes: list[Cause] = []
        seen: set[str] = set()
        for i, item in enumerate(list_of_dicts((obj.get("spec") or {}).get("limits"))):
            path, kind = f"spec.limits[{i}]", str(item.get("type") or "")
            causes += _type_errors(f"{path}.type", kind)
            if kind in seen:
                causes.append(duplicate(f"{path}.type", kind))
            seen.add(kind)
            for field in FIELDS:
                if kind == "Pod" and field in ("default", "defaultRequest"):
                    causes += [forbidden(f"{path}.{field}", _POD_ONLY)] if item.get(field) else []
                    continue
                for name in sorted(item.get(field) or {}):
                    at = f"{path}.{field}[{name}]"
                    causes += container_resource_name_errors(at, name) if kind in ("Pod", "Container") else \
                        [invalid(at, name, e) for e in qualified_name_errors(name)]
            causes += _order_errors(path, {f: parse_list(item.get(f)) for f in FIELDS
                                           if not (kind == "Pod" and f in ("default", "defaultRequest"))})
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [obj.get("metadata", {}).get("creationTimestamp", "")]


STRATEGY = LimitRangeStrategy()
