"""``autoscaling/v1`` HorizontalPodAutoscalers, converted to and from the stored ``autoscaling/v2``.

Mirrors ``pkg/apis/autoscaling/v1/conversion.go`` and ``annotations.go``: v1 has one metric,
``targetCPUUtilizationPercentage`` (the first CPU Resource metric with a utilization target) and
``currentCPUUtilizationPercentage``; whatever else v2 holds travels in annotations, so a v1 client
that reads an object and writes it back loses nothing: the other metrics
(``autoscaling.alpha.kubernetes.io/metrics``), the current metrics (``.../current-metrics``), the
conditions (``.../conditions``) and the behavior (``.../behavior``, which kube marshals from its
internal type, so its keys are the Go field names: ``ScaleUp``, ``StabilizationWindowSeconds`` ...).
Reading a v1 object takes them back out of the annotations; a v1 object with no metric at all gets
the 80% CPU default here, as kube applies it in this conversion. A v2 object never carries these
annotations (the v2 conversion drops them both ways), so a v2 client sees none of them.

Left out: metric sources other than Resource and ContainerResource in the v1 annotations (Pods,
Object and External metrics are carried in the v2 shape), and the alpha ``tolerance`` of a rule.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apiserver.registry.horizontalpodautoscaler.strategy import DEFAULT_CPU_UTILIZATION, cpu_utilization_metric

V1, V2 = "autoscaling/v1", "autoscaling/v2"
METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP = (METRICS, BEHAVIOR, CURRENT_METRICS, CONDITIONS)
_RESOURCE_SOURCES = ("resource", "containerResource")
#: Go field names of the internal behavior types, as the behavior annotation spells them
_GO_RULES = (("stabilizationWindowSeconds", "StabilizationWindowSeconds"), ("selectPolicy", "SelectPolicy"),
             ("policies", "Policies"))
_GO_POLICY = (("type", "Type"), ("value", "Value"), ("periodSeconds", "PeriodSeconds"))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _is_cpu(metric: Obj) -> bool:
    return metric.get("type") == "Resource" and (metric.get("resource") or {}).get("name") == "cpu"


def _without_round_trip(meta: Obj) -> Obj:
    """``DropRoundTripHorizontalPodAutoscalerAnnotations`` on a copy of the metadata."""
    meta = dict(meta)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in ROUND_TRIP}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return meta


# --- metric specs and statuses: v2 <-> v1 shapes --------------------------------------------------


def _flat(source: Obj, part: str) -> Obj:
    """A v2 Resource or ContainerResource source in v1's shape: ``target.averageValue`` is
    ``targetAverageValue``, ``current.averageValue`` is ``currentAverageValue`` (a Go value there: "0")."""
    values = source.get(part) or {}
    out: Obj = {"name": source.get("name", "")}
    if values.get("averageUtilization") is not None:
        out[f"{part}AverageUtilization"] = values["averageUtilization"]
    if values.get("averageValue") is not None or part == "current":
        out[f"{part}AverageValue"] = values.get("averageValue") or "0"
    if "container" in source:
        out["container"] = source["container"]
    return out


def _nested(source: Obj, part: str) -> Obj:
    """The reverse of :func:`_flat`; a target gets its type (Utilization when a utilization is given)."""
    utilization, value = source.get(f"{part}AverageUtilization"), source.get(f"{part}AverageValue")
    values: Obj = {"type": "AverageValue" if utilization is None else "Utilization"} if part == "target" else {}
    if value is not None or part == "current":
        values["averageValue"] = value or "0"
    if utilization is not None:
        values["averageUtilization"] = utilization
    out: Obj = {"name": source.get("name", "")}
    if "container" in source:
        out["container"] = source["container"]
    return {**out, part: values}


def _metric(metric: Obj, convert: Callable[[Obj, str], Obj], part: str) -> Obj:
    """A metric spec or status with its Resource or ContainerResource source converted; other sources
    are carried as they are."""
    if not any(metric.get(field) is not None for field in _RESOURCE_SOURCES):
        return copy.deepcopy(metric)
    out: Obj = {"type": metric.get("type", "")}
    for field in _RESOURCE_SOURCES:
        if metric.get(field) is not None:
            out[field] = convert(metric[field], part)
    return out


def _behavior_to_go(behavior: Obj) -> Obj:
    def rules(r: Obj | None) -> Obj | None:
        if r is None:
            return None
        out: Obj = {go: r.get(name) for name, go in _GO_RULES}
        out["Policies"] = [{go: p.get(name) for name, go in _GO_POLICY} for p in r.get("policies") or []]
        return out
    return {"ScaleUp": rules(behavior.get("scaleUp")), "ScaleDown": rules(behavior.get("scaleDown"))}


def _behavior_from_go(encoded: Any) -> Obj | None:
    """The behavior annotation read back; encoding/json matches the Go names case-insensitively."""
    def field(obj: Any, name: str) -> Any:
        return next((v for k, v in obj.items() if k.lower() == name.lower()), None) if isinstance(obj, dict) else None

    def rules(r: Any) -> Obj | None:
        if not isinstance(r, dict):
            return None
        out: Obj = {name: field(r, go) for name, go in _GO_RULES if field(r, go) is not None}
        policies = field(r, "Policies")
        if policies is not None:
            out["policies"] = [{name: field(p, go) for name, go in _GO_POLICY} for p in policies]
        return out
    if not isinstance(encoded, dict):
        return None
    out = {k: v for k, v in (("scaleUp", rules(field(encoded, "ScaleUp"))),
                             ("scaleDown", rules(field(encoded, "ScaleDown")))) if v is not None}
    return out


# --- whole objects ------------------------------------------------------------------------------


def to_v1(obj: Obj) -> Obj:
    """The ``autoscaling/v1`` view of a stored ``autoscaling/v2`` object."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = _without_round_trip(obj.get("metadata") or {})
    metrics = spec.get("metrics") or []
    annotations: dict[str, str] = {}
    others = [_metric(m, _flat, "target") for m in metrics
              if not (_is_cpu(m) and ((m["resource"].get("target") or {}).get("averageUtilization") is not None))]
    if others:
        annotations[METRICS] = _dumps(others)
    if status.get("currentMetrics"):
        annotations[CURRENT_METRICS] = _dumps([_metric(m, _flat, "current") for m in status["currentMetrics"]])
    if status.get("conditions"):
        annotations[CONDITIONS] = _dumps(status["conditions"])
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR] = _dumps(_behavior_to_go(spec["behavior"]))
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    v1_spec: Obj = {"scaleTargetRef": copy.deepcopy(spec.get("scaleTargetRef") or {})}
    for field in ("minReplicas", "maxReplicas"):
        if field in spec:
            v1_spec[field] = spec[field]
    cpu = next((m for m in metrics if _is_cpu(m)), None)
    if cpu is not None and (cpu["resource"].get("target") or {}).get("averageUtilization") is not None:
        v1_spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"]["averageUtilization"]
    v1_status: Obj = {k: status[k] for k in ("observedGeneration", "lastScaleTime") if k in status}
    v1_status |= {"currentReplicas": status.get("currentReplicas", 0),
                  "desiredReplicas": status.get("desiredReplicas", 0)}
    for m in status.get("currentMetrics") or []:
        utilization = ((m.get("resource") or {}).get("current") or {}).get("averageUtilization")
        if _is_cpu(m) and utilization is not None:
            v1_status["currentCPUUtilizationPercentage"] = utilization
    return {"apiVersion": V1, "kind": obj.get("kind", "HorizontalPodAutoscaler"), "metadata": meta, "spec": v1_spec,
            "status": v1_status}


