"""Exercise and recap of notebook 5.1 (control plane and data plane): the article's listing as data."""

from __future__ import annotations

from typing import Any

from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "5.1", "5.1 · Control plane and data plane", "03-node/5.1-control-and-data-plane.ipynb",
    exercises={"rows": "who runs where"},
    questions=(
        Question("The control plane is paused. What still works?",
                 choices=("running containers and traffic through Services kube-proxy already programmed",
                          "nothing: every packet goes through the API server",
                          "new pods are scheduled, but not started", "only kubectl get"),
                 answer="running containers and traffic through Services kube-proxy already programmed",
                 why="The data plane carries traffic on its own: containers run under their kubelet and runtime, "
                     "and the paths kube-proxy set up stay. What stops is every change: nothing is scheduled, "
                     "scaled or re-routed."),
        Question("Which component talks to etcd?",
                 choices=("only the API server", "the API server and the scheduler", "every kubelet",
                          "the controller manager, to save its decisions"),
                 answer="only the API server",
                 why="Everything else, control plane or node, reads and writes through the API server; etcd is its "
                     "private store."),
        Question("Where does the pod IP in the article's listing come from?",
                 choices=("the node: its network plugin chose it, and the kubelet reported it in the pod's status",
                          "the scheduler, when it bound the pod", "etcd allocates it",
                          "the API server, when the pod was created"),
                 answer="the node: its network plugin chose it, and the kubelet reported it in the pod's status",
                 why="The data plane makes the address; the control plane only stores what the kubelet reports, "
                     "which is what list_pod_for_all_namespaces reads back."),
    ),
)


def who_runs_where(core: Any, namespace: dict[str, Any]) -> Exercise:
    """``rows`` in the notebook: (name, node, IP) of every pod in ``default``, sorted; ``core`` is the
    notebook's ``CoreV1Api``."""

    def check() -> list[str]:
        got = namespace.get("rows")
        if got is None:
            return ["there is no variable `rows` yet"]
        if not isinstance(got, list) or not all(isinstance(r, tuple) and len(r) == 3 for r in got):
            return ["`rows` should be a list of (name, node, ip) tuples"]
        want = sorted((p.metadata.name, p.spec.node_name, p.status.pod_ip)
                      for p in core.list_namespaced_pod("default").items)
        problems = []
        if got != sorted(got):
            problems.append("`rows` is not sorted by pod name")
        missing, extra = set(want) - set(got), set(got) - set(want)
        if missing:
            problems.append(f"missing from `rows`: {sorted(missing)}")
        if extra:
            problems.append(f"in `rows` but not in namespace default (or wrong): {sorted(extra)}")
        return problems

    return LESSON.exercise(
        "rows",
        task="""
            Build `rows`: one tuple `(pod name, node name, pod IP)` for every pod in namespace
            `default` (not all namespaces), sorted by pod name.
        """,
        check=check,
        hint=[
            "Start from the article's loop; change what it lists and what it keeps for each pod.",
            "`v1.list_namespaced_pod(\"default\")` lists one namespace; the node is `i.spec.node_name`, the IP "
            "`i.status.pod_ip`; `sorted()` sorts tuples by their first item first.",
            "A sorted list of (metadata.name, spec.node_name, status.pod_ip) over the items of "
            "`v1.list_namespaced_pod(\"default\")`, assigned to `rows`.",
        ],
        solution="""
            rows = sorted((i.metadata.name, i.spec.node_name, i.status.pod_ip)
                          for i in v1.list_namespaced_pod("default").items)
        """,
    )
