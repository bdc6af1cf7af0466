"""Exercise and recap of notebook 5.3 (scheduling and running): a pod that fits nowhere, made to fit."""

from __future__ import annotations

from typing import Any

from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "5.3", "5.3 · Scheduling and running", "03-node/5.3-scheduling-and-running.ipynb",
    exercises={"fit": "make big fit"},
    questions=(
        Question("What does the scheduler compare a pod's CPU request with?",
                 choices=("the node's allocatable CPU minus the requests of the pods already bound to it",
                          "the CPU the node is using right now", "the node's total CPU, ignoring other pods",
                          "the pod's CPU limit"),
                 answer="the node's allocatable CPU minus the requests of the pods already bound to it",
                 why="Scheduling is bookkeeping over requests (NodeResourcesFit): real usage plays no part, which is "
                     "why requests should match what a container needs."),
        Question("A pod asks for more CPU than any node has. What happens?",
                 choices=("it stays Pending with PodScheduled=False, reason Unschedulable, and a FailedScheduling "
                          "event", "the API server refuses to create it", "it is bound to the biggest node and "
                          "throttled", "the kubelet starts it with less CPU"),
                 answer="it stays Pending with PodScheduled=False, reason Unschedulable, and a FailedScheduling "
                        "event",
                 why="The API server stores any valid pod; only the scheduler judges fit, and it says why in the "
                     "pod's condition and an event (kubectl describe pod shows both). It retries when the cluster "
                     "changes."),
        Question("In what order do the components act on a new pod behind a Service?",
                 choices=("scheduler binds it, kubelet runs it and reports Ready, then the EndpointSlice lists it "
                          "ready and kube-proxy sends traffic", "kube-proxy first, then the scheduler, then the "
                          "kubelet", "the kubelet starts it, then the scheduler approves the node",
                          "all at once, from the API server's create"),
                 answer="scheduler binds it, kubelet runs it and reports Ready, then the EndpointSlice lists it ready "
                        "and kube-proxy sends traffic",
                 why="Each step reacts to the previous one's write through the API server: nodeName, then Ready, "
                     "then the EndpointSlice."),
    ),
)


def fit(core: Any) -> Exercise:
    """Pod ``big`` recreated with a request of exactly 1 CPU, bound and running; ``core`` is the notebook's
    ``CoreV1Api``."""
    from kubernetes import client

    def check() -> list[str]:
        try:
            pod = core.read_namespaced_pod("big", "default")
        except client.ApiException as e:
            if e.status == 404:
                return ["there is no pod named 'big' (create it again with a smaller request)"]
            raise
        requests = pod.spec.containers[0].resources.requests or {}
        problems = []
        if requests.get("cpu") != "1":
            problems.append(f"big requests cpu={requests.get('cpu')!r}; it should request exactly 1 CPU (\"1\")")
        if not pod.spec.node_name:
            problems.append("big is not scheduled yet")
        elif pod.status.phase != "Running":
            problems.append(f"big is on {pod.spec.node_name} but {pod.status.phase}, not Running yet "
                            "(check again in a moment)")
        return problems

    return LESSON.exercise(
        "fit",
        task="""
            The pod `big` cannot be scheduled. Make it run with a request of 1 CPU instead of 3.
            An ordinary update cannot change a pod's requests (Kubernetes 1.33 and later can resize a
            *running* pod's containers through the `resize` subresource, which labkit does not have):
            delete it and create it again.
        """,
        check=check,
        hint=[
            "The scheduler will bind it as soon as a node has 1 CPU unrequested: the work is replacing the pod.",
            "`core.delete_namespaced_pod`, `kubectl wait --for=delete pod/big`, then the create call from the cell "
            "above with a smaller request; `kubectl wait --for=condition=Ready` waits until it runs.",
            "Delete pod `big`, wait until it is gone, create it again identical but with `requests` `cpu: \"1\"`, "
            "and wait for it to be Ready.",
        ],
        solution="""
            import subprocess
            core.delete_namespaced_pod("big", "default")
            subprocess.run(["kubectl", "wait", "--for=delete", "pod/big", "--timeout=60s"], capture_output=True)
            core.create_namespaced_pod("default", {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"},
                "spec": {"containers": [{"name": "hello", "image": "labkit/hello:1",
                                         "resources": {"requests": {"cpu": "1"}}}]}})
            subprocess.run(["kubectl", "wait", "--for=condition=Ready", "pod/big", "--timeout=60s"],
                           check=True, capture_output=True)
        """,
    )
