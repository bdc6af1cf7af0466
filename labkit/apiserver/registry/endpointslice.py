"""The EndpointSlice strategy (``pkg/registry/discovery/endpointslice``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class EndpointSliceStrategy(Strategy):
    kind = "EndpointSlice"


STRATEGY = EndpointSliceStrategy()
