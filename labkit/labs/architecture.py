"""Recap questions of notebook 2 (the architecture): who talks to whom, and what each node part does.
The notebook has no exercise."""

from __future__ import annotations

from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "2", "2 · The architecture: master and nodes", "01-intro/2-architecture.ipynb",
    questions=(
        Question(
            "Which component reads and writes etcd?",
            choices=("Every component, each under its own keys",
                     "The scheduler and the controller manager directly, the kubelets through the API server",
                     "Only the API server; every other component goes through it",
                     "The kubelets, to report their pods' status"),
            answer="Only the API server; every other component goes through it",
            why="The API server is the only client of etcd. The scheduler, the controllers, the kubelets and "
                "kubectl read and write API objects through it, so every change passes its authentication, "
                "authorization, admission and validation.",
        ),
        Question(
            "How does a kubelet learn that a pod was scheduled to its node?",
            choices=("It keeps a watch open on the API server for pods whose spec.nodeName is its node",
                     "The scheduler connects to the kubelet and hands it the pod",
                     "It reads etcd every few seconds",
                     "kube-proxy tells it"),
            answer="It keeps a watch open on the API server for pods whose spec.nodeName is its node",
            why="The scheduler only writes a Binding (which sets spec.nodeName) through the API server. The "
                "kubelet's watch, filtered on its node's name, delivers the change within moments; nobody "
                "pushes the pod to the node.",
        ),
        Question(
            "What does kube-proxy do?",
            choices=("It starts the pods' containers",
                     "It programs its node's packet rules (iptables, IPVS or nftables) so that traffic to a "
                     "Service's virtual IP reaches one of the Service's ready pods",
                     "It answers DNS queries for Service names",
                     "It gives each pod its IP address"),
            answer="It programs its node's packet rules (iptables, IPVS or nftables) so that traffic to a "
                   "Service's virtual IP reaches one of the Service's ready pods",
            why="kube-proxy watches Services and EndpointSlices and turns them into rules; packets do not pass "
                "through a kube-proxy process in these modes. Service names are resolved by the cluster DNS "
                "(CoreDNS, an add-on), pod IPs come from the CNI plugin, containers from the container runtime.",
        ),
        Question(
            "Since Kubernetes 1.24, how does a kubelet start containers?",
            choices=("Through the Docker Engine, with the dockershim built into the kubelet",
                     "By forking the container's processes itself",
                     "The API server starts them on the node",
                     "Through the CRI, a gRPC API that containerd and CRI-O implement"),
            answer="Through the CRI, a gRPC API that containerd and CRI-O implement",
            why="Kubernetes 1.24 removed the dockershim. The kubelet speaks only the Container Runtime "
                "Interface; Docker Engine still works through the separate cri-dockerd adapter.",
        ),
    ),
)
