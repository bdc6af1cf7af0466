"""RBAC rule matching and the authorizer's bindings, without a server."""

from __future__ import annotations

from labkit.apiserver.authn import UserInfo
from labkit.apiserver.authz import AuthorizationAttributes
from labkit.apiserver.rbac import RBACAuthorizer, rule_allows

JANE = UserInfo("jane", groups=("devs", "system:authenticated"))


def attrs(verb: str, resource: str = "", *, user: UserInfo = JANE, namespace: str = "default", group: str = "",
          subresource: str = "", name: str = "", path: str = "") -> AuthorizationAttributes:
    return AuthorizationAttributes(user, verb, not path, namespace, group, resource, subresource, name, path)


def test_a_rule_matches_verb_group_resource_subresource_and_name() -> None:
    reader = {"verbs": ["get", "watch", "list"], "apiGroups": [""], "resources": ["pods"]}
    assert rule_allows(reader, attrs("list", "pods"))
    assert not rule_allows(reader, attrs("create", "pods"))
    assert not rule_allows(reader, attrs("get", "pods", subresource="log")), "pods does not cover pods/log"
    assert not rule_allows(reader, attrs("get", "deployments", group="apps"))
    scale = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/scale"]}
    assert rule_allows(scale, attrs("update", "deployments", group="apps", subresource="scale"))
    assert not rule_allows(scale, attrs("update", "deployments", group="apps"))
    named = {"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"]}
    assert rule_allows(named, attrs("get", "configmaps", name="app"))
    assert not rule_allows(named, attrs("get", "configmaps", name="other"))
    assert not rule_allows(named, attrs("list", "configmaps")), "a list names no object"
    urls = {"verbs": ["get"], "nonResourceURLs": ["/apis/*", "/version"]}
    assert rule_allows(urls, attrs("get", path="/apis/apps/v1")) and rule_allows(urls, attrs("get", path="/version"))
    assert not rule_allows(urls, attrs("get", path="/metrics"))
    assert not rule_allows(urls, attrs("get", "pods")), "a non-resource rule covers no resource"


def objects(**kinds: list[dict]) -> RBACAuthorizer:
    return RBACAuthorizer(lambda plural: kinds.get(plural, []))


def role(name: str, rules: list[dict], namespace: str = "") -> dict:
    return {"metadata": {"name": name, **({"namespace": namespace} if namespace else {})}, "rules": rules}


def binding(name: str, kind: str, role_name: str, subjects: list[dict], namespace: str = "") -> dict:
    return {"metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name}, "subjects": subjects}


POD_READER = [{"verbs": ["get", "watch", "list"], "apiGroups": [""], "resources": ["pods"]}]


def test_bindings_grant_where_they_live_to_whom_they_name() -> None:
    authz = objects(
        roles=[role("pod-reader", POD_READER, "default")],
        clusterroles=[role("view-pods", POD_READER)],
        rolebindings=[binding("read-pods", "Role", "pod-reader", [{"kind": "User", "name": "jane"}], "default"),
                      binding("sa-reads", "ClusterRole", "view-pods",
                              [{"kind": "ServiceAccount", "name": "bot"}], "team"),
                      binding("dangling", "Role", "no-such-role", [{"kind": "Group", "name": "devs"}], "default")],
        clusterrolebindings=[binding("devs-read", "ClusterRole", "view-pods", [{"kind": "Group", "name": "devs"}])])
    allowed, reason = authz.authorize(attrs("list", "pods"))
    assert allowed and reason == 'RBAC: allowed by RoleBinding "default/read-pods" of Role "default/pod-reader" to User "jane"'
    assert not authz.authorize(attrs("delete", "pods", name="web"))[0]
    bob = UserInfo("bob", groups=("devs",))
    assert authz.authorize(attrs("get", "pods", user=bob, namespace="kube-system"))[0], "a ClusterRoleBinding: everywhere"
    bot = UserInfo("system:serviceaccount:team:bot", groups=("system:serviceaccounts",))
    assert authz.authorize(attrs("watch", "pods", user=bot, namespace="team"))[0]
    assert not authz.authorize(attrs("watch", "pods", user=bot, namespace="default"))[0], "a RoleBinding: its namespace only"
    assert authz.authorize(attrs("create", "anything", user=UserInfo("root", groups=("system:masters",))))[0]
    rules, non_resource = authz.rules_for(bot, "team")
    assert rules == [{"verbs": ["get", "watch", "list"], "apiGroups": [""], "resources": ["pods"]}] and non_resource == []


def test_a_new_binding_counts_once_the_index_is_invalidated() -> None:
    bindings: list[dict] = []
    authz = objects(clusterroles=[role("view-pods", POD_READER)], clusterrolebindings=bindings)
    assert not authz.authorize(attrs("get", "pods"))[0]
    bindings.append(binding("jane", "ClusterRole", "view-pods", [{"kind": "User", "name": "jane"}]))
    assert not authz.authorize(attrs("get", "pods"))[0], "the index is only rebuilt after a change is seen"
    authz.invalidate()
    assert authz.authorize(attrs("get", "pods"))[0]
