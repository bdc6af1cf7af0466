"""Lab T2 (troubleshooting): a pod that is never scheduled.

Three nodes of 2 CPUs; ``node-3`` is tainted ``dedicated=batch:NoSchedule`` (kept for batch jobs).
The Deployment ``api`` asks for three replicas that each request ``1500m`` of CPU, though each uses
about 120m (its sim annotations, which ``kubectl top`` shows): one fits on each untainted node, the
third fits nowhere. The scheduler says so in the pod's ``FailedScheduling`` event, in kube's words.
"""

from __future__ import annotations

from typing import Any

from labkit.apimachinery.resource import parse_quantity
from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs import common as t
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "T2", "T2 · A pod that is never scheduled", "05-troubleshooting/T2-pending.ipynb",
    exercises={"pending": "all of api runs"},
    questions=(
        Question("A pod stays Pending with no node. Who says why, and where?",
                 choices=("the kubelet of the node it was meant for, in the pod's logs",
                          "the scheduler, in a FailedScheduling event",
                          "the controller manager, in the ReplicaSet's status conditions",
                          "nobody: you compare the nodes' free resources yourself"),
                 answer="the scheduler, in a FailedScheduling event",
                 why="No kubelet has the pod yet, so there are no logs. The scheduler tried every node and "
                     "reports, per reason, how many nodes failed ('0/3 nodes are available: ...'), in an event "
                     "and in the pod's PodScheduled condition."),
        Question("The message says '2 Insufficient cpu' on nodes whose CPUs are almost idle. Why?",
                 choices=("kubectl top shows averages that hide the peaks the scheduler sees",
                          "the scheduler adds up requests, not use",
                          "the nodes are overcommitted by the pods' limits",
                          "metrics-server has not scraped the nodes yet, so the scheduler sees them full"),
                 answer="the scheduler adds up requests, not use",
                 why="A node fits a pod when its allocatable minus the requests of the pods already there "
                     "covers the new pod's requests. Usage plays no part: kubectl describe node shows the "
                     "sum under 'Allocated resources'."),
        Question("node-3 carries the taint dedicated=batch:NoSchedule. Which pods may the scheduler put there?",
                 choices=("none at all, until the taint is removed", "any pod, once the other nodes are full",
                          "pods that tolerate the taint", "only DaemonSet pods, which ignore taints"),
                 answer="pods that tolerate the taint",
                 why="NoSchedule filters the node out for every pod that does not tolerate the taint, however "
                     "full the other nodes are; a toleration lets a pod in but does not draw it there."),
    ),
)

APP, REPLICAS = "api", 3
RESERVED, TAINT = "node-3", {"key": "dedicated", "value": "batch", "effect": "NoSchedule"}
REQUEST, USES = "1500m", "120m"


def deploy(cluster: Cluster) -> None:
    """Reserve node-3 for batch jobs, apply api, and wait until the scheduler gave up on one replica."""
    cluster.run(cluster.admin().patch("/api/v1/nodes/" + RESERVED, {"spec": {"taints": [TAINT]}}))
    print(f"node/{RESERVED} tainted", flush=True)
    t.create(cluster, "apps/v1", "deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}, "annotations": {
                                               "labkit.dev/sim-cpu": USES, "labkit.dev/sim-memory": "90Mi"}},
                              "spec": {"containers": [{"name": APP, "image": "labkit/hello:1",
                                                       "resources": {"requests": {"cpu": REQUEST,
                                                                                  "memory": "128Mi"}}}]}}}})

    def settled() -> bool:
        pods = t.live_pods(cluster, f"app={APP}")
        return (len(pods) == REPLICAS and sum(t.is_ready(p) for p in pods) == REPLICAS - 1
                and any(_unschedulable(p) for p in pods))

    t.wait_until("the api pods to start", settled)


def _unschedulable(pod: Any) -> str:
    """The scheduler's message when it could not place the pod, else ''."""
    cond: dict[str, str] = next(
        (c for c in pod.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"), {})
    return str(cond.get("message", "")) if cond.get("reason") == "Unschedulable" else ""


def _request_problems(deployment: Any) -> list[str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    cpu = ((container.get("resources") or {}).get("requests") or {}).get("cpu")
    if cpu is None:
        return [f"{APP} requests no CPU: the scheduler then keeps no room for it and the node may be "
                f"overcommitted; request what it uses"]
    if parse_quantity(cpu).amount < parse_quantity(USES).amount:
        return [f"{APP} requests {cpu} of CPU but uses about {USES} (kubectl top pods): request at least that"]
    return []


def never_scheduled(cluster: Cluster) -> Exercise:
    """api's three replicas Ready, none on the reserved node, the node's taint kept."""

    def check() -> list[str]:
        problems = []
        node = t.get(cluster, "v1", "nodes", RESERVED, namespace="")
        taints = (node or {}).get("spec", {}).get("taints") or []
        if node is not None and not any({k: x.get(k) for k in TAINT} == TAINT for x in taints):
            problems.append(f"{RESERVED} lost its taint dedicated=batch:NoSchedule: it is kept for batch jobs, "
                            f"leave it so")
        deployment = t.get(cluster, "apps/v1", "deployments", APP)
        if deployment is None:
            return [*problems, f"there is no Deployment {APP}: the task is to make it run, not to remove it"]
        if deployment["spec"].get("replicas", 1) != REPLICAS:
            problems.append(f"{APP} has {deployment['spec'].get('replicas', 1)} replicas: it needs {REPLICAS}")
        problems += _request_problems(deployment)
        pods = t.live_pods(cluster, f"app={APP}")
        for pod in pods:
            name, node_name = pod["metadata"]["name"], pod["spec"].get("nodeName")
            if not node_name:
                problems.append(f"pod {name} is Pending: not scheduled on any node")
            elif node_name == RESERVED:
                problems.append(f"pod {name} runs on {RESERVED}, which is kept for batch jobs")
            elif not t.is_ready(pod):
                problems.append(f"pod {name} is on {node_name} but not Ready yet")
        ready = sum(1 for p in pods if t.is_ready(p) and p["spec"].get("nodeName") != RESERVED)
        if ready < REPLICAS:
            problems.append(f"{ready} of {REPLICAS} {APP} pods are Ready")
        return problems

    return LESSON.exercise(
        "pending",
        task=f"""
            `{APP}` was scaled to {REPLICAS} replicas for a busy day; one of them never started. Find out why
            and get all {REPLICAS} running. `{RESERVED}` is kept for batch jobs: leave its taint as it is and
            keep `{APP}` off it.
        """,
        check=check,
        hint=[
            "A pod without a node was never handed to a kubelet: the one that decided not to place it says why.",
            "`kubectl describe pod <the Pending pod>`: its Events hold the scheduler's `FailedScheduling` "
            "message. Then `kubectl describe node node-1` (Taints, and the requests under 'Allocated "
            "resources') and `kubectl top pods`: what do the pods ask for, and what do they use?",
            f"0/3 nodes are available: {RESERVED} has an untolerated taint, and node-1 and node-2 have too "
            f"little CPU left: each api pod requests {REQUEST} of a 2-CPU node, so one fits per node. They use "
            f"about {USES}: request 200m, and all three fit: `kubectl set resources deployment {APP} "
            f"--requests=cpu=200m` (a new ReplicaSet rolls out).",
        ],
        solution=f'''
            sh = get_ipython().system  # what `!` does in a cell: run a command, its output appears as it comes
            sh("kubectl set resources deployment {APP} --requests=cpu=200m")
            sh("kubectl rollout status deployment/{APP} --timeout=90s")
        ''',
    )
