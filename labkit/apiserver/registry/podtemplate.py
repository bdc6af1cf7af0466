"""The PodTemplate strategy (``pkg/registry/core/podtemplate``).

A PodTemplate is a stored pod template that nothing runs by itself (tools and controllers copy it).
Mirrors ``SetDefaults_PodSpec`` on its ``template.spec``, ``ValidatePodTemplate`` /
``ValidatePodTemplateUpdate`` (``pkg/apis/core/validation``: the template's labels and pod spec under
``template``) and ``printPodTemplate`` (the CONTAINERS, IMAGES and POD LABELS cells; the printer has
no Age column). Left out: the generation kept on template changes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause
from labkit.apiserver.registry.pod.defaults import default_pod_spec
from labkit.apiserver.registry.pod.validation import validate_pod_template
from labkit.apiserver.registry.replicaset import set_default
from labkit.apiserver.strategy import Column, Strategy


def format_labels(labels: dict[str, str] | None) -> str:
    """``labels.FormatLabels``: ``k=v`` pairs in key order, ``<none>`` for none."""
    labels = labels or {}
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "<none>"


class PodTemplateStrategy(Strategy):
    kind = "PodTemplate"
    columns = (
        Column("Containers", description="Names of each container in the template."),
        Column("Images", description="Images referenced by each container in the template."),
        Column("Pod Labels", description="The labels for the pod template."),
    )

    def default(self, obj: Obj) -> None:
        template = obj.get("template")
        if isinstance(template, dict):
            default_pod_spec(set_default(template, "spec", {}))

    def validate(self, obj: Obj) -> list[Cause]:
        template = obj.get("template")
        return validate_pod_template(template if template is not None else {}, "template")

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        template = obj.get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
                format_labels((template.get("metadata") or {}).get("labels"))]


STRATEGY = PodTemplateStrategy()
