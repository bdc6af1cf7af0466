"""The ServiceAccount strategy (``pkg/registry/core/serviceaccount``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class ServiceAccountStrategy(Strategy):
    kind = "ServiceAccount"


STRATEGY = ServiceAccountStrategy()
