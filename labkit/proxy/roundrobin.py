"""Round robin over a service port's endpoints, with optional ClientIP session affinity.

Mirrors ``pkg/proxy/userspace/roundrobin.go`` (``LoadBalancerRR``, removed from Kubernetes in 1.26
with the userspace mode): each new connection takes the next endpoint; with ``sessionAffinity:
ClientIP`` a client keeps its endpoint while it stays, until it has made no connection for
``sessionAffinityConfig.clientIP.timeoutSeconds`` (10800 by default; every connection starts the
wait again, as the userspace proxy's ``lastUsed`` and iptables' ``recent --rcheck --seconds`` do).
When the endpoint set changes the rotation restarts at the first endpoint and clients whose
endpoint went are forgotten. Kubernetes shuffles the new list; labkit keeps it sorted so a learner
sees the same order every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_AFFINITY_TIMEOUT = 10800  # DefaultClientIPServiceAffinitySeconds


class NoEndpoints(LookupError):
    """The service port has no usable endpoint."""


class RoundRobin:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoints: list[str] = []
        self.index = 0
        self.client_ip_affinity = False
        self.affinity_timeout: float = DEFAULT_AFFINITY_TIMEOUT
        self.affinity: dict[str, tuple[str, float]] = {}  # client IP -> (endpoint, when it last connected)
        self.clock = clock

    def update(self, endpoints: list[str], *, client_ip_affinity: bool = False,
               timeout: float = DEFAULT_AFFINITY_TIMEOUT) -> None:
        self.client_ip_affinity = client_ip_affinity
        self.affinity_timeout = timeout
        if endpoints != self.endpoints:
            self.endpoints = list(endpoints)
            self.index = 0
            self.affinity = {c: a for c, a in self.affinity.items() if a[0] in endpoints}
        if not client_ip_affinity:
            self.affinity.clear()

    def next(self, client_ip: str) -> str:
        """The endpoint for a new connection from ``client_ip``."""
        if not self.endpoints:
            raise NoEndpoints
        now = self.clock()
        if self.client_ip_affinity and client_ip in self.affinity:
            endpoint, last_used = self.affinity[client_ip]
            if now - last_used < self.affinity_timeout:
                self.affinity[client_ip] = (endpoint, now)
                return endpoint
        endpoint = self.endpoints[self.index % len(self.endpoints)]
        self.index = (self.index + 1) % len(self.endpoints)
        if self.client_ip_affinity:
            self.affinity[client_ip] = (endpoint, now)
        return endpoint

    def forget(self, client_ip: str) -> None:
        """Drop a client's sticky endpoint (after a failed dial to it)."""
        self.affinity.pop(client_ip, None)
