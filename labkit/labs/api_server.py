"""Exercise and recap questions of notebook 3.1 (the API server): a pod created through the API with the
official Python client, and the request chain (authentication, authorization, admission)."""

from __future__ import annotations

from typing import Any

from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "3.1", "3.1 · The API server", "02-master/3.1-api-server.ipynb",
    exercises={"hello": "a pod through the API"},
    questions=(
        Question(
            "In which order does the API server handle a request that creates a pod?",
            choices=("Admission first, then authentication and authorization",
                     "Authentication, authorization, mutating admission, validation, validating admission, "
                     "then the write to etcd",
                     "Validation, then authentication, then the write; authorization comes later, when the pod runs",
                     "Authorization first, since it is the cheapest check"),
            answer="Authentication, authorization, mutating admission, validation, validating admission, "
                   "then the write to etcd",
            why="Who you are must be known before anything can decide what you may do; admission plugins then "
                "may change the object (mutating), the object is validated, and validating admission plugins "
                "may still refuse it. Only then is it stored. Reads pass authentication and authorization only.",
        ),
        Question(
            "A client certificate signed by the cluster's CA has CN=jane and O=dev. Who is its user?",
            choices=("The user jane in the group dev",
                     "The user dev in the group jane",
                     "Whoever the User object named jane says",
                     "The ServiceAccount jane in the namespace dev"),
            answer="The user jane in the group dev",
            why="The x509 authenticator takes the user name from the Common Name and the groups from the "
                "Organization fields. Kubernetes has no User objects: a user is whatever an authenticator says.",
        ),
        Question(
            "`kubectl get pods --as=jane` answers 403 Forbidden. What does that say?",
            choices=("jane's credentials are invalid",
                     "The request body was malformed",
                     "The API server could not reach etcd",
                     "jane was authenticated, but no Role or ClusterRole bound to her allows list on pods there"),
            answer="jane was authenticated, but no Role or ClusterRole bound to her allows list on pods there",
            why="401 Unauthorized means the server does not know who you are; 403 means it knows and the "
                "authorizer said no (admission plugins can also answer 403 on writes, a ResourceQuota for "
                "example). An invalid object is 422, an unreachable etcd a 5xx.",
        ),
        Question(
            "Why does deleting the ClusterRoleBinding cluster-admin not lock out a user in the group "
            "system:masters?",
            choices=("RBAC keeps its bindings cached for a day",
                     "The controller manager recreates the binding at once",
                     "The API server allows system:masters before RBAC is asked; only a credential without "
                     "that group takes the power away",
                     "It does lock the user out, at the next request"),
            answer="The API server allows system:masters before RBAC is asked; only a credential without "
                   "that group takes the power away",
            why="system:masters is hard-wired as a superuser group in front of every authorizer (labkit does the "
                "same). Such a client certificate stays all-powerful until it expires, which is why kubeadm "
                "since 1.29 gives admin.conf the group kubeadm:cluster-admins, bound by RBAC, and keeps "
                "system:masters for super-admin.conf.",
        ),
        Question(
            "What does `v1.list_pod_for_all_namespaces()` send?",
            choices=("A kubectl command, run in the background",
                     "An HTTPS GET of /api/v1/pods to the API server, with the kubeconfig's credentials",
                     "A range read straight from etcd",
                     "One request to each kubelet"),
            answer="An HTTPS GET of /api/v1/pods to the API server, with the kubeconfig's credentials",
            why="The Python client builds the same REST request kubectl would (kubectl -v=6 shows its URLs); it "
                "reads the same kubeconfig but does not run kubectl. The API server answers from its watch "
                "cache or etcd; kubelets are not asked.",
        ),
    ),
)


def hello(v1: Any) -> Exercise:
    """The pod ``default/hello`` (image ``labkit/hello:1``, label ``tier=frontend``), created with ``v1``,
    the notebook's ``kubernetes.client.CoreV1Api``."""
    from kubernetes import client

    def check() -> list[str]:
        try:
            pod = v1.read_namespaced_pod("hello", "default")
        except client.ApiException as e:
            return [f"pod default/hello: {e.status} {e.reason}"]
        problems = []
        image = pod.spec.containers[0].image
        if image != "labkit/hello:1":
            problems.append(f"its container's image is {image!r}, want 'labkit/hello:1'")
        tier = (pod.metadata.labels or {}).get("tier")
        if tier != "frontend":
            problems.append(f"label tier is {tier!r}, want 'frontend'")
        return problems

    return LESSON.exercise(
        "hello",
        task="""
            With `v1.create_namespaced_pod`, create the pod `hello` in `default`: one container, image
            `labkit/hello:1`, label `tier=frontend`. Use the Python client only, no `kubectl`.
        """,
        check=check,
        hint=[
            "The article's snippet reads pods through `v1`; the same object creates them.",
            "`v1.create_namespaced_pod(namespace, body)` takes the pod as a plain dict shaped like a manifest, "
            "as in the article's §4.1 example: `apiVersion`, `kind`, `metadata`, `spec.containers`.",
            "Call `v1.create_namespaced_pod` with the namespace `default` and a body whose `metadata` holds the "
            "name `hello` and the labels `{\"tier\": \"frontend\"}`, and whose `spec.containers` is a list of "
            "one container with a name of your choice and the image `labkit/hello:1`.",
        ],
        solution="""
            v1.create_namespaced_pod(namespace="default", body={
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "hello", "labels": {"tier": "frontend"}},
                "spec": {"containers": [{"name": "hello", "image": "labkit/hello:1"}]},
            })
        """,
    )
