"""RBAC object strategies (``pkg/registry/rbac``): stored only; the authorizer comes later."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class RBACStrategy(Strategy):
    name_rule = "path"

    def __init__(self, kind: str) -> None:
        self.kind = kind


ROLE = RBACStrategy("Role")
ROLE_BINDING = RBACStrategy("RoleBinding")
CLUSTER_ROLE = RBACStrategy("ClusterRole")
CLUSTER_ROLE_BINDING = RBACStrategy("ClusterRoleBinding")
