"""Which REST storage serves each resource.

Mirrors ``pkg/registry/<group>/rest/storage_<group>.go`` (``storage_core.go``, ``storage_apps.go``
...), where kube-apiserver builds each resource's storage. Most resources are served by the generic
store (``labkit/apiserver/storage.py``) with their strategy; a resource with storage of its own has
it beside its strategy, in ``labkit/apiserver/registry/<resource>/storage.py``. The subresources
with behaviour of their own are still in ``subresources.py``.
"""

from __future__ import annotations

from labkit.apiserver.registry.namespace.storage import NamespaceRegistry
from labkit.apiserver.registry.pod.storage import PodRegistry
from labkit.apiserver.registry.service.storage import DEFAULT_SERVICE_CIDR, ServiceRegistry
from labkit.apiserver.storage import Registry

__all__ = ["DEFAULT_SERVICE_CIDR", "REGISTRY_CLASSES"]

#: plural -> the storage of a resource with storage of its own; every other resource gets :class:`Registry`
REGISTRY_CLASSES: dict[str, type[Registry]] = {"pods": PodRegistry, "services": ServiceRegistry,
                                                "namespaces": NamespaceRegistry}
