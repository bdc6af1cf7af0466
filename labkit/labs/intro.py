"""Recap questions of notebook 1 (what Kubernetes is): the desired state, its controllers, and where
Kubernetes came from. The notebook has no exercise."""

from __future__ import annotations

from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "1", "1 · What Kubernetes is", "01-intro/1-what-is-kubernetes.ipynb",
    questions=(
        Question(
            "What do you hand Kubernetes when you create a Deployment?",
            choices=("A list of commands to run on each machine, in order",
                     "The state you want (two copies of nginx), which controllers keep working towards",
                     "A script that the API server runs once and forgets",
                     "The name of the node each copy must run on"),
            answer="The state you want (two copies of nginx), which controllers keep working towards",
            why="Kubernetes is declarative: the Deployment is stored as written, and controllers compare it "
                "with what runs, again and again, and act on the difference. Where each pod runs is the "
                "scheduler's choice, not yours.",
        ),
        Question(
            "You delete one pod of a Deployment that asks for two. What brings a second pod back?",
            choices=("The kubelet restarts the deleted pod on the same node",
                     "kubectl sends the Deployment again",
                     "The scheduler copies the pod to another node",
                     "The ReplicaSet controller counts one pod fewer than its spec says and creates a new pod"),
            answer="The ReplicaSet controller counts one pod fewer than its spec says and creates a new pod",
            why="The Deployment owns a ReplicaSet, and the ReplicaSet controller keeps the number of its pods at "
                "spec.replicas. The new pod has a new name; the scheduler then picks its node and that node's "
                "kubelet runs it. A kubelet restarts containers of a pod that still exists, never a deleted pod.",
        ),
        Question(
            "What does `kubectl scale deployment web --replicas=3` do?",
            choices=("It starts a third container on a node itself",
                     "It asks the cloud for a new machine",
                     "It changes one field, spec.replicas, of the Deployment in the API server; controllers, "
                     "the scheduler and a kubelet do the rest",
                     "It restarts the two running pods with the new setting"),
            answer="It changes one field, spec.replicas, of the Deployment in the API server; controllers, "
                   "the scheduler and a kubelet do the rest",
            why="kubectl only writes the new wish (through the Deployment's scale subresource). The Deployment "
                "controller passes it to the ReplicaSet, the ReplicaSet controller creates one pod, the "
                "scheduler binds it, a kubelet starts it; the two running pods are left alone.",
        ),
        Question(
            "Where does Kubernetes come from?",
            choices=("Google wrote it anew from what it learned running Borg, opened it in 2014, and gave it to "
                     "the newly founded CNCF in 2015",
                     "It is Borg's own source code, published by Google in 2014",
                     "Docker Inc. wrote it and donated it to Google",
                     "The CNCF wrote it in 2014 as its first project"),
            answer="Google wrote it anew from what it learned running Borg, opened it in 2014, and gave it to "
                   "the newly founded CNCF in 2015",
            why="Kubernetes is new code (in Go) that carries the ideas of Google's internal cluster managers Borg "
                "and Omega. It was announced in June 2014; at version 1.0 (July 2015) Google gave it to the Cloud "
                "Native Computing Foundation, founded then under the Linux Foundation, whose first graduated "
                "project it became in 2018.",
        ),
    ),
)
