"""ImageLocality: prefer nodes that already hold the pod's container images (from ``status.images``).

Mirrors ``pkg/scheduler/framework/plugins/imagelocality``: each image present on the node counts
its size scaled by the share of nodes that have it (so an image everywhere does not pull pods to
one node); the sum is clamped between 23 MB and 1000 MB per container and mapped onto 0..100. The
share counts all nodes in the cache, not only the feasible ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from labkit.scheduler.framework import MAX_NODE_SCORE, CycleState
from labkit.scheduler.interface import PreScorePlugin, ScorePlugin
from labkit.scheduler.types import NodeInfo, PodInfo, normalized_image_name

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


class ImageLocality(PreScorePlugin, ScorePlugin):
    name = "ImageLocality"

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> None:
        containers = (pod.spec.get("initContainers") or []) + (pod.spec.get("containers") or [])
        state.write(self.name, ([normalized_image_name(c.get("image", "")) for c in containers], len(state.all_nodes)))

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        images, total_nodes = state.read(self.name)
        if not node.images:
            return 0
        total = 0
        for image in images:
            summary = node.images.get(image)
            if summary is not None:
                total += int(summary.size * (summary.num_nodes / max(total_nodes, 1)))
        max_threshold = MAX_CONTAINER_THRESHOLD * max(len(images), 1)
        total = min(max(total, MIN_THRESHOLD), max_threshold)
        return MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)
