"""The scheduler's cache: every node with the pods assigned (or assumed) to it.

Mirrors ``pkg/scheduler/backend/cache``: fed by the node and pod informers, it keeps a
:class:`~labkit.scheduler.types.NodeInfo` per node. When a cycle picks a node, the pod is *assumed*
there at once, so the next cycle already counts its resources while the binding is still in
flight; the pod's own update from the informer confirms it, a failed binding forgets it. Image
states (``status.images``) are shared between nodes to count on how many nodes each image is.
Pods that finished (``Succeeded``/``Failed``) no longer count. Left out: the assumed-pod expiry
timer (labkit's bindings either succeed or fail, they never silently vanish), incremental snapshots.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.scheduler.types import ImageState, NodeInfo, PodInfo


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class Cache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.node_list: list[NodeInfo] = []  # nodes that exist, in the order they were added
        self.pod_nodes: dict[str, str] = {}  # pod key -> node name, assigned or assumed
        self.assumed: set[str] = set()
        self.image_nodes: dict[str, tuple[ImageState, set[str]]] = {}

    # --- nodes -------------------------------------------------------------------------------------

    def add_node(self, node: Obj) -> NodeInfo:
        name = node["metadata"]["name"]
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo()
        existed = bool(info.node)
        self._forget_images(info)
        info.set_node(node)
        self._add_images(info, node)
        if not existed:
            self.node_list.append(info)
        return info

    update_node = add_node

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        self._forget_images(info)
        self.node_list = [n for n in self.node_list if n.name != name]
        if info.pods:  # pods still on it: keep their accounting until they go (as kube does)
            info.node = {}
        else:
            del self.nodes[name]

    def _add_images(self, info: NodeInfo, node: Obj) -> None:
        for image in (node.get("status") or {}).get("images") or []:
            for name in image.get("names") or []:
                state, holders = self.image_nodes.setdefault(name, (ImageState(image.get("sizeBytes", 0)), set()))
                holders.add(info.name)
                state.num_nodes = len(holders)
                info.images[name] = state

    def _forget_images(self, info: NodeInfo) -> None:
        for name in info.images:
            state, holders = self.image_nodes[name]
            holders.discard(info.name)
            state.num_nodes = len(holders)
            if not holders:
                del self.image_nodes[name]
        info.images = {}

    # --- pods --------------------------------------------------------------------------------------

    def add_pod(self, pod: Obj) -> None:
        """An assigned pod from the informer (confirms an assumed one)."""
        key = f"{pod['metadata'].get('namespace', '')}/{pod['metadata']['name']}"
        node_name = pod["spec"]["nodeName"]
        if key in self.pod_nodes:
            self.remove_pod(key)
        if is_terminal(pod):
            return
        info = self.nodes.get(node_name)
        if info is None:
            info = self.nodes[node_name] = NodeInfo()
            info.name = node_name
        info.add_pod(PodInfo(pod))
        self.pod_nodes[key] = node_name

    def remove_pod(self, key: str) -> None:
        node_name = self.pod_nodes.pop(key, None)
        self.assumed.discard(key)
        if node_name is None:
            return
        info = self.nodes.get(node_name)
        if info is not None:
            info.remove_pod(key)
            if not info.node and not info.pods:
                del self.nodes[node_name]

    def assume_pod(self, pod: PodInfo, node_name: str) -> None:
        self.nodes[node_name].add_pod(pod)
        self.pod_nodes[pod.key] = node_name
        self.assumed.add(pod.key)

    def forget_pod(self, key: str) -> None:
        if key in self.assumed:
            self.remove_pod(key)
