"""Node IPAM alone (``pkg/controller/nodeipam``, the range allocator): each node gets a pod CIDR of its own."""

from __future__ import annotations

from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.nodeipam import NodeIpamController

from .objects import node

STRATEGIC = "application/strategic-merge-patch+json"


def cidr_patch(name: str, cidr: str) -> tuple:
    return ("patch", "nodes", "", name, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})


def test_new_nodes_get_the_next_free_blocks_of_the_cluster_cidr(harness):
    h = harness(NodeIpamController, [node("a"), node("b"), node("c")])
    h.drain()
    assert h.writes() == [cidr_patch("a", "10.244.0.0/24"), cidr_patch("b", "10.244.1.0/24"),
                          cidr_patch("c", "10.244.2.0/24")]
    assert {a.patch_type for a in h.writes()} == {STRATEGIC}, "as PatchNodeCIDRs sends it"


def test_blocks_in_use_are_learned_from_the_nodes(harness):
    h = harness(NodeIpamController, [node("old", pod_cidr="10.244.0.0/24"), node("new")])
    h.drain()
    assert h.writes() == [cidr_patch("new", "10.244.1.0/24")]


def test_the_search_goes_on_from_the_last_block_given(harness):
    h = harness(NodeIpamController, [node("a")])
    h.drain(watch=True)
    h.run(h.client.delete("/api/v1/nodes/a"))
    h.run(h.client.create("/api/v1/nodes", node("b")))
    h.clear()
    h.drain(watch=True)
    assert h.writes() == [cidr_patch("b", "10.244.1.0/24")], "nextCandidate: not the block just freed"


def test_a_node_is_given_one_range_once_even_if_its_update_arrives_late(harness):
    h = harness(NodeIpamController, [node("a")])
    h.drain()
    h.controller.queue.add("a")  # an event from before the patch reached the cache
    h.drain()
    assert len(h.writes()) == 1


def test_a_full_range_is_reported_on_the_node(harness):
    small = ControllerManagerConfig(cluster_cidr="10.244.0.0/23", node_cidr_mask_size=24)
    h = harness(NodeIpamController, [node("a"), node("b"), node("c")], config=small)
    h.drain()
    assert [a.name for a in h.writes()] == ["a", "b"]
    assert h.events() == ["Normal CIDRNotAvailable Node c status is now: CIDRNotAvailable"]
