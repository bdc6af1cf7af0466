"""Exercise and recap of notebook 4.4 (the pod network): a client pod on node-1 fetches a page from a pod on node-2."""

from __future__ import annotations

from typing import Any

from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "4.4", "4.4 · The pod network", "03-node/4.4-pod-network.ipynb",
    exercises={"client": "a client on node-1"},
    questions=(
        Question("What does the Kubernetes network model require?",
                 choices=("every pod has its own IP and reaches every other pod at that IP, on any node, without NAT",
                          "pods on the same node share one IP and are told apart by port",
                          "pods reach pods on other nodes through their node's IP and a NAT port",
                          "pods can only talk to pods through a Service"),
                 answer="every pod has its own IP and reaches every other pod at that IP, on any node, without NAT",
                 why="That is the whole contract; how it is met (bridges and routes, overlays, BGP, eBPF) is up to "
                     "the network plugin."),
        Question("Where does a pod's IP come from, in the setup this notebook shows?",
                 choices=("the network plugin on the pod's node takes a free address from that node's podCIDR",
                          "the scheduler picks it when it binds the pod", "the API server assigns it on create",
                          "a DHCP server in the cluster"),
                 answer="the network plugin on the pod's node takes a free address from that node's podCIDR",
                 why="The controller manager gives each node a podCIDR; when the runtime makes the pod's sandbox, the "
                     "CNI plugin (its IPAM, e.g. host-local) takes an address from it; the kubelet then reports it."),
        Question("A pod on node-1 sends a packet to a pod IP in node-2's podCIDR. What gets it there?",
                 choices=("a route on node-1 that says node-2's podCIDR is reached through node-2",
                          "kube-proxy on node-1 rewrites it to node-2's IP", "the API server forwards it",
                          "nothing: pods on different nodes cannot talk without a Service"),
                 answer="a route on node-1 that says node-2's podCIDR is reached through node-2",
                 why="Pod-to-pod traffic is plain routing (or an overlay the plugin sets up); kube-proxy is only "
                     "involved for Service virtual IPs, and the API server never carries data."),
    ),
)


def client_on_node_1(core: Any, there: Any, namespace: dict[str, Any]) -> Exercise:
    """A running pod ``client`` on node-1, and ``answer`` in the notebook holding the page of ``there``
    (a pod on node-2); ``core`` is the notebook's ``CoreV1Api``."""
    from kubernetes import client

    def check() -> list[str]:
        try:
            pod = core.read_namespaced_pod("client", "default")
        except client.ApiException as e:
            if e.status == 404:
                return ["there is no pod named 'client' yet"]
            raise
        problems = []
        if pod.spec.node_name != "node-1":
            problems.append(f"client runs on {pod.spec.node_name}, not node-1")
        if pod.status.phase != "Running":
            problems.append(f"client is {pod.status.phase}, not Running (wait for it; keep it alive with a sleep)")
        answer = namespace.get("answer")
        if answer is None:
            problems.append("there is no variable `answer` holding what client got back")
        elif there.metadata.name not in str(answer):
            problems.append(f"`answer` is {answer!r}; it should be the page of {there.metadata.name} on node-2")
        return problems

    return LESSON.exercise(
        "client",
        task=f"""
            Create a pod named `client` (image `busybox`, command `sleep 3600`) that runs on `node-1`,
            wait until it runs, then exec `wget -qO- http://{there.status.pod_ip}:8080/` in it and
            keep what it prints in a variable `answer`.
        """,
        check=check,
        hint=[
            "Two steps: a pod the scheduler must put on node-1, then an exec into it, as the notebook did above.",
            "A pod's `nodeSelector` pins it to nodes by label; every node carries `kubernetes.io/hostname`. "
            "Exec is `stream(core.connect_get_namespaced_pod_exec, ...)`, as in the cell \"Pod to pod\".",
            "Create pod `client` with `nodeSelector` `kubernetes.io/hostname: node-1` and command "
            "`sleep 3600`, wait for Ready, then exec the `wget` command in it and assign the output to `answer`.",
        ],
        solution="""
            import subprocess
            core.create_namespaced_pod("default", {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
                "spec": {"nodeSelector": {"kubernetes.io/hostname": "node-1"},
                         "containers": [{"name": "client", "image": "busybox", "command": ["sleep", "3600"]}]}})
            subprocess.run(["kubectl", "wait", "--for=condition=Ready", "pod/client", "--timeout=60s"],
                           check=True, capture_output=True)
            answer = stream(core.connect_get_namespaced_pod_exec, "client", "default",
                            command=["wget", "-qO-", f"http://{there.status.pod_ip}:8080/"],
                            stderr=True, stdin=False, stdout=True, tty=False)
        """,
    )
