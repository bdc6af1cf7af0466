"""The ReplicaSet strategy (``pkg/registry/apps/replicaset``), plus what Deployment shares with it.

Mirrors ``SetDefaults_ReplicaSet`` (``pkg/apis/apps/v1/defaults.go``), ``ValidateReplicaSetSpec`` and
``ValidatePodTemplateSpecForReplicaSet`` (``pkg/apis/apps/validation``), ``ValidateLabelSelector``
(``pkg/apis/meta/v1/validation``) and ``printReplicaSet`` (``pkg/printers/internalversion``). Selector
matching and printing come from ``labkit/apimachinery/labels.py``; the pod template's own spec is
defaulted and validated by the pod strategy (``registry/pod/``).

Error values for maps and selectors are rendered the way Go's ``%#v`` prints them
(``map[string]string{"app":"web"}``), because that is what kubectl users see in real error messages.

Left out: status validation on ``/status`` writes, ``DropDisabledTemplateFields`` (no feature gates).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from labkit.apimachinery.labels import LabelSelector, SelectorError, label_selector_from_object
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, invalid, not_supported, qualified_name_errors, required
from labkit.apiserver.registry.pod.defaults import default_pod_spec
from labkit.apiserver.registry.pod.validation import validate_pod_template
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age
from labkit.apiserver.validation import validate_labels

# --- label selectors (metav1.LabelSelector) ---------------------------------------------------------

_SET_OPERATORS = ("In", "NotIn")
_EXISTS_OPERATORS = ("Exists", "DoesNotExist")


def as_selector(selector: Mapping[str, Any] | None) -> LabelSelector | None:
    """``metav1.LabelSelectorAsSelector``; ``None`` when the selector does not convert."""
    try:
        return label_selector_from_object(selector)
    except SelectorError:
        return None


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """The selector in ``kubectl get -l`` syntax, as the SELECTOR column and ``Scale.status`` show it."""
    converted = as_selector(selector)
    return "<invalid>" if converted is None else str(converted)


def validate_selector(selector: Mapping[str, Any], path: str) -> list[Cause]:
    """``ValidateLabelSelector``: matchLabels as labels; each expression's operator, values and key.
    (Expression values that are not label values make the selector fail to convert instead.)"""
    causes = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        at = f"{path}.matchExpressions[{i}]"
        op, values = expr.get("operator"), expr.get("values") or []
        if op in _SET_OPERATORS and not values:
            causes.append(required(f"{at}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in _EXISTS_OPERATORS and values:
            causes.append(forbidden(f"{at}.values",
                                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op not in _SET_OPERATORS + _EXISTS_OPERATORS:
            causes.append(invalid(f"{at}.operator", op, "not a valid selector operator"))
        causes += [invalid(f"{at}.key", expr.get("key", ""), e) for e in qualified_name_errors(expr.get("key", ""))]
    return causes


# --- Go %#v rendering of the values kube-apiserver puts in these messages -------------------------


def go_string_map(m: Mapping[str, str] | None) -> str:
    if m is None:
        return "map[string]string(nil)"
    return "map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(m[k])}" for k in sorted(m)) + "}"


def go_label_selector(selector: Mapping[str, Any] | None) -> str:
    if selector is None:
        return "(*v1.LabelSelector)(nil)"
    exprs = selector.get("matchExpressions")
    if exprs is None:
        rendered = "[]v1.LabelSelectorRequirement(nil)"
    else:
        items = []
        for e in exprs:
            values = e.get("values")
            vals = "[]string(nil)" if values is None else "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"
            items.append(f'v1.LabelSelectorRequirement{{Key:{json.dumps(e.get("key", ""))}, '
                         f'Operator:{json.dumps(e.get("operator", ""))}, Values:{vals}}}')
        rendered = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    return f"v1.LabelSelector{{MatchLabels:{go_string_map(selector.get('matchLabels'))}, MatchExpressions:{rendered}}}"


def invalid_go(field: str, rendered: str, detail: str) -> Cause:
    """``field.Invalid`` whose value Go prints with ``%#v`` (structs, maps)."""
    return Cause("FieldValueInvalid", f"Invalid value: {rendered}: {detail}", field)


# --- replicated pod templates ----------------------------------------------------------------------


def nonnegative(spec: Mapping[str, Any], name: str, path: str) -> list[Cause]:
    """``ValidateNonnegativeField`` for an optional integer field."""
    value = spec.get(name)
    if value is not None and value < 0:
        return [invalid(f"{path}.{name}", value, "must be greater than or equal to 0")]
    return []


def set_default(obj: Obj, key: str, value: Any) -> Any:
    """``setdefault`` that also replaces JSON ``null`` (Go decodes it to a nil pointer, then defaults it)."""
    if obj.get(key) is None:
        obj[key] = value
    return obj[key]


