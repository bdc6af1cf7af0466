"""The Pod strategy (``pkg/registry/core/pod``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class PodStrategy(Strategy):
    kind = "Pod"


STRATEGY = PodStrategy()
