"""Installing local-path-provisioner as kind's ``local-path-storage.yaml`` does, through the API.

Creates the namespace ``local-path-storage``, the ServiceAccount ``local-path-provisioner-service-account``,
the ClusterRole ``local-path-provisioner-role`` (read nodes, claims, pods and classes; manage volumes;
write events) bound to it, and the StorageClass ``standard``, the cluster's default
(``storageclass.kubernetes.io/is-default-class: "true"``), whose provisioner is ``rancher.io/local-path``
(the name kind's clusters use, so manifests written for kind work unchanged). Left out: the Deployment
and its ConfigMap (labkit's provisioner runs in the cluster's process; its one setting, the base
directory, is the cluster's work directory), the helper pod it starts to create and remove
directories (labkit's does that itself, on the one host every node shares). The class binds
``Immediate``ly, not ``WaitForFirstConsumer`` as kind's does: labkit's scheduler has no VolumeBinding
plugin to set a claim's selected node, and every node of a labkit cluster reaches the same directory.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.volumeutil import IS_DEFAULT_CLASS
from labkit.client import Client

NAMESPACE = "local-path-storage"
SERVICE_ACCOUNT = "local-path-provisioner-service-account"
USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}")
PROVISIONER_NAME = "rancher.io/local-path"
CLASS_NAME = "standard"
ROLE = "local-path-provisioner-role"
_READ = ["get", "list", "watch"]
RBAC = "rbac.authorization.k8s.io/v1"


def objects() -> list[tuple[str, str, str, Obj]]:
    """(apiVersion, plural, namespace, object) of everything the manifest creates for the API."""
    return [
        ("v1", "namespaces", "", {"metadata": {"name": NAMESPACE}}),
        ("v1", "serviceaccounts", NAMESPACE, {"metadata": {"name": SERVICE_ACCOUNT}}),
        (RBAC, "clusterroles", "", {"metadata": {"name": ROLE}, "rules": [
            {"apiGroups": [""], "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
             "verbs": _READ},
            {"apiGroups": [""], "resources": ["persistentvolumes"],
             "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": _READ}]}),
        (RBAC, "clusterrolebindings", "", {"metadata": {"name": "local-path-provisioner-bind"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]}),
        ("storage.k8s.io/v1", "storageclasses", "", {"metadata": {"name": CLASS_NAME, "annotations": {
            IS_DEFAULT_CLASS: "true"}}, "provisioner": PROVISIONER_NAME, "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate"}),
    ]


async def install(client: Client) -> None:
    """Create what the manifest creates (what exists already is left as it is, as on a restart)."""
    await client.create_missing(objects())
