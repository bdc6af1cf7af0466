"""Lab T3 (troubleshooting): a Service that answers nobody.

The Deployment ``web`` runs two healthy pods labelled ``app=web, tier=frontend``; the Service
``web`` selects ``app=web, tier=fronted`` (a typo), so it selects no pod: the Endpoints and
EndpointSlice controllers publish no endpoint, and kube-proxy has nowhere to send a connection.
The check sends requests through the Service as a client in the cluster would.
"""

from __future__ import annotations

import time
from typing import Any

from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs import common as t
from labkit.labs.lesson import Lesson, Question
from labkit.widgets.service_traffic import send_requests

LESSON = Lesson(
    "T3", "T3 · A Service that answers nobody", "05-troubleshooting/T3-no-endpoints.ipynb",
    exercises={"endpoints": "web answers through its Service"},
    questions=(
        Question("The pods are Running and Ready, yet connections to their Service fail. What do you look at "
                 "first?",
                 choices=("the pods' logs, for errors in the web server", "the Service's endpoints",
                          "the nodes' conditions and kube-proxy's health", "the scheduler's events for the Service"),
                 answer="the Service's endpoints",
                 why="A Service forwards only to the endpoints its controllers published (kubectl get "
                     "endpointslices -l kubernetes.io/service-name=NAME). None means its selector matches no "
                     "Ready pod, whatever the pods themselves do."),
        Question("How does a Service find its pods?",
                 choices=("by the Deployment it was created with, through ownerReferences",
                          "by a pod-name prefix equal to the Service's name", "by its label selector",
                          "by the container port matching its targetPort"),
                 answer="by its label selector",
                 why="The selector is a set of key=value pairs, all of which a pod's labels must have; one wrong "
                     "value matches nothing. Services know nothing of Deployments."),
        Question("Which components turn a Service's selector into forwarded connections?",
                 choices=("the scheduler picks pods for it, then each kubelet opens the ports",
                          "the API server computes them on every request",
                          "the endpoint controllers, then kube-proxy",
                          "kube-proxy alone, from the Service and the pods it watches"),
                 answer="the endpoint controllers, then kube-proxy",
                 why="The EndpointSlice and Endpoints controllers in the controller manager watch Services and "
                     "pods and write the endpoints; kube-proxy on every node watches those and programs the "
                     "node's rules (iptables, nftables or IPVS) for the Service's ClusterIP."),
    ),
)

APP, REPLICAS = "web", 2
LABELS = {"app": APP, "tier": "frontend"}
TYPO = {"app": APP, "tier": "fronted"}
REQUESTS = 3
#: how often the check tries the Service when its endpoints are right (0.2 s apart)
PROXY_TRIES = 10


def deploy(cluster: Cluster) -> None:
    """Apply web and its Service (the selector mistyped), and wait until web's pods are Ready."""
    t.create(cluster, "apps/v1", "deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": LABELS},
                              "spec": {"containers": [{"name": APP, "image": "labkit/hello:1",
                                                       "ports": [{"containerPort": 8080}]}]}}}})
    t.create(cluster, "v1", "services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": APP},
        "spec": {"selector": TYPO, "ports": [{"port": 80, "targetPort": 8080}]}})
    t.wait_until("the web pods to be Ready", lambda: sum(t.is_ready(p) for p in t.live_pods(cluster, "app=web"))
                 == REPLICAS)


def request(cluster: Cluster, n: int = REQUESTS) -> dict[str, int]:
    """Send ``n`` HTTP requests to the Service web, as a client in the cluster: answer -> how many."""
    proxy = cluster.proxy
    assert proxy is not None, "this cluster runs no kube-proxy"
    return dict(send_requests(proxy.url(APP, t.NAMESPACE) + "/", n, timeout=2.0, connect=proxy.network.connect))


def _ready_endpoints(cluster: Cluster) -> list[Any]:
    return [e for s in t.items(cluster, "discovery.k8s.io/v1", "endpointslices",
                               selector=f"kubernetes.io/service-name={APP}")
            for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")]


def unanswered(cluster: Cluster) -> Exercise:
    """The Service web has web's pods as ready endpoints, and answers through kube-proxy."""

    def check() -> list[str]:
        service = t.get(cluster, "v1", "services", APP)
        if service is None:
            return [f"there is no Service {APP}: clients find web by that name, keep it"]
        problems = []
        pods = t.live_pods(cluster, f"app={APP}")
        ready = {p["metadata"]["name"] for p in pods if t.is_ready(p)}
        if len(ready) < REPLICAS:
            problems.append(f"{len(ready)} of {REPLICAS} web pods are Ready")
        endpoints = _ready_endpoints(cluster)
        targets = {(e.get("targetRef") or {}).get("name") for e in endpoints}
        if len(endpoints) != REPLICAS or targets != ready:
            problems.append(f"the Service {APP} has {len(endpoints)} ready endpoint(s) "
                            f"({', '.join(sorted(str(x) for x in targets)) or 'none'}); the {REPLICAS} web pods "
                            f"should be")
        for _ in range(PROXY_TRIES if not problems else 1):  # kube-proxy may lag the endpoints a moment
            failed = {a: n for a, n in request(cluster).items() if a.startswith("error")}
            if not failed:
                break
            time.sleep(0.2)
        if failed:
            problems.append(f"{sum(failed.values())} of {REQUESTS} requests to http://{APP} failed: "
                            + "; ".join(f"{a} (x{n})" for a, n in failed.items()))
        return problems

    return LESSON.exercise(
        "endpoints",
        task=f"""
            Clients in the cluster reach web at `http://{APP}` (the Service `{APP}`, port 80), and every
            request fails, though both web pods are Running and Ready. Find out why and make the Service
            answer. Keep the Service's name and port.
        """,
        check=check,
        hint=[
            "The pods are healthy. So what tells kube-proxy where to send a connection to the Service?",
            f"`kubectl get endpoints {APP}` and `kubectl get endpointslices -l kubernetes.io/service-name={APP}`: "
            f"which pods does the Service send to? It picks them by label: compare the Selector in "
            f"`kubectl describe service {APP}` with `kubectl get pods --show-labels`.",
            f"The Service selects `tier=fronted`; the pods are labelled `tier=frontend`. No pod has all the "
            f"selector's labels, so there are no endpoints. Fix the selector: `kubectl patch service {APP} -p "
            f"'{{\"spec\":{{\"selector\":{{\"app\":\"web\",\"tier\":\"frontend\"}}}}}}'`.",
        ],
        solution=f'''
            sh = get_ipython().system  # what `!` does in a cell: run a command, its output appears as it comes
            sh("""kubectl patch service {APP} -p '{{"spec": {{"selector": {{"app": "web", "tier": "frontend"}}}}}}'""")
            sh("""kubectl wait endpointslice -l kubernetes.io/service-name={APP} --timeout=30s \\
                  --for=jsonpath='{{.endpoints[{REPLICAS - 1}].conditions.ready}}'=true""")
        ''',
    )
