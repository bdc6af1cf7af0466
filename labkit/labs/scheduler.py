"""Exercise and recap questions of notebook 3.2 (the scheduler): a bin-packing scheduler of one Python
function, run beside the default one, and how a real kube-scheduler decides and is extended."""

from __future__ import annotations

from typing import Any

from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question
from labkit.scheduler import Scheduler

LESSON = Lesson(
    "3.2", "3.2 · The scheduler", "02-master/3.2-scheduler.ipynb",
    exercises={"pack": "bin packing"},
    questions=(
        Question(
            "What does the default scheduler compare with a node's allocatable CPU when it checks whether a "
            "pod fits?",
            choices=("The CPU the node is using right now",
                     "The pods' CPU limits",
                     "The CPU requests of the pods already bound to the node, plus the new pod's request",
                     "The number of pods on the node"),
            answer="The CPU requests of the pods already bound to the node, plus the new pod's request",
            why="NodeResourcesFit adds up requests, never measured use: a node full of idle pods that request "
                "a lot is full, a busy node whose pods request little is not. Limits only matter on the node, "
                "where the kubelet and the runtime enforce them.",
        ),
        Question(
            "A pod asks for 100 CPUs and no node has them. Which extension point rules the nodes out?",
            choices=("Filter: NodeResourcesFit rejects every node, so there is nothing to score",
                     "Score: every node gets 0 and the pod goes to the least bad one",
                     "Bind: the binding fails and is retried",
                     "None: the kubelet refuses the pod after it is bound"),
            answer="Filter: NodeResourcesFit rejects every node, so there is nothing to score",
            why="Only nodes that pass every Filter plugin are scored. With none left, PostFilter (preemption) "
                "looks for lower-priority pods to evict; when that cannot help either, the pod stays Pending "
                "with a FailedScheduling event that counts the reasons per node.",
        ),
        Question(
            "How does a scheduler record the node it chose?",
            choices=("It starts the pod's containers on that node",
                     "It writes the node's name into etcd itself",
                     "It calls the chosen node's kubelet",
                     "It creates a Binding for the pod (POST .../pods/<name>/binding), which sets spec.nodeName"),
            answer="It creates a Binding for the pod (POST .../pods/<name>/binding), which sets spec.nodeName",
            why="The binding is an API request like any other; the kubelet of that node sees the pod through its "
                "watch and starts it. A scheduler of your own, in any language, does exactly the same.",
        ),
        Question(
            "Two schedulers run in a cluster. Which one places a given pod?",
            choices=("Both try, and the first binding wins",
                     "The one that serves the pod's spec.schedulerName (default-scheduler when it is unset); "
                     "the others ignore the pod",
                     "Always the default scheduler; the other only when the default fails",
                     "The one that started first"),
            answer="The one that serves the pod's spec.schedulerName (default-scheduler when it is unset); "
                   "the others ignore the pod",
            why="Every scheduler (and every profile of kube-scheduler) has a name and takes only the pods that "
                "name it. A name nobody serves leaves the pod Pending, with no event, since no scheduler looked.",
        ),
        Question(
            "You need a placement rule that no built-in plugin or setting covers. How do you add it to a real "
            "cluster?",
            choices=("Write a plugin in Go against the scheduling framework, build a kube-scheduler with it and "
                     "enable it in a profile, or run a second scheduler that pods name in schedulerName",
                     "Implement the Java interface Scheduler and put the class on kube-scheduler's classpath",
                     "Write the rule as a Python function in the KubeSchedulerConfiguration",
                     "Label the nodes; the scheduler learns the rule from the labels"),
            answer="Write a plugin in Go against the scheduling framework, build a kube-scheduler with it and "
                   "enable it in a profile, or run a second scheduler that pods name in schedulerName",
            why="kube-scheduler is a Go program with no Java interface to implement. Plugins are compiled in "
                "(the scheduler-plugins project builds such binaries) and switched on and weighted per profile "
                "in the KubeSchedulerConfiguration; an extender (an HTTP webhook) is the older way. A second "
                "scheduler may be written in anything that can watch pods and create Bindings.",
        ),
    ),
)

#: the exercise's pods, created in this order
PACKED = ("p1", "p2", "p3")


def bin_packing(cluster: Cluster, v1: Any) -> Exercise:
    """A ``FunctionScheduler`` named ``pack`` runs, and it put the pods p1, p2 and p3 on one node; ``v1`` is
    the notebook's ``kubernetes.client.CoreV1Api``."""
    from kubernetes import client

    def check() -> list[str]:
        problems = []
        if not any(isinstance(c, Scheduler) and "pack" in c.profiles for c in cluster.components):
            problems.append("no scheduler named 'pack' runs in the cluster (start it with cluster.add)")
        nodes = {}
        for name in PACKED:
            try:
                p = v1.read_namespaced_pod(name, "default")
            except client.ApiException as e:
                problems.append(f"pod {name}: {e.status} {e.reason}")
                continue
            if p.spec.scheduler_name != "pack":
                problems.append(f"pod {name} has schedulerName {p.spec.scheduler_name!r}, want 'pack'")
            elif not p.spec.node_name:
                problems.append(f"pod {name} is not bound to a node yet")
            else:
                nodes[name] = p.spec.node_name
        if len(set(nodes.values())) > 1:
            problems.append(f"the pods are spread over several nodes: {nodes}")
        return problems

    return LESSON.exercise(
        "pack",
        task="""
            Write `most_pods(pod, nodes)`, which picks the node already running the *most* pods, and run it
            as a `FunctionScheduler` named `pack`. Then create the pods `p1`, `p2` and `p3` (with
            `pod(name, scheduler=...)`) so that they use it. All three must land on the same node.
        """,
        check=check,
        hint=[
            "Your scheduler is `fewest_pods` turned around: the fullest node instead of the emptiest.",
            "Copy the cell that starts `least-pods`: a `FunctionScheduler` added with `cluster.add`, then one "
            "`v1.create_namespaced_pod(\"default\", pod(name, scheduler=...))` per pod. Each `NodeInfo` in "
            "`nodes` has `.pods`, the pods bound to it.",
            "Define `most_pods` to return the name of the node with the largest `len(n.pods)` (ties broken by "
            "name, e.g. `min` with the key `(-len(n.pods), n.name)`), start "
            "`FunctionScheduler(cluster.client_for(\"system:kube-scheduler\", agent=\"pack\"), \"pack\", "
            "pick=most_pods)` with `cluster.add`, and create p1, p2 and p3 with `schedulerName` `pack`, each "
            "once the one before is bound, so that every pick counts the pods placed before it.",
        ],
        solution="""
            import time
            from labkit.scheduler import FunctionScheduler

            def most_pods(pod, nodes):
                # the node already running the most pods; ties broken by name
                return min(nodes, key=lambda n: (-len(n.pods), n.name)).name

            cluster.add(FunctionScheduler(cluster.client_for("system:kube-scheduler", agent="pack"),
                                          "pack", pick=most_pods))
            for name in ["p1", "p2", "p3"]:
                v1.create_namespaced_pod("default", pod(name, scheduler="pack"))
                deadline = time.monotonic() + 30
                while not v1.read_namespaced_pod(name, "default").spec.node_name:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"pod {name} was not bound within 30 s")
                    time.sleep(0.1)
        """,
    )
