"""The ReplicaSet strategy (``pkg/registry/apps/replicaset``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class ReplicaSetStrategy(Strategy):
    kind = "ReplicaSet"


STRATEGY = ReplicaSetStrategy()
