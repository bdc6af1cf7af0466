"""Services: the strategy (``strategy.py``) and the storage that allocates ClusterIPs and NodePorts
(``storage.py``), as ``pkg/registry/core/service`` splits them.

This package exports the strategy's side only; ``storage`` builds on the generic store, which needs
the list of resources, which needs this package, so it is imported where the REST storage is wired
(``labkit/apiserver/rest.py``).
"""

from labkit.apiserver.registry.service.strategy import (
    STRATEGY,
    ServiceStrategy,
    default_service,
    external_ip_cell,
    keep_allocated,
    port_cell,
    validate_service,
)

__all__ = ["STRATEGY", "ServiceStrategy", "default_service", "external_ip_cell", "keep_allocated", "port_cell",
           "validate_service"]
