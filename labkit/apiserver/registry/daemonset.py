"""The DaemonSet strategy (``pkg/registry/apps/daemonset``).

Mirrors ``SetDefaults_DaemonSet`` (``pkg/apis/apps/v1/defaults.go``: ``RollingUpdate`` with
``maxUnavailable: 1`` and ``maxSurge: 0``, ``revisionHistoryLimit: 10``), ``ValidateDaemonSetSpec``,
``ValidateDaemonSetUpdateStrategy`` and ``ValidateRollingUpdateDaemonSet`` (``pkg/apis/apps/validation``),
the strategy's template generation (``spec.templateGeneration``, which apps/v1 keeps in the
``deprecated.daemonset.template.generation`` annotation: 1 on create, one more on every template
change) and ``printDaemonSet`` (``pkg/printers/internalversion``). Selector and template checks come
from ``registry/replicaset.py``, the int-or-percent checks from ``registry/deployment.py``.

Left out: ``ValidateReadOnlyPersistentDisks`` (labkit has no GCE or AWS disks), status validation on
``/status`` writes.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, invalid, not_supported, required
from labkit.apiserver.registry.deployment import _int_or_percent, go_int_or_string
from labkit.apiserver.registry.pod.validation import validate_pod_template
from labkit.apiserver.registry.replicaset import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
    as_selector,
    container_cells,
    default_template,
    go_label_selector,
    go_string_map,
    invalid_go,
    nonnegative,
    selector_string,
    set_default,
    validate_selector,
    validate_selector_unchanged,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def _go_update_strategy(strategy: Any) -> str:
    """``%#v`` of an ``apps.DaemonSetUpdateStrategy`` (a set pointer prints as an address in Go)."""
    strategy = strategy if isinstance(strategy, dict) else {}
    rolling = "(*apps.RollingUpdateDaemonSet)(nil)" if strategy.get("rollingUpdate") is None \
        else "(*apps.RollingUpdateDaemonSet)(0xc000000000)"
    return f"apps.DaemonSetUpdateStrategy{{Type:{json.dumps(strategy.get('type') or '')}, RollingUpdate:{rolling}}}"


def _validate_rolling_update(rolling: Obj, path: str) -> list[Cause]:
    """``ValidateRollingUpdateDaemonSet``: exactly one of maxUnavailable and maxSurge is not zero."""
    unavailable, causes = _int_or_percent(rolling.get("maxUnavailable", 0), f"{path}.maxUnavailable")
    surge, surge_causes = _int_or_percent(rolling.get("maxSurge", 0), f"{path}.maxSurge")
    causes += surge_causes
    for name, value in (("maxUnavailable", unavailable), ("maxSurge", surge)):
        if isinstance(rolling.get(name), str) and value > 100:
            causes.append(invalid_go(f"{path}.{name}", go_int_or_string(rolling[name]),
                                     "must not be greater than 100%"))
    if unavailable and surge:
        causes.append(invalid_go(f"{path}.maxSurge", go_int_or_string(rolling.get("maxSurge")),
                                 "may not be set when maxUnavailable is non-zero"))
    elif not unavailable and not surge:
        causes.append(required(f"{path}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return causes


def validate_update_strategy(strategy: Any) -> list[Cause]:
    """``ValidateDaemonSetUpdateStrategy``."""
    path = "spec.updateStrategy"
    kind = strategy.get("type") if isinstance(strategy, dict) else None
    if kind == "OnDelete":
        return []
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if rolling is None:
            return [required(f"{path}.rollingUpdate")]
        return _validate_rolling_update(rolling, f"{path}.rollingUpdate")
    return [Cause("FieldValueNotSupported", f"Unsupported value: {_go_update_strategy(strategy)}: "
                                            'supported values: "RollingUpdate", "OnDelete"', path)]


def node_selector_string(obj: Obj) -> str:
    """The NODE SELECTOR cell: the template's ``nodeSelector`` as ``labels.FormatLabels`` prints it."""
    selector = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector") or {}
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector)) or "<none>"


def template_generation(obj: Obj) -> int:
    """The template generation the pods of this DaemonSet are labelled with (``GetTemplateGeneration``)."""
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION, 0))
    except ValueError:
        return 0


class DaemonSetStrategy(Strategy):
    kind = "DaemonSet"
    status_subresource = True
    tracks_generation = True
    columns = (
        Column("Desired", "integer", description="The total number of nodes that should be running the daemon pod."),
        Column("Current", "integer", description="The number of nodes that are running at least 1 daemon pod and "
                                                 "are supposed to run the daemon pod."),
        Column("Ready", "integer", description="The number of nodes that should be running the daemon pod and have "
                                               "one or more of the daemon pod running and ready."),
        Column("Up-to-date", "integer", description="The total number of nodes that are running updated daemon pod"),
        Column("Available", "integer", description="The number of nodes that should be running the daemon pod and "
                                                   "have one or more of the daemon pod running and available."),
        Column("Node Selector", description="NodeSelector is a selector which must be true for the pod to fit on a "
                                            "node."),
        AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN, SELECTOR_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        strategy = set_default(spec, "updateStrategy", {})
        set_default(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = set_default(strategy, "rollingUpdate", {})
            set_default(rolling, "maxUnavailable", 1)
            set_default(rolling, "maxSurge", 0)
        set_default(spec, "revisionHistoryLimit", 10)
        default_template(spec)

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                         "numberReady": 0}
        meta = obj.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), TEMPLATE_GENERATION: "1"}

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        super().prepare_for_update(obj, old)
        meta = obj.setdefault("metadata", {})
        generation = template_generation(old)
        if (obj.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template"):
            generation += 1
        if generation:
            meta["annotations"] = {**(meta.get("annotations") or {}), TEMPLATE_GENERATION: str(generation)}

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        template = spec.get("template") or {}
        selector = spec.get("selector")
        causes = validate_selector(selector, "spec.selector") if selector is not None else []
        converted = as_selector(selector) if selector is not None else None
        labels = (template.get("metadata") or {}).get("labels")
        if (selector is None or converted is not None) and (converted is None or not converted.matches(labels or {})):
            causes.append(invalid_go("spec.template.metadata.labels", go_string_map(labels),
                                     "`selector` does not match template `labels`"))
        if selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions"):
            causes.append(invalid_go("spec.selector", go_label_selector(selector),
                                     "empty selector is invalid for daemonset"))
        causes += validate_pod_template(template, "spec.template")
        pod_spec = template.get("spec") or {}
        policy = pod_spec.get("restartPolicy")
        if policy != "Always":
            causes.append(not_supported("spec.template.spec.restartPolicy", policy or "", ["Always"]))
        if pod_spec.get("activeDeadlineSeconds") is not None:
            causes.append(invalid("spec.template.spec.activeDeadlineSeconds", pod_spec["activeDeadlineSeconds"],
                                  "must not be specified"))
        causes += nonnegative(spec, "minReadySeconds", "spec")
        causes += validate_update_strategy(spec.get("updateStrategy"))
        causes += nonnegative(spec, "revisionHistoryLimit", "spec")
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return self.validate(obj) + validate_selector_unchanged(obj, old)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        status = obj.get("status") or {}
        return [status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
                status.get("numberReady", 0), status.get("updatedNumberScheduled", 0),
                status.get("numberAvailable", 0), node_selector_string(obj), age(obj, now),
                *container_cells(obj), selector_string((obj.get("spec") or {}).get("selector"))]


STRATEGY = DaemonSetStrategy()
