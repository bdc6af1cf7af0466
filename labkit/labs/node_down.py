"""Lab T4 (troubleshooting): a node gone silent.

Four ``web`` pods behind the Service ``web``, spread over two nodes; then the kubelet of ``node-2``
stops (``Cluster.stop_kubelet``, as ``systemctl stop kubelet`` would), its containers running on.
Nothing renews the node's Lease, so after the grace period the node lifecycle controller sets its
conditions to ``Unknown`` ("Kubelet stopped posting node status."), taints it
``node.kubernetes.io/unreachable`` and marks its pods not Ready, and the Service loses them. The fix
is on the machine: start the kubelet again (``Cluster.start_kubelet``).
"""

from __future__ import annotations

import time

from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs import common as t
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "T4", "T4 · A node gone silent", "05-troubleshooting/T4-node-notready.ipynb",
    exercises={"node": "the node serves again"},
    questions=(
        Question("A node shows Ready=Unknown with the message 'Kubelet stopped posting node status.' Who "
                 "wrote that?",
                 choices=("the kubelet, as its last words before it stopped",
                          "the node lifecycle controller",
                          "the scheduler, when it could no longer bind pods there",
                          "the API server's health check of each node's port 10250"),
                 answer="the node lifecycle controller",
                 why="A stopped kubelet writes nothing. The controller in the controller manager notices that "
                     "the node's Lease and status were not renewed within node-monitor-grace-period (50 s by "
                     "default) and writes Unknown on the kubelet's behalf."),
        Question("What happens to the pods of a node that turned unreachable, on a cluster with default settings?",
                 choices=("they are deleted at once and recreated on another node",
                          "marked not Ready now, evicted after 300 s",
                          "nothing happens to them until someone deletes the node",
                          "the API server stops their containers through the container runtime"),
                 answer="marked not Ready now, evicted after 300 s",
                 why="The controller sets their Ready condition to False, so the endpoint controllers drop them; "
                     "every pod tolerates node.kubernetes.io/unreachable:NoExecute for 300 s (the API server adds "
                     "that toleration), after which the taint eviction deletes them."),
        Question("The kubelet of a node stopped. Where is the fix?",
                 choices=("kubectl delete node, then the pods come back by themselves",
                          "kubectl uncordon the node, which clears the NotReady state",
                          "restart the controller manager so that it sees the node again",
                          "on the node: start the kubelet"),
                 answer="on the node: start the kubelet",
                 why="Nothing in the API can run a kubelet: on the machine, journalctl -u kubelet says why it "
                     "stopped and systemctl start kubelet starts it. Deleting the Node gives up on the machine; "
                     "uncordon only clears spec.unschedulable. A started kubelet posts Ready, and the "
                     "controller removes the taints and lets the pods be Ready again."),
    ),
)

APP, REPLICAS, NODE = "web", 4, "node-2"
#: how long the check lets the endpoint controllers catch up with pods that just turned Ready (seconds)
ENDPOINTS_LAG = 1.0


def deploy(cluster: Cluster) -> None:
    """Apply web (four replicas) and its Service; then node-2's kubelet stops; wait for the Service to notice."""
    t.create(cluster, "apps/v1", "deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}},
                              "spec": {"containers": [{"name": APP, "image": "labkit/hello:1",
                                                       "ports": [{"containerPort": 8080}]}]}}}})
    t.create(cluster, "v1", "services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": APP},
        "spec": {"selector": {"app": APP}, "ports": [{"port": 80, "targetPort": 8080}]}})
    t.wait_until("the web Service to have 4 ready endpoints", lambda: len(ready_endpoints(cluster)) == REPLICAS)
    left = REPLICAS - sum(p["spec"].get("nodeName") == NODE for p in t.live_pods(cluster, f"app={APP}"))
    cluster.stop_kubelet(NODE)
    t.wait_until("the next alert from the monitoring", lambda: len(ready_endpoints(cluster)) == left)
    print(f"ALERT: Service {APP} has {len(ready_endpoints(cluster))} of {REPLICAS} ready endpoints; "
          f"no change to {APP} was deployed", flush=True)


