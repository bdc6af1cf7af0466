"""ImageLocality, after kube's ``imagelocality/image_locality_test.go`` (``TestImageLocalityPriority``,
``TestNormalizedImageName``): each image the node holds counts its size times the share of nodes
holding it, summed over the pod's containers and init containers, clamped to 23 MB .. 1000 MB per
container and mapped onto 0..100."""

from __future__ import annotations

import hashlib

import pytest

from labkit.scheduler.plugins import ImageLocality
from labkit.scheduler.types import normalized_image_name

from .helpers import MB, node_obj, nodes_in_cache, pod, scores

NODE_40_300_2000 = [(["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40 * MB),
                    (["gcr.io/300:latest", "gcr.io/300:v1"], 300 * MB), (["gcr.io/2000:latest"], 2000 * MB)]
NODE_250_10 = [(["gcr.io/250:latest"], 250 * MB), (["gcr.io/10:latest", "gcr.io/10:v1"], 10 * MB)]
NODE_600_40_900 = [(["gcr.io/600:latest"], 600 * MB), (["gcr.io/40:latest"], 40 * MB), (["gcr.io/900:latest"], 900 * MB)]
NODE_300_600_900 = [(["gcr.io/300:latest"], 300 * MB), (["gcr.io/600:latest"], 600 * MB),
                    (["gcr.io/900:latest"], 900 * MB)]
NODE_4000_30 = [(["gcr.io/4000:latest"], 4000 * MB), (["gcr.io/30:latest"], 30 * MB)]
NODE_20_30_40 = [(["gcr.io/20:latest"], 20 * MB), (["gcr.io/30:latest"], 30 * MB), (["gcr.io/40:latest"], 40 * MB)]
NO_IMAGES: list[tuple[list[str], int]] = []

CASES = [
    # name, containers' images, init containers' images, each node's images, scores
    ("two images spread on two nodes, prefer the larger image one",  # 100 * (250M/2 - 23M) / (1000M * 2 - 23M)
     ["gcr.io/40", "gcr.io/250"], [], [NODE_40_300_2000, NODE_250_10], [0, 5]),
    ("two images on one node, prefer this node",  # 100 * ((40M + 300M)/2 - 23M) / (1000M * 2 - 23M)
     ["gcr.io/40", "gcr.io/300"], [], [NODE_40_300_2000, NODE_250_10], [7, 0]),
    ("if exceed limit, use limit",  # 4000M/2 >= 1000M * 2
     ["gcr.io/10", "gcr.io/4000"], [], [NODE_4000_30, NODE_250_10], [100, 0]),
    ("if exceed limit, use limit (with a node that has no images)",  # 100 * (4000M/3 - 23M) / (1000M * 2 - 23M)
     ["gcr.io/10", "gcr.io/4000"], [], [NODE_4000_30, NODE_250_10, NO_IMAGES], [66, 0, 0]),
    ("pod with multiple large images, node2 is preferred",
     ["gcr.io/300", "gcr.io/600", "gcr.io/900"], [], [NODE_600_40_900, NODE_300_600_900, NO_IMAGES], [32, 36, 0]),
    ("pod with multiple small images",  # 100 * (30M + 40M/2 - 23M) / (1000M * 2 - 23M)
     ["gcr.io/30", "gcr.io/40"], [], [NODE_20_30_40, NODE_4000_30], [1, 0]),
    ("include init containers: two images spread on two nodes, prefer the larger image one",
     ["gcr.io/30"], ["gcr.io/300"], [NODE_40_300_2000, NODE_20_30_40], [6, 0]),
    ("a tag other than latest is another image", ["gcr.io/250:v2"], [], [NODE_250_10, NO_IMAGES], [0, 0]),
]


@pytest.mark.parametrize("images,init_images,node_images,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_score(images: list[str], init_images: list[str], node_images: list[list[tuple[list[str], int]]],
               want: list[int]) -> None:
    nodes = nodes_in_cache(*[node_obj(f"node{i + 1}", images=imgs) for i, imgs in enumerate(node_images)])
    assert scores(ImageLocality(), pod(images=images, init_images=init_images), nodes) == want


def test_share_counts_every_node_not_only_the_feasible() -> None:
    """The spread factor divides by all the nodes in the cache (``SnapshotSharedLister``)."""
    nodes = nodes_in_cache(node_obj("a", images=NODE_250_10), node_obj("b"), node_obj("c"), node_obj("d"))
    # 250M on 1 of 4 nodes: 62.5M -> 100 * (62.5M - 23M) / (1000M - 23M) = 4; counted over 2 nodes it would be 10
    assert scores(ImageLocality(), pod(images=["gcr.io/250"]), nodes[:2], all_nodes=nodes) == [4, 0]


DIGEST = "sha256:" + hashlib.sha256(b"root").hexdigest()
NAMES = [
    ("add :latest postfix 1", "root", "root:latest"),
    ("add :latest postfix 2", "gcr.io:5000/root", "gcr.io:5000/root:latest"),
    ("keep it as is 1", "root:tag", "root:tag"),
    ("keep it as is 2", "root@" + DIGEST, "root@" + DIGEST),
]


@pytest.mark.parametrize("image,want", [c[1:] for c in NAMES], ids=[c[0] for c in NAMES])
def test_normalized_image_name(image: str, want: str) -> None:
    assert normalized_image_name(image) == want
