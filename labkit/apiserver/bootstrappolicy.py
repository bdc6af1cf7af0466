"""The roles and bindings every cluster starts with: ``plugin/pkg/auth/authorizer/rbac/bootstrappolicy``.

kube-apiserver's ``rbac/bootstrap-roles`` post-start hook creates them, labelled
``kubernetes.io/bootstrapping: rbac-defaults``: ``cluster-admin`` for ``system:masters``, discovery
and self-review for every authenticated user, the user-facing ``admin`` / ``edit`` / ``view``, and
one role per component, bound to the identity it runs as. labkit's components need what kube's do,
with three differences, each said on its role:

- ``system:kube-controller-manager`` may do anything: labkit runs every controller under that one
  name, as kube-controller-manager does without ``--use-service-account-credentials``, and its
  garbage collector and namespace controller act on every kind of object.
- ``system:node`` is bound to the group ``system:nodes`` (kube's Node authorizer, which limits a
  kubelet to its own node's objects, is left out), and may patch pods: labkit's kubelet says on a
  pod when it runs a stand-in image.
- ``system:coredns`` and the KWOK controller's binding come from those projects' manifests.

Of kube's namespaced roles (``namespace_policy.go``), those of the bootstrap signer and the token
cleaner are here, bound to their service accounts as in kube (labkit runs both controllers as
``system:kube-controller-manager``, so the bindings only show what each needs).

Of kube's per-controller ``system:controller:*`` cluster roles, the horizontal pod autoscaler's is here,
bound to its service account (the same caveat: labkit runs it as ``system:kube-controller-manager``).

Left out: the other per-controller ``system:controller:*`` roles, aggregation labels, the roles of
components labkit does not have (volumes, the other certificate signers ...), the leader-locking and
extension-apiserver roles of kube-system.
"""

from __future__ import annotations

import copy

from labkit.apimachinery.meta import Obj

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]


def rule(verbs: list[str], groups: list[str], resources: list[str]) -> Obj:
    return {"verbs": verbs, "apiGroups": groups, "resources": resources}


def paths(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": verbs, "nonResourceURLs": urls}


EVENTS = rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"])
PUBLIC_INFO = ["/healthz", "/livez", "/readyz", "/version", "/version/"]

_VIEW = [
    rule(READ, [""], ["configmaps", "endpoints", "persistentvolumeclaims", "pods", "replicationcontrollers",
                      "replicationcontrollers/scale", "serviceaccounts", "services", "services/status", "bindings",
                      "events", "limitranges", "namespaces", "namespaces/status", "pods/log", "pods/status",
                      "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"]),
    rule(READ, ["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                          "deployments/status", "replicasets", "replicasets/scale", "replicasets/status",
                          "statefulsets", "statefulsets/scale", "statefulsets/status"]),
    rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
    rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
    rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
    rule(READ, ["events.k8s.io"], ["events"]),
    rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
]
_EDIT = _VIEW + [
    rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "configmaps", "endpoints",
                       "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets",
                       "serviceaccounts", "services", "services/proxy"]),
    rule(READ, [""], ["secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy"]),
    rule(["create"], [""], ["pods/eviction", "serviceaccounts/token"]),
    rule(["impersonate"], [""], ["serviceaccounts"]),
    rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                           "replicasets/scale", "statefulsets", "statefulsets/scale"]),
    rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
    rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
    rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
]
_ADMIN = _EDIT + [
    rule(READ + WRITE, ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
    rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
]
_NODE = [
    rule(["create", "delete", "get", "list", "watch", "patch", "update"], [""], ["nodes"]),
    rule(["patch", "update"], [""], ["nodes/status"]),
    EVENTS,
    rule(READ + ["create", "delete", "patch"], [""], ["pods"]),  # patch: labkit's stand-in annotation
    rule(["patch", "update"], [""], ["pods/status"]),
    rule(["create"], [""], ["pods/eviction", "serviceaccounts/token"]),
    rule(READ, [""], ["services", "endpoints", "secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"]),
    rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
    rule(["create", "delete", "get", "list", "patch", "update", "watch"], ["coordination.k8s.io"], ["leases"]),
    rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
    rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews", "subjectaccessreviews"]),
    rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
]

CLUSTER_ROLES: dict[str, list[Obj]] = {
    "cluster-admin": [rule(["*"], ["*"], ["*"]), paths(["*"], ["*"])],
    "admin": _ADMIN,
    "edit": _EDIT,
    "view": _VIEW,
    "system:discovery": [paths(["get"], ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*",
                                         *PUBLIC_INFO])],
    "system:public-info-viewer": [paths(["get"], PUBLIC_INFO)],
    "system:basic-user": [
        rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
        rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
    ],
    "system:kube-scheduler": [
        EVENTS,
        rule(["create", "get", "update"], ["coordination.k8s.io"], ["leases"]),
        rule(["create", "get", "update"], [""], ["endpoints"]),
        rule(READ, [""], ["nodes", "namespaces", "replicationcontrollers", "services", "persistentvolumeclaims",
                          "persistentvolumes"]),
        rule(READ + ["delete"], [""], ["pods"]),
        rule(["create"], [""], ["bindings", "pods/binding"]),
        rule(["patch", "update"], [""], ["pods/status"]),
        rule(READ, ["apps"], ["replicasets", "statefulsets"]),
        rule(READ, ["policy"], ["poddisruptionbudgets"]),
        rule(READ, ["storage.k8s.io"], ["csidrivers", "csinodes", "csistoragecapacities", "storageclasses"]),
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
    ],
    # labkit runs every controller under this one name (see the module docstring)
    "system:kube-controller-manager": [rule(["*"], ["*"], ["*"])],
    "system:node": _NODE,
    "system:node-proxier": [
        rule(READ, [""], ["endpoints", "services", "nodes"]),
        rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
        EVENTS,
    ],
    # the kubelet's TLS bootstrap: post a CSR, and have the csrapproving controller approve it
    "system:node-bootstrapper": [rule(["create", "get", "list", "watch"], ["certificates.k8s.io"],
                                      ["certificatesigningrequests"])],
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient": [
        rule(["create"], ["certificates.k8s.io"], ["certificatesigningrequests/nodeclient"])],
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": [
        rule(["create"], ["certificates.k8s.io"], ["certificatesigningrequests/selfnodeclient"])],
    # the HPA controller's role, bound to its service account as in kube (labkit runs it as
    # system:kube-controller-manager, so the binding only shows what it needs)
    "system:controller:horizontal-pod-autoscaler": [
        rule(READ, ["autoscaling"], ["horizontalpodautoscalers"]),
        rule(["update"], ["autoscaling"], ["horizontalpodautoscalers/status"]),
        rule(["get", "update"], ["*"], ["*/scale"]),
        rule(["list"], [""], ["pods"]),
        rule(["list"], ["metrics.k8s.io"], ["pods"]),
        rule(["get", "list"], ["custom.metrics.k8s.io"], ["*"]),
        rule(["get", "list"], ["external.metrics.k8s.io"], ["*"]),
        EVENTS,
    ],
    "system:coredns": [
        rule(["list", "watch"], [""], ["endpoints", "services", "pods", "namespaces"]),
        rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
    ],
}


