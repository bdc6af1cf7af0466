"""Installing metrics-server as its ``manifests/base`` (``components.yaml``) does, through the API.

Creates what the manifest creates for the API: the ServiceAccount ``kube-system/metrics-server``, the
ClusterRoles ``system:metrics-server`` (read nodes and pods, ``nodes/metrics``) and
``system:aggregated-metrics-reader`` (read ``metrics.k8s.io``, aggregated to view/edit/admin), the
ClusterRoleBinding of the first to the ServiceAccount, and the APIService ``v1beta1.metrics.k8s.io``
(Service ``kube-system/metrics-server``, group priority 100, version priority 100, TLS not verified).
Then, in kube-apiserver's part, the APIService's ``Available`` condition once its server is registered.
Left out: the Deployment and Service (labkit's metrics-server runs in the cluster's process), the
``auth-delegator`` and ``extension-apiserver-authentication-reader`` bindings it needs to check callers.
"""

from __future__ import annotations

import datetime as dt

from labkit.apimachinery.meta import Obj
from labkit.apiserver.aggregator import api_service, available_condition
from labkit.client import Client, resource_path

NAMESPACE, NAME = "kube-system", "metrics-server"
USER = f"system:serviceaccount:{NAMESPACE}:{NAME}"
GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}")
API_SERVICE = api_service("metrics.k8s.io", "v1beta1", service=(NAMESPACE, NAME), group_priority=100,
                          version_priority=100)
_LABELS = {"k8s-app": NAME}
_READ = ["get", "list", "watch"]
RBAC = "rbac.authorization.k8s.io/v1"


def objects() -> list[tuple[str, str, str, Obj]]:
    """(apiVersion, plural, namespace, object) of everything the manifest creates for the API."""
    return [
        ("v1", "serviceaccounts", NAMESPACE, {"metadata": {"name": NAME, "labels": _LABELS}}),
        (RBAC, "clusterroles", "", {"metadata": {"name": "system:aggregated-metrics-reader", "labels": {
            **_LABELS, **{f"rbac.authorization.k8s.io/aggregate-to-{r}": "true" for r in ("admin", "edit", "view")}}},
            "rules": [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": _READ}]}),
        (RBAC, "clusterroles", "", {"metadata": {"name": f"system:{NAME}", "labels": _LABELS}, "rules": [
            {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": _READ}]}),
        (RBAC, "clusterrolebindings", "", {"metadata": {"name": f"system:{NAME}", "labels": _LABELS},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"system:{NAME}"},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]}),
        ("apiregistration.k8s.io/v1", "apiservices", "", {**API_SERVICE, "metadata": {
            **API_SERVICE["metadata"], "labels": _LABELS}}),
    ]


async def install(client: Client) -> None:
    """Create what the manifest creates (what exists already is left as it is, as on a restart)."""
    await client.create_missing(objects())


async def mark_available(client: Client, now: dt.datetime) -> None:
    """Set the APIService's ``Available`` condition, as kube-apiserver's availability controller does."""
    path = resource_path("apiregistration.k8s.io/v1", "apiservices", name=API_SERVICE["metadata"]["name"],
                         subresource="status")
    await client.patch(path, {"status": {"conditions": [available_condition(now)]}})
