"""The ReplicationController strategy (``pkg/registry/core/replicationcontroller``).

The core/v1 ancestor of the ReplicaSet: its selector is a plain map of labels (equality only), and
it may change. Mirrors ``SetDefaults_ReplicationController`` (``pkg/apis/core/v1/defaults.go``: an
empty selector, and empty object labels, default to the template's labels; one replica),
``ValidateReplicationControllerSpec``, ``ValidateNonEmptySelector`` and ``ValidatePodTemplateSpecForRC``
(``pkg/apis/core/validation``), the strategy's generation rule (any spec change) and
``printReplicationController``. The ``/scale`` view is in ``registry/scale.py``.

Left out: ``ValidateReadOnlyPersistentDisks``, status validation on ``/status`` writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.labels import selector_from_validated_set
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, not_supported, required
from labkit.apiserver.registry.pod.defaults import default_pod_spec
from labkit.apiserver.registry.pod.validation import validate_pod_template
from labkit.apiserver.registry.replicaset import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
    container_cells,
    go_string_map,
    invalid_go,
    nonnegative,
    set_default,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age


def set_selector_string(selector: dict[str, str] | None) -> str:
    """``labels.FormatLabels`` / ``SelectorFromSet(...).String()``: ``app=web,tier=front``."""
    return str(selector_from_validated_set(selector or {}))


def _validate_template(template: Any, selector: dict[str, str]) -> list[Cause]:
    """``ValidatePodTemplateSpecForRC``."""
    if template is None:
        return [required("spec.template")]
    causes: list[Cause] = []
    labels = (template.get("metadata") or {}).get("labels")
    if selector and not selector_from_validated_set(selector).matches(labels or {}):
        causes.append(invalid_go("spec.template.metadata.labels", go_string_map(labels),
                                 "`selector` does not match template `labels`"))
    causes += validate_pod_template(template, "spec.template")
    spec = template.get("spec") or {}
    policy = spec.get("restartPolicy")
    if policy != "Always":
        causes.append(not_supported("spec.template.spec.restartPolicy", policy or "", ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        causes.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                "activeDeadlineSeconds in ReplicationController is not Supported"))
    return causes


class ReplicationControllerStrategy(Strategy):
    kind = "ReplicationController"
    status_subresource = True
    tracks_generation = True
    columns = (
        Column("Desired", "integer", description="Replicas is the number of desired replicas."),
        Column("Current", "integer", description="Replicas is the most recently observed number of replicas."),
        Column("Ready", "integer", description="The number of ready replicas for this replication controller."),
        AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN, SELECTOR_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        template = spec.get("template")
        if template is not None:
            default_pod_spec(set_default(template, "spec", {}))
            labels = (template.get("metadata") or {}).get("labels")
            if labels is not None:
                if not spec.get("selector"):
                    spec["selector"] = dict(labels)
                meta = obj.setdefault("metadata", {})
                if not meta.get("labels"):
                    meta["labels"] = dict(labels)
        set_default(spec, "replicas", 1)

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"replicas": 0}

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        selector = spec.get("selector") or {}
        causes = nonnegative(spec, "minReadySeconds", "spec")
        if not selector:
            causes.append(required("spec.selector"))
        causes += nonnegative(spec, "replicas", "spec")
        return causes + _validate_template(spec.get("template"), selector)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = obj.get("spec", {}), obj.get("status") or {}
        return [spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0), age(obj, now),
                *container_cells(obj), set_selector_string(spec.get("selector"))]

    def field_labels(self, obj: Obj) -> dict[str, str]:
        return {"status.replicas": str((obj.get("status") or {}).get("replicas", 0))}


STRATEGY = ReplicationControllerStrategy()
