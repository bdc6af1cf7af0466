"""Exercise and recap of notebook 4.3 (the container runtime): a deleted pod gone from every runtime."""

from __future__ import annotations

import time
from typing import Any

from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "4.3", "4.3 · The container runtime", "03-node/4.3-container-runtime.ipynb",
    exercises={"gone": "gone from the runtime"},
    questions=(
        Question("Through which interface does the kubelet ask containerd or CRI-O to run a pod?",
                 choices=("the CRI, a gRPC API (RunPodSandbox, CreateContainer, StartContainer ...)",
                          "the Docker Engine API", "the API server's pods/exec subresource", "OCI's runc command line"),
                 answer="the CRI, a gRPC API (RunPodSandbox, CreateContainer, StartContainer ...)",
                 why="The Container Runtime Interface is the kubelet's only way to a runtime; Docker Engine needed "
                     "the dockershim adapter, removed in Kubernetes 1.24. runc is what the runtime itself calls."),
        Question("What is a pod sandbox?",
                 choices=("the pod's shared environment, above all its network namespace and IP, made before its "
                          "containers", "a container that runs the application in a restricted mode",
                          "a copy of the pod kept in case it crashes", "the pod's storage volume"),
                 answer="the pod's shared environment, above all its network namespace and IP, made before its "
                        "containers",
                 why="RunPodSandbox comes first: the runtime makes the namespaces (held by a pause container on "
                     "containerd and Docker) and the network plugin gives it the pod's IP; containers join it."),
        Question("A container of a pod with restartPolicy Always is killed behind the kubelet's back. What happens?",
                 choices=("the kubelet's relist (PLEG) notices, and it starts the container again, counting a restart",
                          "the pod is deleted and its ReplicaSet makes a new one",
                          "nothing until someone deletes the pod", "the scheduler moves the pod to another node"),
                 answer="the kubelet's relist (PLEG) notices, and it starts the container again, counting a restart",
                 why="Restarting a container is the kubelet's job, on the same node, in the same pod (restartCount "
                     "grows; repeated crashes wait in CrashLoopBackOff). Pods are replaced only when deleted."),
    ),
)

#: how long the check waits for the kubelet to clear the runtime once the pod is gone from the API
CLEANUP_GRACE = 10.0


def gone(cluster: Cluster, core: Any) -> Exercise:
    """Pod ``nginx`` deleted from the API and no container or sandbox of it in any node's runtime;
    ``core`` is the notebook's ``CoreV1Api``."""

    def leftovers() -> list[str]:
        problems = []
        for name, kubelet in sorted(cluster.kubelets.items()):
            left = [c.id[:12] for c in cluster.run(kubelet.runtime.list_containers())
                    if c.labels.get("io.kubernetes.pod.name") == "nginx"]
            sandboxes = [s.id[:12] for s in cluster.run(kubelet.runtime.list_pod_sandboxes()) if s.name == "nginx"]
            if left or sandboxes:
                problems.append(f"the runtime of {name} still holds containers {left} and sandboxes {sandboxes} "
                                "of nginx")
        return problems

    def check() -> list[str]:
        if any(p.metadata.name == "nginx" for p in core.list_namespaced_pod("default").items):
            return ["the pod nginx still exists in the API (delete it, then wait until it is gone)", *leftovers()]
        deadline = time.monotonic() + CLEANUP_GRACE  # the kubelet cleans up a moment after the pod is gone
        while (problems := leftovers()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return problems

    return LESSON.exercise(
        "gone",
        task="""
            Delete the pod `nginx` and wait until it is gone. Then no runtime of any node holds a
            container or sandbox of it.
        """,
        check=check,
        hint=[
            "You never talk to the runtime yourself: delete the pod through the API server and let its kubelet "
            "clean up.",
            "`core.delete_namespaced_pod`, then `kubectl wait --for=delete`; the check gives the kubelet a few "
            "seconds to remove the containers and the sandbox after the pod object is gone.",
            "Delete pod `nginx` in namespace `default`, then wait until the API server no longer has it.",
        ],
        solution="""
            import subprocess
            core.delete_namespaced_pod("nginx", "default")
            subprocess.run(["kubectl", "wait", "--for=delete", "pod/nginx", "--timeout=60s"], capture_output=True)
        """,
    )