def ready_endpoints(cluster: Cluster) -> list[str]:
    """The addresses the Service web sends traffic to (its ready EndpointSlice endpoints)."""
    return [a for s in t.items(cluster, "discovery.k8s.io/v1", "endpointslices",
                               selector=f"kubernetes.io/service-name={APP}")
            for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")
            for a in e.get("addresses") or []]


def silent_node(cluster: Cluster) -> Exercise:
    """Four web pods Ready behind the Service, none stuck terminating, every node Ready."""

    def check() -> list[str]:
        problems = []
        if t.get(cluster, "v1", "nodes", NODE, namespace="") is None:
            problems.append(f"node {NODE} is gone (deleted): the task is to bring it back, not to remove it")
        pods = t.items(cluster, "v1", "pods", selector=f"app={APP}")
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        stuck = sorted(p["metadata"]["name"] for p in pods if p["metadata"].get("deletionTimestamp"))
        unready = sorted(p["metadata"]["name"] for p in live if not t.is_ready(p))
        if unready:
            problems.append(f"{len(unready)} of {len(live)} web pods are not Ready: {', '.join(unready)}")
        elif len(live) != REPLICAS:
            problems.append(f"{len(live)} web pods run: {REPLICAS} are wanted")
        if stuck:
            problems.append(f"pods stuck terminating (nothing confirms their containers stopped): {', '.join(stuck)}")
        endpoints = ready_endpoints(cluster)
        if not problems and len(endpoints) != REPLICAS:  # the pods just turned Ready: the controllers follow
            time.sleep(ENDPOINTS_LAG)
            endpoints = ready_endpoints(cluster)
        if len(endpoints) != REPLICAS:
            problems.append(f"the Service {APP} sends traffic to {len(endpoints)} endpoint(s), not {REPLICAS}")
        if not problems:  # the pods are fine: has the cause gone too?
            for node in t.items(cluster, "v1", "nodes", namespace=""):
                ready: dict[str, str] = next(
                    (c for c in node["status"].get("conditions") or [] if c["type"] == "Ready"), {})
                if ready.get("status") != "True":
                    problems.append(f"node {node['metadata']['name']} is not Ready (Ready={ready.get('status')}): "
                                    f"its pods are fine for now, the node is not")
        return problems

    return LESSON.exercise(
        "node",
        task=f"""
            An alert fired: the `{APP}` Service lost endpoints, and some `{APP}` pods are no longer Ready,
            though nobody touched `{APP}`. Find out why and bring the cluster back to full strength:
            {REPLICAS} Ready `{APP}` pods behind the Service, every node Ready.
        """,
        check=check,
        hint=[
            f"The {APP} pods changed nothing themselves. What do the ones that are not Ready have in common?",
            f"`kubectl get pods -o wide` puts them all on {NODE}. Then `kubectl get nodes` and "
            f"`kubectl describe node {NODE}`: its Conditions (who posted them last, and when?), Taints, Lease "
            f"and Events. Whose job is it to post a node's status? On the machine you would run "
            f"`systemctl status kubelet`; here `cluster.kubelets` lists the nodes whose kubelet runs.",
            f"The kubelet of {NODE} stopped: its Lease was not renewed, so after the grace period the node "
            f"lifecycle controller set the node's conditions to Unknown ('Kubelet stopped posting node "
            f"status.'), tainted it `node.kubernetes.io/unreachable` and marked its pods not Ready, and the "
            f"Service dropped them. Start the kubelet again: `cluster.start_kubelet(\"{NODE}\")` (on a real "
            f"node: `journalctl -u kubelet` for why it stopped, then `systemctl start kubelet`).",
        ],
        solution=f'''
            cluster.start_kubelet("{NODE}")
            sh = get_ipython().system  # what `!` does in a cell: run a command, its output appears as it comes
            sh("kubectl wait --for=condition=Ready node/{NODE} --timeout=60s")
            sh("kubectl wait --for=condition=Ready pod -l app={APP} --timeout=60s")
        ''',
    )