def _user(name: str) -> Obj:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def _group(name: str) -> Obj:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def _service_account(namespace: str, name: str) -> Obj:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


#: binding name -> (ClusterRole, subjects)
CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[Obj]]] = {
    "cluster-admin": ("cluster-admin", [_group("system:masters")]),
    "system:discovery": ("system:discovery", [_group("system:authenticated")]),
    "system:basic-user": ("system:basic-user", [_group("system:authenticated")]),
    "system:public-info-viewer": ("system:public-info-viewer",
                                  [_group("system:authenticated"), _group("system:unauthenticated")]),
    "system:kube-scheduler": ("system:kube-scheduler", [_user("system:kube-scheduler")]),
    "system:kube-controller-manager": ("system:kube-controller-manager", [_user("system:kube-controller-manager")]),
    "system:node": ("system:node", [_group("system:nodes")]),
    "system:node-proxier": ("system:node-proxier", [_user("system:kube-proxy")]),
    "system:coredns": ("system:coredns", [_user("system:coredns"), _service_account("kube-system", "coredns")]),
    "kwok-controller": ("system:node", [_service_account("kube-system", "kwok-controller")]),
    "system:controller:horizontal-pod-autoscaler": ("system:controller:horizontal-pod-autoscaler",
                                                    [_service_account("kube-system", "horizontal-pod-autoscaler")]),
}

#: (namespace, name) -> rules of a Role
NAMESPACE_ROLES: dict[tuple[str, str], list[Obj]] = {
    ("kube-system", "system:controller:bootstrap-signer"): [rule(READ, [""], ["secrets"])],
    ("kube-system", "system:controller:token-cleaner"): [rule([*READ, "delete"], [""], ["secrets"]), EVENTS],
    ("kube-public", "system:controller:bootstrap-signer"): [
        rule(READ, [""], ["configmaps"]),
        {**rule(["update"], [""], ["configmaps"]), "resourceNames": ["cluster-info"]},
        EVENTS,
    ],
}
#: (namespace, name) -> (Role, subjects) of a RoleBinding
NAMESPACE_ROLE_BINDINGS: dict[tuple[str, str], tuple[str, list[Obj]]] = {
    (namespace, name): (name, [_service_account("kube-system", name.removeprefix("system:controller:"))])
    for namespace, name in NAMESPACE_ROLES
}


def _metadata(name: str, namespace: str = "") -> Obj:
    return {"name": name, **({"namespace": namespace} if namespace else {}),
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}


def cluster_roles() -> list[Obj]:
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _metadata(name),
             "rules": copy.deepcopy(rules)} for name, rules in CLUSTER_ROLES.items()]


def cluster_role_bindings() -> list[Obj]:
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _metadata(name),
             "subjects": copy.deepcopy(subjects),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}}
            for name, (role, subjects) in CLUSTER_ROLE_BINDINGS.items()]


def roles() -> list[Obj]:
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _metadata(name, namespace),
             "rules": copy.deepcopy(rules)} for (namespace, name), rules in NAMESPACE_ROLES.items()]


def role_bindings() -> list[Obj]:
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": _metadata(name, namespace), "subjects": copy.deepcopy(subjects),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}}
            for (namespace, name), (role, subjects) in NAMESPACE_ROLE_BINDINGS.items()]
