"""ServiceAccounts: the strategy (``strategy.py``) and the ``token`` subresource (``storage.py``), as
``pkg/registry/core/serviceaccount`` splits them.

This package exports the strategy's side only; ``storage`` builds on the generic store, which needs
the list of resources, which needs this package, so it is imported where the REST storage is wired
(``labkit/apiserver/rest.py``).
"""

from labkit.apiserver.registry.serviceaccount.strategy import STRATEGY, ServiceAccountStrategy

__all__ = ["STRATEGY", "ServiceAccountStrategy"]