def default_template(spec: Obj) -> None:
    """Pod defaults inside ``spec.template`` (what the generated ``SetObjectDefaults_*`` does)."""
    template = set_default(spec, "template", {})
    default_pod_spec(set_default(template, "spec", {}))


def validate_selector_and_template(spec: Mapping[str, Any], *, kind: str, noun: str = "deployment",
                                   pod_spec: bool = True) -> list[Cause]:
    """The selector/template part of ``ValidateReplicaSetSpec``, ``ValidateDeploymentSpec`` and
    ``ValidateStatefulSetSpec`` (``noun``: what the empty-selector message calls the object; ``pod_spec``:
    whether the template's pod spec is validated, which ``ValidatePodTemplateSpecForStatefulSet`` skips)."""
    causes: list[Cause] = []
    selector = spec.get("selector")
    if selector is None:
        causes.append(required("spec.selector"))
    else:
        causes += validate_selector(selector, "spec.selector")
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            # kube-apiserver says "deployment" here for ReplicaSets too
            causes.append(invalid_go("spec.selector", go_label_selector(selector),
                                     f"empty selector is invalid for {noun}"))
    converted = as_selector(selector)
    if converted is None:
        causes.append(invalid_go("spec.selector", go_label_selector(selector), "invalid label selector"))
    else:
        causes += validate_template(spec.get("template") or {}, converted, kind=kind, pod_spec=pod_spec)
    return causes


def validate_template(template: Mapping[str, Any], selector: LabelSelector, *, kind: str,
                      pod_spec: bool = True) -> list[Cause]:
    """``ValidatePodTemplateSpecForReplicaSet``: labels match the selector (a missing selector matches
    nothing, so it fails here too), the pod spec is valid (unless ``pod_spec`` is False: then only the
    labels are), and the pod restarts forever."""
    causes: list[Cause] = []
    meta = template.get("metadata") or {}
    labels = meta.get("labels")
    if not selector.empty() and not selector.matches(labels):
        causes.append(invalid_go("spec.template.metadata.labels", go_string_map(labels),
                                 "`selector` does not match template `labels`"))
    causes += (validate_pod_template(template, "spec.template") if pod_spec
               else validate_labels(meta.get("labels"), "spec.template.metadata.labels"))
    spec = template.get("spec") or {}
    policy = spec.get("restartPolicy")
    if policy != "Always":
        causes.append(not_supported("spec.template.spec.restartPolicy", policy or "", ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        causes.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                f"activeDeadlineSeconds in {kind} is not Supported"))
    return causes


def validate_selector_unchanged(obj: Obj, old: Obj) -> list[Cause]:
    """apps/v1 forbids changing ``spec.selector`` (``ValidateImmutableField`` in the strategies)."""
    new_sel, old_sel = obj.get("spec", {}).get("selector"), old.get("spec", {}).get("selector")
    if _normal(new_sel) != _normal(old_sel):
        return [invalid_go("spec.selector", go_label_selector(new_sel), "field is immutable")]
    return []


def _normal(selector: Mapping[str, Any] | None) -> Any:
    """Semantic equality: an empty map or list equals an absent one."""
    if selector is None:
        return None
    return (selector.get("matchLabels") or {}, selector.get("matchExpressions") or [])


def container_cells(obj: Obj) -> list[str]:
    """The wide CONTAINERS and IMAGES cells (``layoutContainerCells``)."""
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


CONTAINERS_COLUMN = Column("Containers", priority=1, description="Names of each container in the template.")
IMAGES_COLUMN = Column("Images", priority=1, description="Images referenced by each container in the template.")
SELECTOR_COLUMN = Column("Selector", priority=1, description="Label query over the pods this object manages.")

# --- the strategy ----------------------------------------------------------------------------------


class ReplicaSetStrategy(Strategy):
    kind = "ReplicaSet"
    status_subresource = True
    tracks_generation = True
    columns = (
        Column("Desired", "integer", description="Number of pods the ReplicaSet should run."),
        Column("Current", "integer", description="Number of pods the ReplicaSet currently has."),
        Column("Ready", "integer", description="Number of pods with a Ready condition."),
        AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN, SELECTOR_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        set_default(spec, "replicas", 1)
        default_template(spec)

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"replicas": 0}

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes = nonnegative(spec, "replicas", "spec") + nonnegative(spec, "minReadySeconds", "spec")
        return causes + validate_selector_and_template(spec, kind=self.kind)

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return self.validate(obj) + validate_selector_unchanged(obj, old)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = obj.get("spec", {}), obj.get("status") or {}
        return [spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0), age(obj, now),
                *container_cells(obj), selector_string(spec.get("selector"))]

    def field_labels(self, obj: Obj) -> dict[str, str]:
        return {"status.replicas": str((obj.get("status") or {}).get("replicas", 0))}


STRATEGY = ReplicaSetStrategy()
