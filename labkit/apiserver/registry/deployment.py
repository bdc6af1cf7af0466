"""The Deployment strategy (``pkg/registry/apps/deployment``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class DeploymentStrategy(Strategy):
    kind = "Deployment"


STRATEGY = DeploymentStrategy()
