"""Role, ClusterRole, RoleBinding and ClusterRoleBinding strategies."""

from __future__ import annotations

import pytest

from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry import rbac

from .helpers import CREATED, NOW, fields, status_causes

GROUP = "rbac.authorization.k8s.io"


def test_role_rules_need_verbs_and_resources():
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
             {"apiGroups": [""], "resources": ["pods"]},
             {"verbs": ["get"]},
             {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]
    assert fields(rbac.ROLE.validate({"rules": rules})) == [
        ("rules[1].verbs", "Required value: verbs must contain at least one value"),
        ("rules[2].apiGroups", "Required value: resource rules must supply at least one api group"),
        ("rules[2].resources", "Required value: resource rules must supply at least one resource"),
        ("rules[3].nonResourceURLs", 'Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs'),
    ]
    assert rbac.CLUSTER_ROLE.validate({"rules": rules[3:]}) == []


def test_role_table_is_the_default_created_at():
    assert [(c.name, c.type) for c in rbac.ROLE.columns] == [("Created At", "date")]
    assert rbac.CLUSTER_ROLE.cells({"metadata": {"creationTimestamp": CREATED}}, NOW) == [CREATED]


def test_binding_defaults_api_groups(registry):
    reg = registry(GROUP, "rolebindings")
    created, _ = reg.create("default", {
        "metadata": {"name": "b"},
        "roleRef": {"kind": "Role", "name": "reader"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "default"}],
    })
    assert created["roleRef"] == {"apiGroup": GROUP, "kind": "Role", "name": "reader"}
    assert created["subjects"] == [{"kind": "User", "name": "alice", "apiGroup": GROUP},
                                   {"kind": "ServiceAccount", "name": "default"}]


def test_binding_validation():
    obj = {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": ""},
           "subjects": [{"kind": "Robot", "name": "r2"}, {"kind": "ServiceAccount", "name": "sa", "apiGroup": GROUP},
                        {"kind": "Group", "apiGroup": "example.com", "name": "devs"}]}
    assert fields(rbac.ROLE_BINDING.validate(obj)) == [
        ("roleRef.name", "Required value"),
        ("subjects[0].kind", 'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'),
        ("subjects[1].apiGroup", 'Unsupported value: "rbac.authorization.k8s.io": supported values: ""'),
        ("subjects[2].apiGroup", 'Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"'),
    ]
    crb = {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "x"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}
    assert fields(rbac.CLUSTER_ROLE_BINDING.validate(crb)) == [
        ("roleRef.kind", 'Unsupported value: "Role": supported values: "ClusterRole"'),
        ("subjects[0].namespace", "Required value"),
    ]


def test_role_ref_cannot_change(registry):
    reg = registry(GROUP, "clusterrolebindings")
    reg.create("", {"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}})

    def swap(obj):
        obj["roleRef"]["name"] = "edit"
        return obj

    with pytest.raises(ApiError) as err:
        reg.update("", "b", swap)
    assert err.value.code == 422
    assert status_causes(err.value) == [
        ("roleRef", 'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", '
                    'Name:"edit"}: cannot change roleRef'),
    ]

    def add_subject(obj):
        obj["subjects"] = [{"kind": "Group", "name": "devs"}]
        return obj

    updated, _ = reg.update("", "b", add_subject)
    assert updated["subjects"] == [{"kind": "Group", "name": "devs", "apiGroup": GROUP}]


def test_binding_cells():
    obj = {"metadata": {"creationTimestamp": CREATED}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
           "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                        {"kind": "ServiceAccount", "namespace": "ci", "name": "robot"}]}
    assert [c.name for c in rbac.ROLE_BINDING.columns] == ["Role", "Age", "Users", "Groups", "ServiceAccounts"]
    assert [c.priority for c in rbac.ROLE_BINDING.columns] == [0, 0, 1, 1, 1]
    assert rbac.ROLE_BINDING.cells(obj, NOW) == ["ClusterRole/view", "5m", "alice, bob", "", "ci/robot"]
