"""Namespaces: the strategy (``strategy.py``) and the storage that makes a deleted namespace
Terminating and serves ``/finalize`` (``storage.py``), as ``pkg/registry/core/namespace`` splits them.

This package exports the strategy's side only; ``storage`` builds on the generic store, which needs
the list of resources, which needs this package, so it is imported where the REST storage is wired
(``labkit/apiserver/rest.py``).
"""

from labkit.apiserver.registry.namespace.strategy import KUBERNETES_FINALIZER, NAME_LABEL, STRATEGY, NamespaceStrategy

__all__ = ["KUBERNETES_FINALIZER", "NAME_LABEL", "STRATEGY", "NamespaceStrategy"]