def from_v1(obj: Obj) -> Obj:
    """The ``autoscaling/v2`` object a v1 one stands for (what is stored)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}

    def annotation(key: str) -> Any:
        try:
            return json.loads(annotations[key]) if key in annotations else None
        except ValueError:
            return None

    v2_spec: Obj = {"scaleTargetRef": copy.deepcopy(spec.get("scaleTargetRef") or {})}
    for field in ("minReplicas", "maxReplicas"):
        if field in spec:
            v2_spec[field] = spec[field]
    metrics = [_metric(m, _nested, "target") for m in annotation(METRICS) or [] if isinstance(m, dict)]
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append(cpu_utilization_metric(spec["targetCPUUtilizationPercentage"]))
    v2_spec["metrics"] = metrics or [cpu_utilization_metric(DEFAULT_CPU_UTILIZATION)]
    behavior = _behavior_from_go(annotation(BEHAVIOR))
    if behavior is not None:
        v2_spec["behavior"] = behavior
    v2_status: Obj = {k: status[k] for k in ("observedGeneration", "lastScaleTime", "currentReplicas") if k in status}
    v2_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current = annotation(CURRENT_METRICS)
    if current is not None:
        v2_status["currentMetrics"] = [_metric(m, _nested, "current") for m in current if isinstance(m, dict)]
    elif status.get("currentCPUUtilizationPercentage") is not None:
        v2_status["currentMetrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
    conditions = annotation(CONDITIONS)
    if conditions is not None:
        v2_status["conditions"] = conditions
    out: Obj = {"apiVersion": V2, "kind": obj.get("kind", "HorizontalPodAutoscaler"),
                "metadata": _without_round_trip(obj.get("metadata") or {}), "spec": v2_spec}
    if "status" in obj:
        out["status"] = v2_status
    return out

