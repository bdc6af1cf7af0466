"""Node IPAM: give each node a pod CIDR (``pkg/controller/nodeipam``, the ``RangeAllocator``).

Slices ``cluster_cidr`` (``--cluster-cidr``, default 10.244.0.0/16) into blocks of
``node_cidr_mask_size`` (``--node-cidr-mask-size``, /24) and writes the first free block into a new
node's ``spec.podCIDR`` and ``spec.podCIDRs``; blocks in use are learned from the nodes themselves (and remembered once handed out),
so a restart allocates nothing twice. A full range records ``CIDRNotAvailable`` on the node.
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._allocated: set[str] = set()  # the cidrSet: blocks handed out that the cache may not show yet

    async def sync(self, key: str) -> None:
        node = self.informer("v1", "nodes").get(key)
        if node is None or (node.get("spec") or {}).get("podCIDR"):
            return
        used = self._allocated | {n["spec"]["podCIDR"] for n in self.informer("v1", "nodes").list() if (n.get("spec") or {}).get("podCIDR")}
        cluster = ipaddress.ip_network(self.config.cluster_cidr)
        free = next((str(net) for net in cluster.subnets(new_prefix=self.config.node_cidr_mask_size)
                     if str(net) not in used), None)
        if free is None:
            self.recorder.event(node, "Normal", "CIDRNotAvailable",
                                f"Node {key} status is now: CIDRNotAvailable")
            return
        self._allocated.add(free)
        await self.client.patch(resource_path("v1", "nodes", name=key), {"spec": {"podCIDR": free, "podCIDRs": [free]}})
