"""The ResourceQuota strategy (``pkg/registry/core/resourcequota``).

Mirrors the strategy (``status`` is the controller's: reset on create, kept on updates of the main
resource, the only thing a ``/status`` write changes), ``SetDefaults_ResourceList`` on ``spec.hard``,
``ValidateResourceQuota`` and ``ValidateResourceQuotaUpdate`` (``pkg/apis/core/validation``: each
name a standard quota resource, or one with a ``/`` such as ``count/deployments.apps``; no negative
amount; scopes known, not conflicting, only on what they can limit, and never changed) and
``printResourceQuota``: REQUEST lists ``name: used/hard`` for each hard resource not under
``limits.``, LIMIT those under it, sorted by name.

Left out: the integer check of countable resources (``pods: 1.5``) and the validation of
``scopeSelector``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import default_resource_list
from labkit.apimachinery.validation import Cause, invalid, qualified_name_errors
from labkit.apiserver.registry.pod.validation import nonnegative_quantity
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age
from labkit.quota import LEGACY_COUNTS, POD_RESOURCES, SCOPES, SERVICE_RESOURCES

#: ``standardQuotaResources``
STANDARD_QUOTA_RESOURCES = frozenset(
    {r for r in POD_RESOURCES + SERVICE_RESOURCES + LEGACY_COUNTS if not r.startswith("count/")} | {"requests.storage"})


def resource_list_errors(field: str, raw: Any) -> list[Cause]:
    causes: list[Cause] = []
    for name, value in (raw or {}).items() if isinstance(raw, dict) else ():
        path = f"{field}[{name}]"
        causes += [invalid(path, name, e) for e in qualified_name_errors(name)]
        if "/" not in name and name not in STANDARD_QUOTA_RESOURCES:
            causes.append(invalid(path, name, "must be a standard resource for quota"))
        causes += nonnegative_quantity(path, value)[1]
    return causes


#: what a scope may limit (``IsResourceQuotaScopeValidForResource``); scopes not listed limit anything
_POD_COMPUTE = ("cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory")
SCOPE_RESOURCES = {"BestEffort": ("pods",), **{s: ("pods", *_POD_COMPUTE) for s in (
    "Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity")}}


def invalid_scopes(spec: Obj, detail: str) -> Cause:
    """kube passes the whole ``spec.scopes`` to ``field.Invalid``: the value reads as Go prints the slice."""
    scopes = spec.get("scopes")
    shown = "[]core.ResourceQuotaScope(nil)" if scopes is None else \
        "[]core.ResourceQuotaScope{" + ", ".join(json.dumps(str(s)) for s in scopes) + "}"
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", "spec.scopes")


def scope_errors(spec: Obj) -> list[Cause]:
    """``validateResourceQuotaScopes``."""
    scopes = [str(s) for s in spec.get("scopes") or []]

    def bad(detail: str) -> Cause:
        return invalid_scopes(spec, detail)

    causes = []
    hard = sorted(spec.get("hard") or {})
    for scope in scopes:
        if scope not in SCOPES:
            causes.append(bad("unsupported scope"))
        limits = SCOPE_RESOURCES.get(scope)
        causes += [bad("unsupported scope applied to resource") for name in hard
                   if name in STANDARD_QUOTA_RESOURCES and limits is not None and name not in limits]
    for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
        if set(pair) <= set(scopes):
            causes.append(bad("conflicting scopes"))
    return causes


def _is_limit(name: str) -> bool:
    pieces = name.split(".")
    return len(pieces) > 1 and pieces[0] == "limits"


def _column(quota: Obj, limits: bool) -> str:
    """``name: used/hard`` for each hard resource (under ``limits.`` or not), sorted by name."""
    status = quota.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    return ", ".join(f"{name}: {used.get(name, '0')}/{hard[name]}" for name in sorted(hard)
                     if _is_limit(name) == limits)


class ResourceQuotaStrategy(Strategy):
    kind = "ResourceQuota"
    status_subresource = True
    columns = (AGE_COLUMN,
               Column("Request", description="Request represents a minimum amount of cpu/memory that a container "
                                             "may consume."),
               Column("Limit", description="Limits control the maximum amount of cpu/memory that a container may "
                                           "use independent of contention on the node."))

    def default(self, obj: Obj) -> None:
        default_resource_list((obj.get("spec") or {}).get("hard"))
        for field in ("hard", "used"):
            default_resource_list((obj.get("status") or {}).get(field))

    def validate(self, obj: Obj) -> list[Cause]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        causes = resource_list_errors("spec.hard", spec.get("hard"))
        causes += resource_list_errors("status.hard", status.get("hard"))
        causes += resource_list_errors("status.used", status.get("used"))
        return causes + scope_errors(spec)

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        scopes = set((obj.get("spec") or {}).get("scopes") or [])
        if scopes != set((old.get("spec") or {}).get("scopes") or []):
            causes.append(invalid_scopes(obj.get("spec") or {}, "field is immutable"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [age(obj, now), _column(obj, limits=False), _column(obj, limits=True)]


STRATEGY = ResourceQuotaStrategy()
