"""The RBAC authorizer: ``plugin/pkg/auth/authorizer/rbac`` and the rule matching of ``pkg/apis/rbac/v1``.

A request is allowed when a binding names the user (as a User, one of its Groups, or the
ServiceAccount ``system:serviceaccount:NS:NAME`` is) and the role it refers to has a rule that covers
the verb, API group, resource (``pods``, ``pods/log``, ``*/scale``, ``*``) and, if the rule lists
any, the name; or the non-resource path (``/apis/*``). A ClusterRoleBinding grants everywhere, a
RoleBinding only in its namespace, whichever kind of role it names. Nothing denies: permissions only
add up. A binding to a role that does not exist grants nothing.

Bindings and roles are read through the API server's own registries into an index by subject,
rebuilt after any of them changes (kube-apiserver uses informers). Left out: ClusterRole aggregation
(the bootstrap ``admin`` / ``edit`` / ``view`` carry their aggregated rules themselves), the Node
authorizer (kubelets get the legacy ``system:node`` binding to ``system:nodes``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from labkit.apimachinery.meta import Obj
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.authz import AuthorizationAttributes

SA_PREFIX = "system:serviceaccount:"


@dataclasses.dataclass(frozen=True, slots=True)
class Grant:
    """The rules one binding gives its subjects, and where (``namespace`` "" = everywhere)."""

    namespace: str
    rules: tuple[Obj, ...]
    binding: str  # ClusterRoleBinding "name" / RoleBinding "ns/name"
    role: str  # ClusterRole "name" / Role "ns/name"


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values or ())
    return "*" in values or wanted in values


def rule_allows(rule: Obj, attrs: AuthorizationAttributes) -> bool:
    """``RuleAllows``: the verb, then the group, resource and name, or the non-resource path."""
    if not _matches(rule.get("verbs") or (), attrs.verb):
        return False
    if not attrs.is_resource:
        return any(url == "*" or url == attrs.path or (url.endswith("*") and attrs.path.startswith(url[:-1]))
                   for url in rule.get("nonResourceURLs") or ())
    if not _matches(rule.get("apiGroups") or (), attrs.group):
        return False
    wanted = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    resources = rule.get("resources") or ()
    if not ("*" in resources or wanted in resources
            or (attrs.subresource and f"*/{attrs.subresource}" in resources)):
        return False
    names = rule.get("resourceNames") or ()
    return not names or attrs.name in names


def _subject_key(subject: Obj, binding_namespace: str) -> tuple[str, str] | None:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return "User", name
    if kind == "Group":
        return "Group", name
    if kind == "ServiceAccount":
        return "User", f"{SA_PREFIX}{subject.get('namespace') or binding_namespace}:{name}"
    return None


class RBACAuthorizer:
    """Allows what the user's bindings grant; ``system:masters`` always (kube's privileged group)."""

    def __init__(self, list_objects: Callable[[str], list[Obj]]) -> None:
        self._list = list_objects
        self._index: dict[tuple[str, str], list[Grant]] = {}
        self._built = -1
        self._generation = 0

    def invalidate(self) -> None:
        """A role or binding changed (called from the store's watch): rebuild before the next answer."""
        self._generation += 1

    def _grants(self, user: UserInfo) -> list[tuple[Grant, str]]:
        """The user's grants, each with the subject that matched (``User "x"``, ``Group "y"``)."""
        generation = self._generation
        if self._built != generation:
            self._index, self._built = self._build(), generation
        keys = [("User", user.name)] + [("Group", g) for g in user.groups]
        return [(grant, f'{kind} "{name}"') for kind, name in keys for grant in self._index.get((kind, name), ())]

    def _build(self) -> dict[tuple[str, str], list[Grant]]:
        roles = {(r["metadata"].get("namespace", ""), r["metadata"]["name"]): tuple(r.get("rules") or ())
                 for plural in ("roles", "clusterroles") for r in self._list(plural)}
        index: dict[tuple[str, str], list[Grant]] = {}
        for plural in ("clusterrolebindings", "rolebindings"):
            for b in self._list(plural):
                ns, name = b["metadata"].get("namespace", ""), b["metadata"]["name"]
                ref = b.get("roleRef") or {}
                role_ns = ns if ref.get("kind") == "Role" else ""
                rules = roles.get((role_ns, ref.get("name", "")))
                if rules is None:
                    continue
                grant = Grant(ns, rules, f'RoleBinding "{ns}/{name}"' if ns else f'ClusterRoleBinding "{name}"',
                              f'Role "{role_ns}/{ref["name"]}"' if role_ns else f'ClusterRole "{ref.get("name", "")}"')
                for subject in b.get("subjects") or ():
                    key = _subject_key(subject, ns)
                    if key is not None:
                        index.setdefault(key, []).append(grant)
        return index

    def authorize(self, attrs: AuthorizationAttributes) -> tuple[bool, str]:
        if "system:masters" in attrs.user.groups:
            return True, ""
        for grant, subject in self._grants(attrs.user):
            if grant.namespace and grant.namespace != attrs.namespace:
                continue
            if any(rule_allows(rule, attrs) for rule in grant.rules):
                return True, f"RBAC: allowed by {grant.binding} of {grant.role} to {subject}"
        return False, ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Obj], list[Obj]]:
        """What SelfSubjectRulesReview reports: every rule that applies in ``namespace``."""
        if "system:masters" in user.groups:
            return ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                    [{"verbs": ["*"], "nonResourceURLs": ["*"]}])
        resource_rules, non_resource = [], []
        for grant, _ in self._grants(user):
            if grant.namespace and grant.namespace != namespace:
                continue
            for rule in grant.rules:
                if rule.get("nonResourceURLs"):
                    non_resource.append({"verbs": list(rule["verbs"]),
                                         "nonResourceURLs": list(rule["nonResourceURLs"])})
                else:
                    resource_rules.append({k: list(rule[k])
                                           for k in ("verbs", "apiGroups", "resources", "resourceNames")
                                           if rule.get(k)})
        return resource_rules, non_resource
