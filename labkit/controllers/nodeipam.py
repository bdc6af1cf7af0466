"""Node IPAM: give each node a pod CIDR (``pkg/controller/nodeipam``, the ``RangeAllocator``).

Slices ``cluster_cidr`` (``--cluster-cidr``, default 10.244.0.0/16) into blocks of
``node_cidr_mask_size`` (``--node-cidr-mask-size``, /24) and writes the first free block into a new
node's ``spec.podCIDR`` and ``spec.podCIDRs``, searching on from the last block handed out (the
cidrSet's ``nextCandidate``); blocks in use are learned from the nodes themselves and remembered once
handed out, so a restart allocates nothing twice. A full range records ``CIDRNotAvailable`` on the node.
Left out: dual-stack, the cloud allocator, releasing blocks of deleted nodes before a re-list.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from labkit.client import resource_path
from labkit.controllers.base import Controller


class NodeIpamController(Controller):
    name = "node-ipam-controller"
    watches = [("v1", "nodes")]
    workers = 30  # the range allocator's ``cidrUpdateWorkers``: a burst of new nodes is patched in parallel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._used: set[str] | None = None  # the cidrSet: blocks in use or handed out (learned on first sync)
        self._next = 0  # ``nextCandidate``: the search for a free block goes on from the last one given
        self._given: set[str] = set()  # uids of the nodes patched, whose update the cache may not show yet

    async def sync(self, key: str) -> None:
        nodes = self.informer("v1", "nodes")
        if self._used is None:
            self._used = {n["spec"]["podCIDR"] for n in nodes.list() if (n.get("spec") or {}).get("podCIDR")}
        node = nodes.get(key)
        if node is None:
            return
        if cidr := (node.get("spec") or {}).get("podCIDR"):
            self._used.add(cidr)
            return
        uid = node["metadata"].get("uid", "")
        if uid in self._given:  # an event from before our patch: a node gets one range, once
            return
        free = self._allocate()
        if free is None:
            self.recorder.event(node, "Normal", "CIDRNotAvailable",
                                f"Node {key} status is now: CIDRNotAvailable")
            return
        await self.client.patch(resource_path("v1", "nodes", name=key), {"spec": {"podCIDR": free, "podCIDRs": [free]}},
                                patch_type="application/strategic-merge-patch+json")  # PatchNodeCIDRs
        self._given.add(uid)

    def _allocate(self) -> str | None:
        """The next free block after the last one handed out (wrapping around), marked used."""
        assert self._used is not None
        cluster = ipaddress.ip_network(self.config.cluster_cidr)
        prefix = self.config.node_cidr_mask_size
        count = 2 ** (prefix - cluster.prefixlen) if prefix >= cluster.prefixlen else 0
        size = 2 ** (cluster.max_prefixlen - prefix)
        base = int(cluster.network_address)
        for i in range(count):
            n = (self._next + i) % count
            block = str(ipaddress.ip_network((base + n * size, prefix)))
            if block not in self._used:
                self._used.add(block)
                self._next = (n + 1) % count
                return block
        return None
