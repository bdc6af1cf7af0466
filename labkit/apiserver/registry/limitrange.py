"""The LimitRange strategy (``pkg/registry/core/limitrange``).

Mirrors ``SetDefaults_LimitRangeItem`` (``pkg/apis/core/v1/defaults.go``: for a ``Container`` item a
missing ``default`` is the ``max``, and a missing ``defaultRequest`` the ``default``, else the
``min``), ``SetDefaults_ResourceList`` on every list, ``ValidateLimitRange`` (``pkg/apis/core/validation``:
a ``type``; no defaults on a ``Pod`` item; ``min <= defaultRequest <= default <= max``; a ratio of at
least 1 and at most max/min) and ``printLimitRange`` (NAME and CREATED AT, the timestamp itself).

Left out: resource name checks, ``PersistentVolumeClaim`` items' storage rule, the equal
default/defaultRequest rule of resources that may not overcommit. kube passes the offending
``resource.Quantity`` itself to ``field.Invalid``, so its message prints the Go struct
(``resource.Quantity{i:resource.int64Amount{...}}``); labkit prints the quantity as a string there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import Quantity, default_resource_list
from labkit.apimachinery.validation import Cause, forbidden, invalid, required
from labkit.apiserver.strategy import Column, Strategy, list_of_dicts
from labkit.quota import parse_list

FIELDS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
_POD_ONLY = "may not be specified when `type` is 'Pod'"


def _order_errors(path: str, lists: dict[str, dict[str, Quantity]]) -> list[Cause]:
    """The ordering rules, resource by resource (kube's messages; see the module docstring for the value)."""
    causes = []
    low, high, dflt, dreq, ratio = (lists[f] for f in ("min", "max", "default", "defaultRequest",
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
        for i, item in enumerate(list_of_dicts((obj.get("spec") or {}).get("limits"))):
            path = f"spec.limits[{i}]"
            if not item.get("type"):
                causes.append(required(f"{path}.type"))
            if item.get("type") == "Pod":
                causes += [forbidden(f"{path}.{f}", _POD_ONLY) for f in ("default", "defaultRequest") if item.get(f)]
            causes += _order_errors(path, {f: parse_list(item.get(f)) for f in FIELDS})
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [obj.get("metadata", {}).get("creationTimestamp", "")]


STRATEGY = LimitRangeStrategy()
