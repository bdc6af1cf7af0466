"""The ConfigMap strategy (``pkg/registry/core/configmap``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class ConfigMapStrategy(Strategy):
    kind = "ConfigMap"


STRATEGY = ConfigMapStrategy()
