"""The Service strategy (``pkg/registry/core/service``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class ServiceStrategy(Strategy):
    kind = "Service"


STRATEGY = ServiceStrategy()
