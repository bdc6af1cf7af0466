"""Round robin over a service port's endpoints, with optional ClientIP session affinity.

Mirrors ``pkg/proxy/userspace/roundrobin.go`` (``LoadBalancerRR``, removed from Kubernetes in 1.26
with the userspace mode): each new connection takes the next endpoint; with ``sessionAffinity:
ClientIP`` a client keeps its endpoint while it stays. When the endpoint set changes the rotation
restarts at the first endpoint. Kubernetes shuffles the new list; labkit keeps it sorted so a
learner sees the same order every time. Left out: the affinity timeout.
"""

from __future__ import annotations


class NoEndpoints(LookupError):
    """The service port has no usable endpoint."""


class RoundRobin:
    def __init__(self) -> None:
        self.endpoints: list[str] = []
        self.index = 0
        self.client_ip_affinity = False
        self.affinity: dict[str, str] = {}  # client IP -> endpoint

    def update(self, endpoints: list[str], *, client_ip_affinity: bool = False) -> None:
        self.client_ip_affinity = client_ip_affinity
        if endpoints != self.endpoints:
            self.endpoints = list(endpoints)
            self.index = 0
            self.affinity = {c: e for c, e in self.affinity.items() if e in endpoints}
        if not client_ip_affinity:
            self.affinity.clear()

    def next(self, client_ip: str) -> str:
        """The endpoint for a new connection from ``client_ip``."""
        if not self.endpoints:
            raise NoEndpoints
        if self.client_ip_affinity and client_ip in self.affinity:
            return self.affinity[client_ip]
        endpoint = self.endpoints[self.index % len(self.endpoints)]
        self.index = (self.index + 1) % len(self.endpoints)
        if self.client_ip_affinity:
            self.affinity[client_ip] = endpoint
        return endpoint

    def forget(self, client_ip: str) -> None:
        """Drop a client's sticky endpoint (after a failed dial to it)."""
        self.affinity.pop(client_ip, None)
