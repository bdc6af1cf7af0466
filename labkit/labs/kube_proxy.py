"""Exercise and recap of notebook 4.2 (kube-proxy): five ready pods behind the Service ``web``."""

from __future__ import annotations

from typing import Any

from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "4.2", "4.2 · kube-proxy", "03-node/4.2-kube-proxy.ipynb",
    exercises={"five": "five pods behind the Service"},
    questions=(
        Question("In kube-proxy's default mode on Linux (iptables), which endpoint does a new connection get?",
                 choices=("one chosen at random, each with equal probability", "the next one in turn (round robin)",
                          "the one with the fewest connections", "always the first ready one"),
                 answer="one chosen at random, each with equal probability",
                 why="iptables mode writes one rule per endpoint with the statistic module's random probability "
                     "(1/n, then 1/(n-1) of the rest ...). Round robin was the removed userspace mode, and is "
                     "IPVS mode's default scheduler (rr); labkit's proxy is the userspace design."),
        Question("Where does kube-proxy learn which pod IPs stand behind a Service?",
                 choices=("from the Service's EndpointSlices, read through the API server",
                          "it lists the pods and applies the selector itself",
                          "from the pods' nodes, by asking their kubelets", "from etcd directly"),
                 answer="from the Service's EndpointSlices, read through the API server",
                 why="The EndpointSlice controller (in the controller manager) matches the selector and writes the "
                     "slices; kube-proxy only watches Services and EndpointSlices."),
        Question("A pod matches the Service's selector but fails its readiness probe. What happens?",
                 choices=("it is listed in the EndpointSlice with ready: false, and gets no traffic",
                          "it is left out of the EndpointSlice entirely",
                          "it gets traffic like the others until it crashes",
                          "the Service refuses to start"),
                 answer="it is listed in the EndpointSlice with ready: false, and gets no traffic",
                 why="EndpointSlices list every matching pod with an IP, with conditions ready, serving and "
                     "terminating; kube-proxy sends new connections to ready endpoints only (to serving, "
                     "terminating ones only when none is ready)."),
        Question("Which machine owns a Service's ClusterIP?",
                 choices=("none: every node's kube-proxy makes that node send connections for it to an endpoint",
                          "the control-plane node", "the first pod of the Service", "a load balancer pod"),
                 answer="none: every node's kube-proxy makes that node send connections for it to an endpoint",
                 why="The ClusterIP is virtual. iptables and nftables modes rewrite the destination in the kernel "
                     "(DNAT); IPVS mode binds it to a dummy interface (kube-ipvs0) on every node; labkit's proxy "
                     "listens on it. Each node does this for itself, so no single machine answers for it."),
    ),
)

REPLICAS = 5


def five_pods(apps: Any, discovery: Any) -> Exercise:
    """Deployment ``web`` at 5 ready replicas and 5 ready endpoints in its Service's EndpointSlices;
    ``apps`` and ``discovery`` are the notebook's ``AppsV1Api`` and ``DiscoveryV1Api``."""

    def check() -> list[str]:
        d = apps.read_namespaced_deployment("web", "default")
        if d.spec.replicas != REPLICAS:
            return [f"the deployment web asks for {d.spec.replicas} replicas, not {REPLICAS}"]
        problems = []
        if (d.status.ready_replicas or 0) != REPLICAS:
            problems.append(f"{d.status.ready_replicas or 0} of {REPLICAS} replicas are ready (wait for the rollout)")
        slices = discovery.list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=web").items
        ready = [e for s in slices for e in s.endpoints or [] if e.conditions.ready]
        if len(ready) != REPLICAS:
            problems.append(f"the Service's EndpointSlices list {len(ready)} ready endpoints, not {REPLICAS}")
        return problems

    return LESSON.exercise(
        "five",
        task="""
            Scale the deployment `web` to 5 replicas and wait until they are ready. Then the Service has
            five ready endpoints, and labkit's round robin sends 10 requests to 5 different pods, 2 each.
        """,
        check=check,
        hint=[
            "You change the Deployment, not the Service: the EndpointSlice controller follows the pods.",
            "A Deployment's `scale` subresource sets `spec.replicas` (`kubectl scale`, or "
            "`apps.patch_namespaced_deployment_scale`); `kubectl rollout status` waits for the new pods.",
            "Patch the scale of deployment `web` in `default` to 5 replicas, then wait with "
            "`kubectl rollout status deployment/web`.",
        ],
        solution="""
            import subprocess
            apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
            subprocess.run(["kubectl", "rollout", "status", "deployment/web", "--timeout=60s"],
                           check=True, capture_output=True)
        """,
    )
