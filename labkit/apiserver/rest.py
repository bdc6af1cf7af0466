"""Which REST storage serves each resource and subresource.

Mirrors ``pkg/registry/<group>/rest/storage_<group>.go`` (``storage_core.go``, ``storage_apps.go``
...), where kube-apiserver builds each resource's storage and maps ``pods/binding``,
``deployments/scale`` ... to what serves them. Most resources are served by the generic store
(``labkit/apiserver/storage.py``) with their strategy; a resource with storage of its own has it
beside its strategy, in ``labkit/apiserver/registry/<resource>/storage.py`` (and the ``/scale`` that
Deployments and ReplicaSets share in ``registry/scale.py``).

``server.py`` routes the two that need the server itself: ``serviceaccounts/token`` (its PKI issues
the token) and the self reviews (its authorizer answers them); the streaming pod subresources are
``labkit/apiserver/streaming``.
"""

from __future__ import annotations

from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.apiserver import handlers
from labkit.apiserver.handlers import Call
from labkit.apiserver.registry import scale
from labkit.apiserver.registry.certificatesigningrequest.storage import CSRRegistry
from labkit.apiserver.registry.namespace.storage import NamespaceRegistry, finalize
from labkit.apiserver.registry.pod.storage import PodRegistry, binding, eviction
from labkit.apiserver.registry.service.storage import DEFAULT_SERVICE_CIDR, ServiceRegistry
from labkit.apiserver.storage import Registry

__all__ = ["DEFAULT_SERVICE_CIDR", "REGISTRY_CLASSES", "SUBRESOURCE_HANDLERS"]

#: plural -> the storage of a resource with storage of its own; every other resource gets :class:`Registry`
REGISTRY_CLASSES: dict[str, type[Registry]] = {"pods": PodRegistry, "services": ServiceRegistry,
                                                "namespaces": NamespaceRegistry,
                                                "certificatesigningrequests": CSRRegistry}

#: (HTTP method, subresource) -> its handler, for the subresources with storage of their own
SUBRESOURCE_HANDLERS: dict[tuple[str, str], Callable[[Call], tuple[int, Obj]]] = {
    ("POST", "binding"): binding,
    ("POST", "eviction"): eviction,
    ("GET", "scale"): scale.get_scale,
    ("PUT", "scale"): scale.write_scale, ("PATCH", "scale"): scale.write_scale,
    ("PUT", "finalize"): finalize,
    ("GET", "approval"): handlers.get,
    ("PUT", "approval"): handlers.update, ("PATCH", "approval"): handlers.patch_object,
}
