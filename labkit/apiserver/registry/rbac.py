"""RBAC object strategies (``pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}``).

Mirrors ``pkg/apis/rbac/v1/defaults.go`` (``roleRef.apiGroup`` and each subject's ``apiGroup``),
``pkg/apis/rbac/validation`` (rules need verbs, and resources or non-resource URLs; ``roleRef`` is
required and can never change; subject kinds and their API groups) and the printers: bindings use
``printRoleBinding``, roles have no printer and get the default ``NAME CREATED AT`` table.

Left out: ClusterRole ``aggregationRule`` (stored, not validated or aggregated), the escalation check
(``rbac/validation.ConfirmNoEscalation``) that stops users granting permissions they lack.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import parse_time, rfc3339
from labkit.apimachinery.validation import (
    Cause,
    dns1123_subdomain_errors,
    invalid,
    not_supported,
    path_segment_errors,
    required,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def _validate_rule(rule: dict[str, Any], *, namespaced: bool, path: str) -> list[Cause]:
    """``validatePolicyRule``."""
    causes = []
    if not rule.get("verbs"):
        causes.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        if namespaced:
            causes.append(invalid(f"{path}.nonResourceURLs", urls,
                                  "namespaced rules cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            causes.append(invalid(f"{path}.nonResourceURLs", urls,
                                  "rules cannot apply to both regular resources and non-resource URLs"))
        return causes
    if not rule.get("apiGroups"):
        causes.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        causes.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    if rule.get("resourceNames") and len(rule.get("resources") or []) > 1:
        causes.append(required(f"{path}.resourceNames", "resource names cannot apply to multiple resources"))
    return causes


def _validate_subject(subject: dict[str, Any], *, namespaced: bool, path: str) -> list[Cause]:
    """``validateRoleBindingSubject``."""
    causes = []
    name, kind, group = subject.get("name", ""), subject.get("kind", ""), subject.get("apiGroup", "")
    if not name:
        causes.append(required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            causes += [invalid(f"{path}.name", name, e) for e in dns1123_subdomain_errors(name)]
        if group:
            causes.append(not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            causes.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if not name:
            causes.append(invalid(f"{path}.name", name, f"{kind.lower()} name cannot be empty"))
        if group != GROUP:
            causes.append(not_supported(f"{path}.apiGroup", group, [GROUP]))
    else:
        causes.append(not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return causes


def _go_role_ref(ref: dict[str, Any]) -> str:
    """``rbac.RoleRef`` as Go's ``%#v`` prints it in the "cannot change roleRef" message."""
    fields = ", ".join(f"{go}:{json.dumps(ref.get(js, ''))}" for go, js in
                       (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name")))
    return f"rbac.RoleRef{{{fields}}}"


class RoleStrategy(Strategy):
    """Role and ClusterRole: a list of rules."""

    name_rule = "path"
    columns = (Column("Created At", "date", description=AGE_COLUMN.description),)

    def __init__(self, kind: str, *, namespaced: bool) -> None:
        self.kind = kind
        self.namespaced = namespaced

    def validate(self, obj: Obj) -> list[Cause]:
        causes = []
        for i, rule in enumerate(obj.get("rules") or []):
            causes += _validate_rule(rule, namespaced=self.namespaced, path=f"rules[{i}]")
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        created = parse_time(obj.get("metadata", {}).get("creationTimestamp"))
        return [rfc3339(created) if created else ""]


class RoleBindingStrategy(Strategy):
    """RoleBinding and ClusterRoleBinding: a ``roleRef`` and the subjects granted it."""

    name_rule = "path"
    columns = (
        Column("Role", description="The Role or ClusterRole this binding grants."),
        AGE_COLUMN,
        Column("Users", priority=1, description="Users in the binding"),
        Column("Groups", priority=1, description="Groups in the binding"),
        Column("ServiceAccounts", priority=1, description="ServiceAccounts in the binding"),
    )

    def __init__(self, kind: str, *, namespaced: bool) -> None:
        self.kind = kind
        self.namespaced = namespaced
        self.role_kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]

    def default(self, obj: Obj) -> None:
        ref = obj.get("roleRef")
        if isinstance(ref, dict) and not ref.get("apiGroup"):
            ref["apiGroup"] = GROUP
        for subject in obj.get("subjects") or []:
            if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = GROUP

    def validate(self, obj: Obj) -> list[Cause]:
        ref = obj.get("roleRef") or {}
        causes = []
        if ref.get("apiGroup", "") != GROUP:
            causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
        if ref.get("kind", "") not in self.role_kinds:
            causes.append(not_supported("roleRef.kind", ref.get("kind", ""), self.role_kinds))
        name = ref.get("name", "")
        if not name:
            causes.append(required("roleRef.name"))
        else:
            causes += [invalid("roleRef.name", name, e) for e in path_segment_errors(name)]
        for i, subject in enumerate(obj.get("subjects") or []):
            causes += _validate_subject(subject, namespaced=self.namespaced, path=f"subjects[{i}]")
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        ref = obj.get("roleRef") or {}
        keys = ("apiGroup", "kind", "name")
        if any(ref.get(k, "") != (old.get("roleRef") or {}).get(k, "") for k in keys):
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {_go_role_ref(ref)}: cannot change roleRef",
                                "roleRef"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        ref = obj.get("roleRef") or {}
        subjects = obj.get("subjects") or []

        def names(kind: str) -> str:
            return ", ".join(s.get("name", "") if kind != "ServiceAccount"
                             else f"{s.get('namespace', '')}/{s.get('name', '')}"
                             for s in subjects if s.get("kind") == kind)

        return [f"{ref.get('kind', '')}/{ref.get('name', '')}", age(obj, now),
                names("User"), names("Group"), names("ServiceAccount")]


ROLE = RoleStrategy("Role", namespaced=True)
ROLE_BINDING = RoleBindingStrategy("RoleBinding", namespaced=True)
CLUSTER_ROLE = RoleStrategy("ClusterRole", namespaced=False)
CLUSTER_ROLE_BINDING = RoleBindingStrategy("ClusterRoleBinding", namespaced=False)
