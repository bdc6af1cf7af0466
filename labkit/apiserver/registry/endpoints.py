"""The Endpoints strategy (``pkg/registry/core/endpoint``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class EndpointsStrategy(Strategy):
    kind = "Endpoints"


STRATEGY = EndpointsStrategy()
