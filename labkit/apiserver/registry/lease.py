"""The Lease strategy (``pkg/registry/coordination/lease``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class LeaseStrategy(Strategy):
    kind = "Lease"


STRATEGY = LeaseStrategy()
