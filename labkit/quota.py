"""What an object costs against a ResourceQuota: resource lists and the usage evaluators.

Mirrors ``k8s.io/apiserver/pkg/quota/v1`` (``Add``, ``Mask``, ``LessThanOrEqual``, ``IsZero``; the
``Evaluator`` interface and ``generic.NewObjectCountEvaluator``) and the evaluators of
``pkg/quota/v1/evaluator/core`` (``pods.go``, ``services.go``). The ResourceQuota admission plugin
(``labkit/apiserver/admission_resourcequota.py``) and the resource quota controller
(``labkit/controllers/resourcequota.py``) both measure with these, as kube's share them.

- Pods: ``count/pods`` counts every pod; ``pods`` and the compute resources (``cpu``, ``memory``,
  ``requests.*``, ``limits.*``, ``ephemeral-storage``) only pods that are neither Succeeded/Failed
  nor past their deletion grace period. A pod's requests and limits are the sum of its containers',
  or the largest init container's where that is more (``PodRequests``/``PodLimits``).
- Services: ``services``, ``count/services``, ``services.nodeports`` (ports of a NodePort or
  LoadBalancer service) and ``services.loadbalancers``.
- Everything else: an object count, ``count/<plural>`` (``count/<plural>.<group>`` outside the core
  group), and for ``configmaps``, ``secrets``, ``persistentvolumeclaims``, ``replicationcontrollers``
  and ``resourcequotas`` the legacy name too.

Scopes ``BestEffort``, ``NotBestEffort``, ``Terminating``, ``NotTerminating``,
``CrossNamespacePodAffinity`` and ``PriorityClass`` (with ``Exists`` only) apply to pods. Left out:
extended resources and hugepages, the PVC storage evaluator (``requests.storage`` and per-class
quotas: claims are only counted), ``scopeSelector`` operators other than ``Exists``, sidecar init
containers (kube adds them to the containers' sum), the pod overhead and in-place resize.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.podutil import qos_class
from labkit.apimachinery.resource import Quantity, QuantityError, format_quantity, parse_quantity
from labkit.apimachinery.timeutil import parse_time
from labkit.apiserver.strategy import list_of_dicts

ResourceList = dict[str, Quantity]

ZERO = parse_quantity("0")
ONE = parse_quantity("1")

#: ``validationSet``: quota on these makes every container state them (kube calls this a mistake it keeps)
VALIDATION_SET = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_COMPUTE = ("cpu", "memory", "ephemeral-storage")
POD_RESOURCES = ("count/pods", "pods", *_COMPUTE, *(f"{p}.{r}" for p in ("requests", "limits") for r in _COMPUTE))
SERVICE_RESOURCES = ("count/services", "services", "services.nodeports", "services.loadbalancers")
#: object counts that also have a name of their own, from before ``count/<resource>``
LEGACY_COUNTS = ("configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas")
#: ``DefaultIgnoredResources``: (group, plural) never charged (the reviews, not stored, are left out too)
IGNORED = (("", "events"), ("events.k8s.io", "events"), ("", "bindings"), ("", "componentstatuses"))
SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity")


# --- resource lists (k8s.io/apiserver/pkg/quota/v1/resources.go) ----------------------------------------


def parse_list(raw: Any) -> ResourceList:
    """A ``ResourceList`` from JSON; values that do not parse are skipped (validation reports them)."""
    out: ResourceList = {}
    for name, value in (raw or {}).items() if isinstance(raw, dict) else ():
        try:
            out[name] = parse_quantity(value)
        except QuantityError:
            pass
    return out


def format_list(rl: ResourceList) -> dict[str, str]:
    return {name: format_quantity(q) for name, q in sorted(rl.items())}


def add(a: ResourceList, b: ResourceList) -> ResourceList:
    out = dict(a)
    for name, q in b.items():
        out[name] = out[name] + q if name in out else q
    return out


def subtract_non_negative(a: ResourceList, b: ResourceList) -> ResourceList:
    """``SubtractWithNonNegativeResult``: ``a - b``, no value below zero."""
    out: ResourceList = {}
    for k, v in a.items():
        left = v.amount - b[k].amount if k in b else v.amount
        out[k] = Quantity(left if left > 0 else Fraction(0), v.format)
    return out


def mask(rl: ResourceList, names: Iterable[str]) -> ResourceList:
    keep = set(names)
    return {k: v for k, v in rl.items() if k in keep}


def remove_zeros(rl: ResourceList) -> ResourceList:
    return {k: v for k, v in rl.items() if not v.is_zero()}


def exceeded(used: ResourceList, hard: ResourceList) -> list[str]:
    """Names whose use is above the hard limit (``LessThanOrEqual``'s second result)."""
    return sorted(k for k, v in used.items() if k in hard and v > hard[k])


def pretty(rl: ResourceList) -> str:
    """``prettyPrint``: ``cpu=1,memory=1Gi``, names sorted."""
    return ",".join(f"{k}={format_quantity(v)}" for k, v in sorted(rl.items()))


# --- the evaluators (pkg/quota/v1/evaluator/core, generic) -----------------------------------------------


def pod_requirements(spec: Obj, kind: str) -> ResourceList:
    """``PodRequests``/``PodLimits``: the containers' sum, or any one init container's if larger."""
    total: ResourceList = {}
    for c in list_of_dicts(spec.get("containers")):
        total = add(total, parse_list((c.get("resources") or {}).get(kind)))
    for c in list_of_dicts(spec.get("initContainers")):
        for name, q in parse_list((c.get("resources") or {}).get(kind)).items():
            if name not in total or q > total[name]:
                total[name] = q
    return total


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """``podComputeUsageHelper``: one pod, and what it requests and limits under quota's names."""
    out: ResourceList = {"pods": ONE}
    for name in _COMPUTE:
        if name in requests:
            out[name] = out[f"requests.{name}"] = requests[name]
        if name in limits:
            out[f"limits.{name}"] = limits[name]
    return out


def is_terminating(pod: Obj) -> bool:
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and deadline >= 0


def is_best_effort(pod: Obj) -> bool:
    return qos_class(pod.get("spec") or {}) == "BestEffort"


def uses_cross_namespace_pod_affinity(pod: Obj) -> bool:
    """A pod (anti-)affinity term that names other namespaces, or selects them by label."""
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        preferred = list_of_dicts(rules.get("preferredDuringSchedulingIgnoredDuringExecution"))
        terms = list_of_dicts(rules.get("requiredDuringSchedulingIgnoredDuringExecution")) + [
            w.get("podAffinityTerm") or {} for w in preferred]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


def pod_charged(pod: Obj, now: dt.datetime) -> bool:
    """``QuotaV1Pod``: not in a terminal phase, and not past the end of its deletion grace period."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    deleted = parse_time(meta.get("deletionTimestamp"))
    grace = meta.get("deletionGracePeriodSeconds")
    return not (deleted is not None and isinstance(grace, int) and now > deleted + dt.timedelta(seconds=grace))


class Evaluator:
    """Measures one kind of object (``quota.Evaluator``); this base one counts objects."""

    def __init__(self, plural: str, group: str = "") -> None:
        self.plural, self.group = plural, group
        self.count_name = f"count/{plural}.{group}" if group else f"count/{plural}"
        self.resources: tuple[str, ...] = (self.count_name,) + ((plural,) if plural in LEGACY_COUNTS and not group
                                                                 else ())

    def handles(self, operation: str, subresource: str) -> bool:
        return operation == "CREATE" and not subresource

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in self.resources]

    def matches_scope(self, scope: str, obj: Obj) -> bool:
        return False

    def usage(self, obj: Obj, now: dt.datetime) -> ResourceList:
        return {name: ONE for name in self.resources}

    def constraints(self, required: Iterable[str], obj: Obj) -> str:
        """Why the object may not be charged as it is (empty: it may)."""
        return ""


class PodEvaluator(Evaluator):
    def __init__(self) -> None:
        super().__init__("pods")
        self.resources = POD_RESOURCES

    def matches_scope(self, scope: str, obj: Obj) -> bool:
        return {"Terminating": is_terminating, "NotTerminating": lambda p: not is_terminating(p),
                "BestEffort": is_best_effort, "NotBestEffort": lambda p: not is_best_effort(p),
                "PriorityClass": lambda p: bool((p.get("spec") or {}).get("priorityClassName")),
                "CrossNamespacePodAffinity": uses_cross_namespace_pod_affinity}.get(
                    scope, lambda _p: False)(obj)

    def usage(self, obj: Obj, now: dt.datetime) -> ResourceList:
        out: ResourceList = {"count/pods": ONE}
        if not pod_charged(obj, now):
            return out
        spec = obj.get("spec") or {}
        return add(out, compute_usage(pod_requirements(spec, "requests"), pod_requirements(spec, "limits")))

    def constraints(self, required: Iterable[str], obj: Obj) -> str:
        """``must specify limits.cpu for: a,b; requests.memory for: a`` when quota tracks what a container omits."""
        wanted = set(required) & set(VALIDATION_SET)
        missing: dict[str, set[str]] = {}
        spec = obj.get("spec") or {}
        for c in list_of_dicts(spec.get("containers")) + list_of_dicts(spec.get("initContainers")):
            resources = c.get("resources") or {}
            has = compute_usage(parse_list(resources.get("requests")), parse_list(resources.get("limits")))
            for name in wanted - set(has):
                missing.setdefault(name, set()).add(c.get("name", ""))
        if not missing:
            return ""
        return "must specify " + "; ".join(f"{name} for: {','.join(sorted(missing[name]))}"
                                           for name in sorted(missing))


class ServiceEvaluator(Evaluator):
    def __init__(self) -> None:
        super().__init__("services")
        self.resources = SERVICE_RESOURCES

    def handles(self, operation: str, subresource: str) -> bool:
        return operation in ("CREATE", "UPDATE") and not subresource

    def usage(self, obj: Obj, now: dt.datetime) -> ResourceList:
        spec = obj.get("spec") or {}
        kind = spec.get("type") or "ClusterIP"
        ports = len(list_of_dicts(spec.get("ports")))
        node_ports = ports if kind == "NodePort" or (
            kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False) else 0
        return {"count/services": ONE, "services": ONE, "services.nodeports": parse_quantity(node_ports),
                "services.loadbalancers": ONE if kind == "LoadBalancer" else ZERO}


def evaluator_for(plural: str, group: str = "") -> Evaluator:
    if not group and plural == "pods":
        return PodEvaluator()
    if not group and plural == "services":
        return ServiceEvaluator()
    return Evaluator(plural, group)


def scopes_of(quota: Obj) -> list[str]:
    """``spec.scopes`` and the scope names of ``spec.scopeSelector`` (every operator read as ``Exists``)."""
    spec = quota.get("spec") or {}
    selector = (spec.get("scopeSelector") or {}).get("matchExpressions") or []
    return list(spec.get("scopes") or []) + [e.get("scopeName", "") for e in list_of_dicts(selector)]


def matches(quota: Obj, evaluator: Evaluator, obj: Obj) -> bool:
    """``generic.Matches``: the quota limits something the evaluator measures, and all its scopes hold."""
    hard = (quota.get("status") or {}).get("hard") or {}
    return bool(evaluator.matching_resources(hard)) and all(evaluator.matches_scope(s, obj) for s in scopes_of(quota))
