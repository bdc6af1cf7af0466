"""The admission chain: plugins that may change (mutate) and then check (validate) every write.

Mirrors ``k8s.io/apiserver/pkg/admission`` (``Attributes``, ``MutationInterface``,
``ValidationInterface``) and a few of kube-apiserver's default plugins from
``k8s.io/kubernetes/plugin/pkg/admission``:

- ``NamespaceLifecycle``: no new objects in a missing or terminating namespace; the system
  namespaces cannot be deleted;
- ``ServiceAccount``: a pod without ``serviceAccountName`` runs as ``default`` (the real plugin also
  requires the account to exist and mounts its token; labkit leaves both out);
- ``Priority``: ``priorityClassName`` resolves to ``priority`` (and the default class, if any).

Left out: webhooks, quota, limit ranges, pod security. The seam is the lesson: a plugin is a class
with ``admit`` and/or ``validate``, appended to :attr:`AdmissionChain.plugins`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.apiserver import errors
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.resources import Resource

#: reads an object through the API server's storage: (plural, namespace, name) -> object or None
Lookup = Callable[[str, str, str], Obj | None]
#: lists objects through the API server's storage: plural -> objects
ListAll = Callable[[str], list[Obj]]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public")


@dataclasses.dataclass(frozen=True, slots=True)
class Attributes:
    operation: str  # CREATE, UPDATE, DELETE
    resource: Resource
    subresource: str
    namespace: str
    name: str
    user: UserInfo | None
    dry_run: bool


class AdmissionPlugin:
    name = ""

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        """Mutate ``obj`` before validation."""

    def validate(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        """Raise an :class:`~labkit.apiserver.errors.ApiError` to refuse the request."""


class NamespaceLifecycle(AdmissionPlugin):
    name = "NamespaceLifecycle"

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup

    def validate(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        res = attrs.resource
        if res.plural == "namespaces":
            if attrs.operation == "DELETE" and attrs.name in SYSTEM_NAMESPACES:
                raise errors.forbidden(f'namespaces "{attrs.name}" is forbidden: this namespace may not be deleted',
                                       "namespaces", attrs.name)
            return
        if not res.namespaced or attrs.operation != "CREATE":
            return
        ns = self._lookup("namespaces", "", attrs.namespace)
        if ns is None:
            raise errors.not_found("namespaces", attrs.namespace)
        if ns.get("status", {}).get("phase") == "Terminating" or ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f'{res.qualified} "{attrs.name}" is forbidden: unable to create new content in namespace '
                f"{attrs.namespace} because it is being terminated", res.plural, attrs.name, res.group)


class ServiceAccount(AdmissionPlugin):
    name = "ServiceAccount"

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        if attrs.resource.plural == "pods" and not attrs.subresource and attrs.operation == "CREATE" and obj:
            spec = obj.setdefault("spec", {})
            spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
            spec.setdefault("serviceAccount", spec["serviceAccountName"])


class Priority(AdmissionPlugin):
    name = "Priority"

    def __init__(self, list_all: ListAll) -> None:
        self._list_all = list_all

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        if attrs.resource.plural != "pods" or attrs.subresource or attrs.operation != "CREATE" or not obj:
            return
        spec = obj.setdefault("spec", {})
        classes = self._list_all("priorityclasses")
        wanted = spec.get("priorityClassName")
        if wanted:
            pc = next((c for c in classes if c["metadata"]["name"] == wanted), None)
            if pc is None:
                raise errors.forbidden(f'pods "{attrs.name}" is forbidden: no PriorityClass with name {wanted} '
                                       "was found", "pods", attrs.name)
        else:
            pc = next((c for c in classes if c.get("globalDefault")), None)
            if pc is not None:
                spec["priorityClassName"] = pc["metadata"]["name"]
        spec["priority"] = pc.get("value", 0) if pc else 0
        spec["preemptionPolicy"] = (pc or {}).get("preemptionPolicy") or "PreemptLowerPriority"


class AdmissionChain:
    """Runs every plugin's ``admit``, then every plugin's ``validate``."""

    def __init__(self, plugins: list[AdmissionPlugin]) -> None:
        self.plugins = plugins

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        for p in self.plugins:
            p.admit(attrs, obj, old)

    def validate(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        for p in self.plugins:
            p.validate(attrs, obj, old)
