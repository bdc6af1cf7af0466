"""The node heartbeat: a Lease in ``kube-node-lease`` renewed every few seconds.

Mirrors ``k8s.io/component-helpers/apimachinery/lease`` (the kubelet's ``nodelease`` controller):
the Lease is named after the node, held by it (``holderIdentity``), owned by the Node object (so it
is garbage-collected with it), and renewed every ``renew_interval`` seconds (kube: a quarter of
``leaseDurationSeconds``, 10 s of 40 s). The node lifecycle controller reads ``renewTime`` to decide
whether a node is alive. Left out: the exponential back-off on repeated failures (labkit retries at
the next renewal).
"""

from __future__ import annotations

import asyncio
import logging

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import micro_time
from labkit.client import APIStatusError, Client, resource_path
from labkit.component import RepeatedFailure

NAMESPACE = "kube-node-lease"
log = logging.getLogger(__name__)


class NodeLease:
    """Keeps one node's Lease fresh; :meth:`renew` once, :meth:`run` forever."""

    def __init__(self, client: Client, *, node: str, node_uid: str = "", duration: int = 40,
                 renew_interval: float = 10.0) -> None:
        self.client = client
        self.node = node
        self.node_uid = node_uid
        self.duration = duration
        self.renew_interval = renew_interval
        self.lease: Obj | None = None

    async def renew(self) -> Obj:
        path = resource_path("coordination.k8s.io/v1", "leases", namespace=NAMESPACE, name=self.node)
        if self.lease is None:
            try:
                self.lease = await self.client.get(path)
            except APIStatusError as e:
                if e.code != 404:
                    raise
                self.lease = await self.client.create(
                    resource_path("coordination.k8s.io/v1", "leases", namespace=NAMESPACE), self._new())
                return self.lease
        lease = {**self.lease, "spec": {**self.lease.get("spec", {}), "holderIdentity": self.node,
                                        "leaseDurationSeconds": self.duration, "renewTime": micro_time()}}
        try:
            self.lease = await self.client.update(path, lease)
        except APIStatusError as e:
            self.lease = None  # conflict or gone: read (or create) it again next time
            if e.code not in (404, 409):
                raise
            return await self.renew()
        return self.lease

    def _new(self) -> Obj:
        owner = [{"apiVersion": "v1", "kind": "Node", "name": self.node, "uid": self.node_uid}] if self.node_uid else []
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node, "namespace": NAMESPACE,
                             **({"ownerReferences": owner} if owner else {})},
                "spec": {"holderIdentity": self.node, "leaseDurationSeconds": self.duration, "renewTime": micro_time()}}

    async def run(self) -> None:
        """Renew every ``renew_interval``, the first time one interval after the :meth:`renew` at start."""
        failures = RepeatedFailure(log, f"node {self.node}: failed to renew lease")
        while True:
            await asyncio.sleep(self.renew_interval)
            try:
                await self.renew()
            except (APIStatusError, OSError) as e:
                failures.failed(e)
            else:
                failures.succeeded()
