"""The PriorityClass strategy (``pkg/registry/scheduling/priorityclass``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class PriorityClassStrategy(Strategy):
    kind = "PriorityClass"


STRATEGY = PriorityClassStrategy()
