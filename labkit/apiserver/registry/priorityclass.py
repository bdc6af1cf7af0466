"""The PriorityClass strategy (``pkg/registry/scheduling/priorityclass``).

Mirrors ``SetDefaults_PriorityClass`` (``preemptionPolicy: PreemptLowerPriority``),
``ValidatePriorityClass`` / ``ValidatePriorityClassUpdate`` (``pkg/apis/scheduling/validation``:
names starting ``system-`` are reserved for the two built-in classes, user values stop at one
billion, ``value`` and ``preemptionPolicy`` never change) and ``printPriorityClass``.

Left out: "only one ``globalDefault``" is enforced by the Priority admission plugin in kube-apiserver,
not by this strategy. ``value`` has no ``omitempty`` in the API, so a missing one is stored as ``0``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, invalid, not_supported, required
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

SYSTEM_PREFIX = "system-"
#: the classes kube-apiserver creates at start-up: name -> value (neither is globalDefault)
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
HIGHEST_USER_DEFINABLE_PRIORITY = 1000000000
PREEMPTION_POLICIES = ["PreemptLowerPriority", "Never"]


def _system_class_error(name: str, value: int, global_default: bool) -> str | None:
    """``IsKnownSystemPriorityClass``: why a ``system-`` class is not one of the built-in ones."""
    if name not in SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITY_CLASSES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return None


class PriorityClassStrategy(Strategy):
    kind = "PriorityClass"
    columns = (
        Column("Value", "integer", description="The priority pods of this class receive."),
        Column("Global-Default", "boolean", description="Whether pods without a priorityClassName get this class."),
        AGE_COLUMN,
        Column("PreemptionPolicy", description="Whether pods of this class may preempt lower-priority pods."),
    )

    def default(self, obj: Obj) -> None:
        if obj.get("value") is None:
            obj["value"] = 0
        if obj.get("preemptionPolicy") is None:
            obj["preemptionPolicy"] = "PreemptLowerPriority"

    def validate(self, obj: Obj) -> list[Cause]:
        name = obj.get("metadata", {}).get("name", "")
        value = obj.get("value", 0)
        causes = []
        if name.startswith(SYSTEM_PREFIX):
            error = _system_class_error(name, value, bool(obj.get("globalDefault")))
            if error:
                causes.append(forbidden("metadata.name", f"priority class names with '{SYSTEM_PREFIX}' prefix are "
                                                         f"reserved for system use only. error: {error}"))
        elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
            causes.append(forbidden("value", f"maximum allowed value of a user defined priority is "
                                             f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
        policy = obj.get("preemptionPolicy")
        if policy == "":
            causes.append(required("preemptionPolicy"))
        elif policy is not None and policy not in PREEMPTION_POLICIES:
            causes.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = []
        if obj.get("value") != old.get("value"):
            causes.append(forbidden("value", "may not be changed in an update."))
        if obj.get("preemptionPolicy") != old.get("preemptionPolicy"):
            causes.append(invalid("preemptionPolicy", obj.get("preemptionPolicy"), "field is immutable"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [obj.get("value", 0), bool(obj.get("globalDefault")), age(obj, now), obj.get("preemptionPolicy") or ""]


STRATEGY = PriorityClassStrategy()
