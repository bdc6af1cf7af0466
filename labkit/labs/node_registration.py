"""Exercise and recap of notebook 5.2 (node registration and discovery): a node registered by hand."""

from __future__ import annotations

from typing import Any

from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "5.2", "5.2 · Node registration and discovery", "03-node/5.2-node-registration.ipynb",
    exercises={"register": "node-3 registers"},
    questions=(
        Question("How does a new node join the cluster's list of nodes?",
                 choices=("its kubelet creates a Node object through the API server",
                          "an administrator adds it to the controller manager's configuration",
                          "the scheduler scans the network for kubelets", "etcd discovers it"),
                 answer="its kubelet creates a Node object through the API server",
                 why="Registration is one create request (with the node's own credentials, system:node:<name>); "
                     "everything else learns about the node by watching Nodes."),
        Question("How does the control plane notice that a node went silent?",
                 choices=("the node's Lease in kube-node-lease stops being renewed; after node-monitor-grace-period "
                          "the node lifecycle controller marks it Ready=Unknown",
                          "the API server pings every kubelet", "the scheduler fails to bind pods to it",
                          "kube-proxy reports it"),
                 answer="the node's Lease in kube-node-lease stops being renewed; after node-monitor-grace-period "
                        "the node lifecycle controller marks it Ready=Unknown",
                 why="The kubelet renews its Lease (every 10 s in Kubernetes); the controller checks how long ago it "
                     "heard from each node, and past the grace period (50 s since Kubernetes 1.32, 40 s before) "
                     "sets Unknown and taints the node unreachable."),
        Question("A node has been unreachable for a minute. What happens to its pods, by default?",
                 choices=("nothing yet: each pod tolerates the unreachable taint for 300 s before it is evicted",
                          "they are restarted on the same node", "they were deleted at once when the node went silent",
                          "they keep running and are never moved"),
                 answer="nothing yet: each pod tolerates the unreachable taint for 300 s before it is evicted",
                 why="The DefaultTolerationSeconds admission plugin gives every pod a 300 s toleration for the "
                     "not-ready and unreachable taints; then the taint manager evicts them and their controllers "
                     "replace them elsewhere."),
        Question("Why do the evicted pods of a silent node stay Terminating?",
                 choices=("only the node's kubelet can confirm that their containers stopped, and it is gone",
                          "the scheduler has not found a new node for them yet",
                          "their ReplicaSet keeps them for rollback", "etcd is still replicating the deletion"),
                 answer="only the node's kubelet can confirm that their containers stopped, and it is gone",
                 why="A graceful delete ends when the kubelet reports the containers stopped; until the node comes "
                     "back or its Node object is deleted (then pod GC removes them), they stay Terminating. Their "
                     "replacements run meanwhile."),
    ),
)

NODE, INTERNAL_IP = "node-3", "127.81.0.3"
CAPACITY = {"cpu": "2", "memory": "4Gi", "pods": "20"}


def register(core: Any) -> Exercise:
    """A Node ``node-3`` with an InternalIP and the capacity above; ``core`` is the notebook's ``CoreV1Api``."""
    from kubernetes import client

    def check() -> list[str]:
        try:
            node = core.read_node(NODE)
        except client.ApiException as e:
            if e.status == 404:
                return [f"there is no node named {NODE} yet"]
            raise
        problems = []
        if not [a.address for a in node.status.addresses or [] if a.type == "InternalIP"]:
            problems.append(f"{NODE} has no InternalIP address in status.addresses")
        capacity = node.status.capacity or {}
        problems += [f"{NODE}'s capacity says {k}={capacity.get(k)}, not {v}"
                     for k, v in CAPACITY.items() if capacity.get(k) != v]
        return problems

    return LESSON.exercise(
        "register",
        task=f"""
            Create the Node `{NODE}` with `kubelet_3` (run its coroutine on the cluster with
            `cluster.run(kubelet_3.create(path, body))`, where `path` is
            `labkit.client.resource_path("v1", "nodes")`). Give it an InternalIP `{INTERNAL_IP}` and a
            capacity of `cpu: 2`, `memory: 4Gi`, `pods: 20` in its status.
        """,
        check=check,
        hint=[
            "A Node is an object like any other: its body is apiVersion, kind, metadata (the name) and status.",
            "The addresses go in `status.addresses` as a list of `{\"type\": ..., \"address\": ...}`, the capacity "
            "in `status.capacity` as a map; quantities are strings. `kubectl get node node-1 -o yaml` shows one.",
            f"A body with kind Node, name {NODE}, status.addresses [InternalIP {INTERNAL_IP}] and status.capacity "
            "cpu \"2\", memory \"4Gi\", pods \"20\", created at `resource_path(\"v1\", \"nodes\")` with "
            "`kubelet_3`.",
        ],
        solution="""
            from labkit.client import resource_path
            cluster.run(kubelet_3.create(resource_path("v1", "nodes"), {
                "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-3"},
                "status": {"addresses": [{"type": "InternalIP", "address": "127.81.0.3"}],
                           "capacity": {"cpu": "2", "memory": "4Gi", "pods": "20"}}}))
        """,
    )
