"""Leader election on a ``coordination.k8s.io/v1`` Lease (``k8s.io/client-go/tools/leaderelection``).

Candidates race to write their identity into one Lease. The holder renews ``renewTime`` every
``retry_period``; a candidate takes the Lease over only when it has seen the same record unchanged
for ``lease_duration`` (client-go trusts its own clock's ``observedTime``, never the holder's
timestamps). A leader that cannot renew within ``renew_deadline`` stops leading. On a clean stop
the leader releases the Lease (``ReleaseOnCancel``) so a successor need not wait. Defaults are
kube's (:class:`LeaderElectionConfig`). Left out: jitter, the ConfigMap/Endpoints locks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import micro_time
from labkit.client import APIStatusError, Client, resource_path

log = logging.getLogger(__name__)


@dataclasses.dataclass
class LeaderElectionConfig:
    """``LeaderElectionConfiguration`` (component-base), with kube's defaults: ``--leader-elect``,
    ``--leader-elect-lease-duration`` 15s, ``--leader-elect-renew-deadline`` 10s,
    ``--leader-elect-retry-period`` 2s. A lesson that wants a takeover within seconds shortens them
    and says so."""

    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def default_identity() -> str:
    """``hostname_<uuid>``, as kube-controller-manager and kube-scheduler name themselves."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    """``LeaderElector``: ``await run(on_started_leading, on_stopped_leading)`` in a task."""

    def __init__(self, client: Client, *, name: str, namespace: str = "kube-system", identity: str = "",
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.name, self.namespace = name, namespace
        self.identity = identity or default_identity()
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self.path = resource_path("coordination.k8s.io/v1", "leases", namespace=namespace, name=name)
        self._observed: Obj = {}  # the Lease spec last seen
        self._observed_at = 0.0  # when it last changed, by our clock
        self._leading = False

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def run(self, on_started_leading: Callable[[], Awaitable[None]],
                  on_stopped_leading: Callable[[], Awaitable[None]]) -> None:
        """Acquire, lead while renewing, and on losing the Lease start over as a candidate."""
        try:
            while True:
                await self._acquire()
                self._leading = True
                log.info("%s: %s became leader", self.name, self.identity)
                await on_started_leading()
                await self._renew()
                self._leading = False
                log.info("%s: %s lost the lease", self.name, self.identity)
                await on_stopped_leading()
        finally:
            if self._leading:
                self._leading = False
                await asyncio.shield(self._release())
                await on_stopped_leading()

    async def _acquire(self) -> None:
        """Try every retry period until the Lease is ours; an error (no API server answers, etcd
        without a leader) is one more failed try, as client-go logs it and tries again."""
        while True:
            try:
                if await self._try_acquire_or_renew():
                    return
            except (APIStatusError, OSError, aiohttp.ClientError) as e:  # TimeoutError is an OSError
                log.debug("%s: acquire failed: %s", self.name, e)
            await asyncio.sleep(self.retry_period)

    async def _renew(self) -> None:
        """Renew every retry period; return once a renewal has not succeeded within the deadline."""
        last_ok = time.monotonic()
        while time.monotonic() - last_ok < self.renew_deadline:
            await asyncio.sleep(self.retry_period)
            try:
                if await self._try_acquire_or_renew():
                    last_ok = time.monotonic()
                elif self._observed.get("holderIdentity") != self.identity:
                    return  # someone else holds it now
            except (APIStatusError, OSError, aiohttp.ClientError) as e:  # TimeoutError is an OSError
                log.debug("%s: renew failed: %s", self.name, e)

    async def _try_acquire_or_renew(self) -> bool:
        """``tryAcquireOrRenew``: one read and, when allowed, one write of the Lease."""
        now = micro_time()
        try:
            lease = await self.client.get(self.path)
        except APIStatusError as e:
            if e.code != 404:
                raise
            spec: Obj = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                    "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
            try:
                await self.client.create(resource_path("coordination.k8s.io/v1", "leases",
                                                       namespace=self.namespace), body)
            except APIStatusError as e2:
                if e2.code == 409:
                    return False
                raise
            self._observe(spec)
            return True
        spec = lease.get("spec") or {}
        if spec != self._observed:
            self._observe(spec)
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds") or self.lease_duration
        if holder and holder != self.identity and time.monotonic() < self._observed_at + duration:
            return False  # held by someone else and not expired
        new = dict(spec)
        if holder != self.identity:
            new["acquireTime"] = now
            new["leaseTransitions"] = spec.get("leaseTransitions", 0) + 1
        new.update(holderIdentity=self.identity, leaseDurationSeconds=int(self.lease_duration), renewTime=now)
        try:
            await self.client.update(self.path, {**lease, "spec": new})  # resourceVersion guards the race
        except APIStatusError as e:
            if e.code == 409:
                return False
            raise
        self._observe(new)
        return True

    def _observe(self, spec: Obj) -> None:
        self._observed = dict(spec)
        self._observed_at = time.monotonic()

    async def _release(self) -> None:
        """Clear the holder so the next candidate acquires at once (``release``)."""
        try:
            lease = await self.client.get(self.path)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            now = micro_time()
            spec = {"leaseDurationSeconds": 1, "acquireTime": now, "renewTime": now,
                    "leaseTransitions": lease["spec"].get("leaseTransitions", 0)}
            await self.client.update(self.path, {**lease, "spec": spec})
        except (APIStatusError, OSError) as e:
            log.debug("%s: release failed: %s", self.name, e)
