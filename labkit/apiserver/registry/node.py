"""The Node strategy (``pkg/registry/core/node``).

Defaulting from ``SetDefaults_NodeStatus``, taint validation from ``validateNodeTaints`` in
``pkg/apis/core/validation``, the Table from ``printNode``. A kubelet creates its Node with status
included, so create keeps ``status``; updates through the main resource keep the old status.
Left out: podCIDR/providerID immutability, config source, node address and capacity validation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.nodeutil import get_node_condition
from labkit.apimachinery.resource import default_resource_list
from labkit.apimachinery.validation import Cause, duplicate, invalid, not_supported, qualified_name_errors, required
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"


def validate_taint_effect(effect: Any, path: str, *, allow_empty: bool) -> list[Cause]:
    """``validateTaintEffect``: shared by node taints and pod tolerations."""
    if not effect:
        return [] if allow_empty else [required(path)]
    return [] if effect in TAINT_EFFECTS else [not_supported(path, effect, TAINT_EFFECTS)]


def validate_taints(taints: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints if isinstance(taints, list) else []):
        at = f"{path}[{i}]"
        if not isinstance(taint, dict):
            causes.append(invalid(at, taint, "must be an object"))
            continue
        key, effect = taint.get("key", ""), taint.get("effect", "")
        causes += [invalid(f"{at}.key", key, e) for e in qualified_name_errors(key)]
        causes += validate_taint_effect(effect, f"{at}.effect", allow_empty=False)
        if (key, effect) in seen:
            dup = duplicate(at, taint)
            causes.append(Cause(dup.type, f"{dup.message}: taints must be unique by key and effect pair", at))
        seen.add((key, effect))
    return causes


def node_status_cell(node: Obj) -> str:
    """``Ready``, ``NotReady`` or ``Unknown`` from the Ready condition, plus ``SchedulingDisabled``."""
    ready = get_node_condition(node, "Ready")
    parts = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if node.get("spec", {}).get("unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(node: Obj) -> list[str]:
    """Roles from ``node-role.kubernetes.io/<role>`` keys and the legacy ``kubernetes.io/role`` value."""
    roles = set()
    for key, value in (node.get("metadata", {}).get("labels") or {}).items():
        if key.startswith(ROLE_LABEL_PREFIX) and key[len(ROLE_LABEL_PREFIX):]:
            roles.add(key[len(ROLE_LABEL_PREFIX):])
        elif key == LEGACY_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _address(node: Obj, kind: str) -> str:
    return next((a.get("address", "") for a in node.get("status", {}).get("addresses") or [] if a.get("type") == kind),
                "<none>")


class NodeStrategy(Strategy):
    kind = "Node"
    status_subresource = True
    columns = (
        Column("Status", description="Readiness of the node, and whether scheduling is disabled."),
        Column("Roles", description="Roles from the node-role.kubernetes.io/* labels."),
        AGE_COLUMN,
        Column("Version", description="The kubelet version the node reports."),
        Column("Internal-IP", priority=1, description="The node's first InternalIP address."),
        Column("External-IP", priority=1, description="The node's first ExternalIP address."),
        Column("OS-Image", priority=1, description="The operating system image the node reports."),
        Column("Kernel-Version", priority=1, description="The kernel version the node reports."),
        Column("Container-Runtime", priority=1, description="The container runtime and version the node reports."),
    )

    def default(self, obj: Obj) -> None:
        status = obj.get("status")
        if not isinstance(status, dict):
            return
        for field in ("capacity", "allocatable"):
            default_resource_list(status.get(field))
        if "allocatable" not in status and isinstance(status.get("capacity"), dict):
            status["allocatable"] = dict(status["capacity"])

    def prepare_for_create(self, obj: Obj) -> None:
        """Nodes may set every field on create, status included (the kubelet registers that way)."""

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_taints(obj.get("spec", {}).get("taints"), "spec.taints")

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        info = obj.get("status", {}).get("nodeInfo") or {}
        return [
            node_status_cell(obj),
            ",".join(node_roles(obj)) or "<none>",
            age(obj, now),
            info.get("kubeletVersion", ""),
            _address(obj, "InternalIP"),
            _address(obj, "ExternalIP"),
            info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>",
        ]

    def field_labels(self, obj: Obj) -> dict[str, str]:
        return {"spec.unschedulable": "true" if obj.get("spec", {}).get("unschedulable") else "false"}


STRATEGY = NodeStrategy()
