"""The HorizontalPodAutoscaler strategy (``pkg/registry/autoscaling/horizontalpodautoscaler``).

Mirrors ``SetDefaults_HorizontalPodAutoscaler`` and ``SetDefaults_HorizontalPodAutoscalerBehavior``
(``pkg/apis/autoscaling/v2/defaults.go``: ``minReplicas`` 1, 80% average CPU when no metric is
given, and a ``behavior`` that is given filled in rule by rule), ``ValidateHorizontalPodAutoscaler``
(``pkg/apis/autoscaling/validation``: replica bounds, ``scaleTargetRef``, Resource and
ContainerResource metrics, ``behavior`` rules and policies) and ``printHorizontalPodAutoscaler``
(``pkg/printers/internalversion``: NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE, TARGETS as
the 1.30+ server prints them, ``cpu: 12%/50%``). Objects are stored in ``autoscaling/v2``;
``autoscaling/v1`` is converted to and from it (``conversion.py``), so the printer reads either.

Left out: the fields of Pods, Object and External metric sources are not validated (only their
type and presence), nor is ``scaleTargetRef.apiVersion`` (1.33 refuses an empty group but for
ReplicationControllers), ``minReplicas: 0`` (the HPAScaleToZero feature gate), the alpha
``tolerance`` of a scaling rule, and status validation beyond non-negative replica counts.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import QuantityError, canonical, parse_quantity
from labkit.apimachinery.validation import (
    Cause,
    forbidden,
    invalid,
    not_supported,
    path_segment_errors,
    qualified_name_errors,
    required,
)
from labkit.apiserver.registry.replicaset import set_default
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

DEFAULT_CPU_UTILIZATION = 80
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
METRIC_SOURCE_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
SELECT_POLICIES = ("Disabled", "Max", "Min")
POLICY_TYPES = ("Percent", "Pods")
TARGET_TYPES = ("Utilization", "Value", "AverageValue")
_SOURCE_FIELDS = {"Object": "object", "Pods": "pods", "Resource": "resource", "ContainerResource": "containerResource",
                  "External": "external"}
_POPULATE = "must populate information for the given metric source"

#: ``behavior.scaleUp`` and ``behavior.scaleDown`` as defaulted (scale-down has no window: the
#: controller's --horizontal-pod-autoscaler-downscale-stabilization applies)
SCALE_UP_RULES: Obj = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                       "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
SCALE_DOWN_RULES: Obj = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def cpu_utilization_metric(percent: int) -> Obj:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                         "averageUtilization": percent}}}


def default_rules(rules: Any, defaults: Obj) -> Obj:
    """``GenerateHPAScale{Up,Down}Rules``: the defaults, with every field ``rules`` sets kept."""
    out = copy.deepcopy(defaults)
    if isinstance(rules, dict):
        out.update({k: v for k, v in rules.items() if v is not None})
    return out


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- validation ---------------------------------------------------------------------------------------


def _validate_target_ref(ref: Any, path: str) -> list[Cause]:
    ref = ref if isinstance(ref, dict) else {}
    causes = []
    for field in ("kind", "name"):
        value = ref.get(field) or ""
        if not value:
            causes.append(required(f"{path}.{field}"))
        else:
            causes += [invalid(f"{path}.{field}", value, msg) for msg in path_segment_errors(value)]
    return causes


def _validate_target(target: Obj, path: str) -> list[Cause]:
    """``validateMetricTarget``."""
    causes = []
    kind = target.get("type") or ""
    if not kind:
        causes.append(required(f"{path}.type", "must specify a metric target type"))
    if kind not in TARGET_TYPES:
        causes.append(invalid(f"{path}.type", kind, "must be either Utilization, Value, or AverageValue"))
    for field in ("value", "averageValue"):
        if target.get(field) is not None:
            try:
                positive = parse_quantity(target[field]).amount > 0
            except QuantityError:
                positive = False
            if not positive:
                causes.append(invalid(f"{path}.{field}", target[field], "must be positive"))
    utilization = target.get("averageUtilization")
    if utilization is not None and (not _int(utilization) or utilization < 1):
        causes.append(invalid(f"{path}.averageUtilization", utilization, "must be greater than 0"))
    return causes


def _validate_resource_source(src: Obj, path: str, *, container: bool) -> list[Cause]:
    """``validateResourceSource`` / ``validateContainerResourceSource``."""
    causes = []
    name = src.get("name") or ""
    if not name:
        causes.append(required(f"{path}.name", "must specify a resource name"))
    else:
        causes += _validate_resource_name(name, f"{path}.name")
    if container and not src.get("container"):
        causes.append(required(f"{path}.container", "must specify a container"))
    target: Obj = src["target"] if isinstance(src.get("target"), dict) else {}
    causes += _validate_target(target, f"{path}.target")
    if target.get("averageUtilization") is None and target.get("averageValue") is None:
        causes.append(required(f"{path}.target.averageUtilization",
                               "must set either a target raw value or a target utilization"))
    if target.get("averageUtilization") is not None and target.get("averageValue") is not None:
        causes.append(forbidden(f"{path}.target.averageValue",
                                "may not set both a target raw value and a target utilization"))
    return causes


def _validate_resource_name(name: str, path: str) -> list[Cause]:
    """``ValidateContainerResourceName``: a qualified name, and a standard one unless it is namespaced."""
    causes = [invalid(path, name, msg) for msg in qualified_name_errors(name)]
    standard = name in ("cpu", "memory", "ephemeral-storage") or name.startswith("hugepages-")
    if not causes and "/" not in name and not standard:
        causes.append(invalid(path, name, "must be a standard resource for containers"))
    return causes


def _validate_metric(spec: Any, path: str) -> list[Cause]:
    """``validateMetricSpec``: a known type, and its source (and only its source) populated. kube reports
    an unknown type twice and its message lists it once (``ToAggregate`` drops repeats): once here."""
    spec = spec if isinstance(spec, dict) else {}
    causes = []
    kind = spec.get("type") or ""
    if not kind:
        causes.append(required(f"{path}.type", "must specify a metric source type"))
    if kind not in METRIC_SOURCE_TYPES:
        causes.append(not_supported(f"{path}.type", kind, list(METRIC_SOURCE_TYPES)))
    present = [field for field in _SOURCE_FIELDS.values() if spec.get(field) is not None]
    if len(present) == 1 and present[0] in ("resource", "containerResource"):
        source = spec[present[0]] if isinstance(spec[present[0]], dict) else {}
        causes += _validate_resource_source(source, f"{path}.{present[0]}", container=present[0] != "resource")
    expected = _SOURCE_FIELDS.get(kind)
    if expected is not None and spec.get(expected) is None:
        causes.append(required(f"{path}.{expected}", _POPULATE))
    if len(present) != 1:
        causes += [forbidden(f"{path}.{field}", "must populate the given metric source only")
                   for field in sorted(present) if field != expected]
    return causes


def _validate_rules(rules: Any, path: str) -> list[Cause]:
    """``validateScalingRules`` and ``validateScalingPolicy``."""
    if not isinstance(rules, dict):
        return []
    causes = []
    window: int = rules["stabilizationWindowSeconds"] if _int(rules.get("stabilizationWindowSeconds")) else 0
    if window < 0:
        causes.append(invalid(f"{path}.stabilizationWindowSeconds", window, "must be greater than or equal to zero"))
    if window > MAX_STABILIZATION_WINDOW_SECONDS:
        causes.append(invalid(f"{path}.stabilizationWindowSeconds", window,
                              f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"))
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        causes.append(not_supported(f"{path}.selectPolicy", select, list(SELECT_POLICIES)))
    policies = rules.get("policies") or []
    if not policies:
        causes.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        policy = policy if isinstance(policy, dict) else {}
        at = f"{path}.policies[{i}]"
        if policy.get("type") not in POLICY_TYPES:
            causes.append(not_supported(f"{at}.type", policy.get("type") or "", list(POLICY_TYPES)))
        value, period = policy.get("value") or 0, policy.get("periodSeconds") or 0
        if value <= 0:
            causes.append(invalid(f"{at}.value", value, "must be greater than zero"))
        if period <= 0:
            causes.append(invalid(f"{at}.periodSeconds", period, "must be greater than zero"))
        if period > MAX_PERIOD_SECONDS:
            causes.append(invalid(f"{at}.periodSeconds", period, f"must be less than or equal to {MAX_PERIOD_SECONDS}"))
    return causes


def validate_spec(spec: Obj) -> list[Cause]:
    """``validateHorizontalPodAutoscalerSpec`` (``minReplicas`` must be at least 1: no scale to zero)."""
    causes = []
    low, high = spec.get("minReplicas"), spec.get("maxReplicas") or 0
    if low is not None and low < 1:
        causes.append(invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if high < 1:
        causes.append(invalid("spec.maxReplicas", high, "must be greater than 0"))
    if low is not None and high < low:
        causes.append(invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"))
    causes += _validate_target_ref(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    for i, metric in enumerate(spec.get("metrics") or []):
        causes += _validate_metric(metric, f"spec.metrics[{i}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        causes += _validate_rules(behavior.get("scaleUp"), "spec.behavior.scaleUp")
        causes += _validate_rules(behavior.get("scaleDown"), "spec.behavior.scaleDown")
    return causes


# --- printing -----------------------------------------------------------------------------------------


def _utilization(percent: Any) -> str:
    return f"{percent}%"


def _metric_cell(spec: Obj, status: Obj | None) -> str:
    """One entry of ``formatHPAMetrics`` (``<unknown>`` until the controller has measured it)."""
    kind = spec.get("type")
    source_field = _SOURCE_FIELDS.get(kind or "", "")
    source, current_source = spec.get(source_field) or {}, (status or {}).get(source_field)
    target = source.get("target") or {}
    current = (current_source or {}).get("current") or {}
    if kind in ("Resource", "ContainerResource"):
        if target.get("averageValue") is not None:
            now = canonical(current["averageValue"]) if current_source and current.get("averageValue") else "<unknown>"
            return f"{source.get('name')}: {now}/{canonical(target['averageValue'])}"
        now = _utilization(current["averageUtilization"]) if current.get("averageUtilization") is not None \
            else "<unknown>"
        goal = _utilization(target["averageUtilization"]) if target.get("averageUtilization") is not None else "<auto>"
        return f"{source.get('name')}: {now}/{goal}"
    if kind == "Pods":
        now = canonical(current["averageValue"]) if current.get("averageValue") is not None else "<unknown>"
        return f"{now}/{canonical(target.get('averageValue') or 0)}"
    if kind in ("Object", "External"):
        if target.get("averageValue") is not None:
            now = canonical(current["averageValue"]) if current.get("averageValue") is not None else "<unknown>"
            return f"{now}/{canonical(target['averageValue'])} (avg)"
        now = canonical(current["value"]) if current.get("value") is not None else "<unknown>"
        return f"{now}/{canonical(target.get('value') or 0)}"
    return "<unknown type>"


def format_metrics(specs: list[Obj], statuses: list[Obj]) -> str:
    """``formatHPAMetrics``: the first two targets, ``+ N more...`` for the rest."""
    if not specs:
        return "<none>"
    cells = [_metric_cell(spec, statuses[i] if i < len(statuses) else None) for i, spec in enumerate(specs)]
    shown = ", ".join(cells[:2])
    return f"{shown} + {len(cells) - 2} more..." if len(cells) > 2 else shown


class HorizontalPodAutoscalerStrategy(Strategy):
    kind = "HorizontalPodAutoscaler"
    status_subresource = True  # and no generation: kube's HPA strategy keeps none
    columns = (
        Column("Reference", description="scaleTargetRef points to the target resource to scale, and is used to "
                                        "the pods for which metrics should be collected, as well as to actually "
                                        "change the replica count."),
        Column("Targets", description="metrics contains the specifications for which to use to calculate the "
                                      "desired replica count (the maximum replica count across all metrics will "
                                      "be used)."),
        Column("MinPods", description="minReplicas is the lower limit for the number of replicas to which the "
                                      "autoscaler can scale down.  It defaults to 1 pod."),
        Column("MaxPods", description="maxReplicas is the upper limit for the number of replicas to which the "
                                      "autoscaler can scale up. It cannot be less that minReplicas."),
        Column("Replicas", description="currentReplicas is current number of replicas of pods managed by this "
                                       "autoscaler, as last seen by the autoscaler."),
        AGE_COLUMN,
    )

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"desiredReplicas": 0}  # a new HPA's status is the zero one

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        set_default(spec, "minReplicas", 1)
        if not spec.get("metrics"):
            spec["metrics"] = [cpu_utilization_metric(DEFAULT_CPU_UTILIZATION)]
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            behavior["scaleUp"] = default_rules(behavior.get("scaleUp"), SCALE_UP_RULES)
            behavior["scaleDown"] = default_rules(behavior.get("scaleDown"), SCALE_DOWN_RULES)

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_spec(obj.get("spec") or {})

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        status = obj.get("status") or {}
        return self.validate(obj) + [
            invalid(f"status.{field}", status[field], "must be greater than or equal to 0")
            for field in ("currentReplicas", "desiredReplicas") if _int(status.get(field)) and status[field] < 0]

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        ref = spec.get("scaleTargetRef") or {}
        low = spec.get("minReplicas")
        return [f"{ref.get('kind', '')}/{ref.get('name', '')}",
                format_metrics(spec.get("metrics") or [], status.get("currentMetrics") or []),
                "<unset>" if low is None else str(low), spec.get("maxReplicas", 0), status.get("currentReplicas", 0),
                age(obj, now)]


STRATEGY = HorizontalPodAutoscalerStrategy()
