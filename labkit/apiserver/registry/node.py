"""The Node strategy (``pkg/registry/core/node``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class NodeStrategy(Strategy):
    kind = "Node"


STRATEGY = NodeStrategy()
