"""The Namespace strategy (``pkg/registry/core/namespace``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class NamespaceStrategy(Strategy):
    kind = "Namespace"


STRATEGY = NamespaceStrategy()
