"""Exercise and recap of notebook 4.1 (the kubelet): a pod whose container greets in its log."""

from __future__ import annotations

from typing import Any

from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "4.1", "4.1 · The kubelet", "03-node/4.1-kubelet.ipynb",
    exercises={"greeter": "a pod that greets"},
    questions=(
        Question("Who writes a pod's phase `Running` and its `Ready` condition?",
                 choices=("the scheduler, when it binds the pod", "the kubelet of the pod's node",
                          "the API server, when the container starts", "the controller manager"),
                 answer="the kubelet of the pod's node",
                 why="The kubelet runs the containers, so only it knows their state: it writes the pod's status "
                     "(phase, conditions, container states) through the API server. The scheduler only binds."),
        Question("What is the first watch event a client sees for a newly created pod?",
                 choices=("ADDED, Pending, with no node yet", "ADDED, with PodScheduled=True",
                          "MODIFIED, Running", "ADDED, Running"),
                 answer="ADDED, Pending, with no node yet",
                 why="The API server stores the pod as sent, phase Pending, with no spec.nodeName. The scheduler's "
                     "binding is the first MODIFIED (nodeName set, PodScheduled=True); the kubelet's rows follow."),
        Question("How does a kubelet learn that a pod should run on its node?",
                 choices=("it watches the API server for pods whose spec.nodeName is its node",
                          "the scheduler connects to the kubelet and sends it the pod",
                          "it reads the pod from etcd", "the controller manager calls it"),
                 answer="it watches the API server for pods whose spec.nodeName is its node",
                 why="Nobody pushes work to a kubelet: it lists and watches pods with the field selector "
                     "spec.nodeName=<its node> (plus static pods from files). Only the API server talks to etcd."),
        Question("What does `kubectl logs` talk to, in the end?",
                 choices=("the API server, which forwards to the kubelet of the pod's node, which asks the runtime",
                          "etcd, where the logs are stored", "the container directly, by its pod IP",
                          "the scheduler"),
                 answer="the API server, which forwards to the kubelet of the pod's node, which asks the runtime",
                 why="Logs and exec are not stored objects: the API server proxies the request to the kubelet's own "
                     "API (port 10250), and the kubelet reads the container's log through the runtime."),
    ),
)

GREETING = "hello from greeter"


def greeter(core: Any) -> Exercise:
    """A pod ``greeter`` (busybox) that runs and whose log says ``hello from greeter``; ``core`` is the
    notebook's ``kubernetes.client.CoreV1Api``."""
    from kubernetes import client

    def check() -> list[str]:
        try:
            pod = core.read_namespaced_pod("greeter", "default")
        except client.ApiException as e:
            if e.status == 404:
                return ["there is no pod named 'greeter' in namespace 'default' yet"]
            raise
        problems = []
        image = pod.spec.containers[0].image
        if not image.split(":")[0].endswith("busybox"):
            problems.append(f"its container runs the image {image!r}; use busybox")
        if pod.status.phase != "Running":
            return [*problems, f"it is {pod.status.phase}, not Running (if it just started, check again in a "
                               "moment; if it is Succeeded, its command ended: keep it alive with a long sleep)"]
        log = core.read_namespaced_pod_log("greeter", "default")
        if GREETING not in log:
            problems.append(f"its log is {log!r}; it should contain the line {GREETING!r}")
        return problems

    return LESSON.exercise(
        "greeter",
        task="""
            Create a pod named `greeter` in namespace `default` with one container running the image
            `busybox`. Its command prints `hello from ` followed by the pod's host name (the variable
            `$HOSTNAME`, which is the pod's name) and then sleeps for an hour. Wait until it runs.
        """,
        check=check,
        hint=[
            "Start from the article's `pod_manifest`: what must change is the name, the image and the command.",
            "A container's `command` is a list; to use `$HOSTNAME` and run two commands, give it to a shell: "
            "`sh -c '...'`. `kubectl wait --for=condition=Ready pod/greeter` waits until it runs.",
            "A pod `greeter` with one container `greeter`, image `busybox`, command `sh -c` with "
            "`echo hello from $HOSTNAME; sleep 3600`, created with `api_instance.create_namespaced_pod`, "
            "then wait for its Ready condition.",
        ],
        solution="""
            import subprocess
            greeter = {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "greeter"},
                "spec": {"containers": [{"name": "greeter", "image": "busybox",
                                         "command": ["sh", "-c", "echo hello from $HOSTNAME; sleep 3600"]}]},
            }
            api_instance.create_namespaced_pod(body=greeter, namespace="default")
            subprocess.run(["kubectl", "wait", "--for=condition=Ready", "pod/greeter", "--timeout=60s"],
                           check=True, capture_output=True)
        """,
    )
