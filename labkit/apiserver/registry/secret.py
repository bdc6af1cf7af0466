"""The Secret strategy (``pkg/registry/core/secret``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class SecretStrategy(Strategy):
    kind = "Secret"


STRATEGY = SecretStrategy()
