"""Lab T1 (troubleshooting): a pod that keeps crashing.

The Deployment ``web`` runs a small start script that checks its configuration before it serves:
``LISTEN_PORT`` comes from the ConfigMap ``web-config``, whose value has a typo (the letter O for a
zero). The script prints why and exits 1; the kubelet restarts it with a growing back-off
(``CrashLoopBackOff``). The logs say why, ``kubectl describe pod`` where the variable comes from.
"""

from __future__ import annotations

import time
from typing import Any

from labkit.apimachinery.timeutil import now_utc, parse_time
from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs import common as t
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "T1", "T1 · A pod that keeps crashing", "05-troubleshooting/T1-crashloop.ipynb",
    exercises={"crashloop": "web runs"},
    questions=(
        Question("A container exits with code 1 right after it starts, again and again. Where do you find "
                 "out why first?",
                 choices=("the scheduler's events for the pod", "kubectl logs, with --previous",
                          "the node's conditions and its kubelet's health",
                          "the Deployment's rollout history and its ReplicaSets"),
                 answer="kubectl logs, with --previous",
                 why="The kubelet only sees an exit code; the reason is whatever the program printed before it "
                     "exited, kept in the container's log. --previous shows the attempt before the current one."),
        Question("What does CrashLoopBackOff mean?",
                 choices=("the image could not be pulled from its registry",
                          "the pod fits on no node and waits for the scheduler",
                          "the container keeps exiting; the kubelet waits longer before each restart",
                          "the node ran out of memory and killed the container"),
                 answer="the container keeps exiting; the kubelet waits longer before each restart",
                 why="It is a waiting reason, not an error of its own: the kubelet restarts a failed container "
                     "after 10 s, then 20 s, 40 s ... up to 5 minutes, and shows CrashLoopBackOff meanwhile."),
        Question("You fixed a value in a ConfigMap that a container reads through env. When does the "
                 "running container see it?",
                 choices=("at once: the kubelet watches the ConfigMap and updates the environment",
                          "within a minute, at the kubelet's next sync", "when a new container starts",
                          "never: the Deployment must be deleted and created again"),
                 answer="when a new container starts",
                 why="Environment variables are set when the container is created. A crash-looping container "
                     "picks the new value at its next restart; kubectl rollout restart replaces the pods now."),
    ),
)

APP, CONFIG, REPLICAS = "web", "web-config", 2
BAD_PORT, GOOD_PORT = "8O8O", "8080"
#: a container must have run this long, Ready, to count as staying up (a crashing one lives milliseconds)
STEADY = 1.5
#: the app: it checks its configuration before it serves, as many servers do
SCRIPT = """\
case "$LISTEN_PORT" in
  ''|*[!0-9]*) echo "web: fatal: LISTEN_PORT=\\"$LISTEN_PORT\\" is not a port number" >&2; exit 1;;
esac
www="${HOME%/}/www"; mkdir -p "$www" && echo "web on $HOSTNAME" > "$www/index.html"
echo "web: serving $www on $POD_IP:$LISTEN_PORT"
exec httpd -f -p "$POD_IP:$LISTEN_PORT" -h "$www"
"""


def deploy(cluster: Cluster) -> None:
    """Apply web and its configuration, and wait until its pods are crash-looping."""
    t.create(cluster, "v1", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIG},
                                           "data": {"LISTEN_PORT": BAD_PORT, "GREETING": "hello"}})
    env = [{"name": "LISTEN_PORT", "valueFrom": {"configMapKeyRef": {"name": CONFIG, "key": "LISTEN_PORT"}}},
           {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    t.create(cluster, "apps/v1", "deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}},
                              "spec": {"containers": [{"name": APP, "image": "busybox:1.36",
                                                       "command": ["sh", "-c", SCRIPT], "env": env,
                                                       "ports": [{"containerPort": int(GOOD_PORT)}]}]}}}})

    def backing_off() -> bool:
        pods = t.live_pods(cluster, f"app={APP}")
        return len(pods) == REPLICAS and all(
            (_status(p).get("state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff" for p in pods)

    t.wait_until("the web pods to start", backing_off)


def _status(pod: Any) -> dict[str, Any]:
    return next((s for s in pod.get("status", {}).get("containerStatuses") or [] if s["name"] == APP), {})


def _up_for(status: dict[str, Any]) -> float:
    """How long the container has been running (0 when it is not)."""
    started = parse_time((status.get("state", {}).get("running") or {}).get("startedAt"))
    return (now_utc() - started).total_seconds() if started else 0.0


def _pod_problems(pod: Any) -> list[str]:
    name, status = pod["metadata"]["name"], _status(pod)
    state = status.get("state", {})
    last = (status.get("lastState", {}).get("terminated") or {}).get("exitCode")
    exited = f", last exit code {last}" if last is not None else ""
    if "waiting" in state:
        return [f"pod {name}: container {APP} is waiting ({state['waiting'].get('reason', '')}) after "
                f"{status.get('restartCount', 0)} restarts{exited}"]
    if "terminated" in state:
        return [f"pod {name}: container {APP} exited with code {state['terminated'].get('exitCode')}"]
    if "running" not in state:
        return [f"pod {name}: container {APP} has not started yet"]
    if not t.is_ready(pod):
        return [f"pod {name}: container {APP} runs but the pod is not Ready"]
    return []


def crashing(cluster: Cluster) -> Exercise:
    """web's two pods Ready, each container up for a while."""

    def check() -> list[str]:
        deployment = t.get(cluster, "apps/v1", "deployments", APP)
        if deployment is None:
            return [f"there is no Deployment {APP}: the task is to make it run, not to remove it"]
        problems = []
        if deployment["spec"].get("replicas", 1) != REPLICAS:
            problems.append(f"{APP} has {deployment['spec'].get('replicas', 1)} replicas: it needs {REPLICAS}")
        pods = t.live_pods(cluster, f"app={APP}")
        young = [_up_for(_status(p)) for p in pods if "running" in _status(p).get("state", {})]
        if young and min(young) < STEADY:  # just started: see whether it stays up
            time.sleep(STEADY - min(young))
            pods = t.live_pods(cluster, f"app={APP}")
        for pod in pods:
            problems += _pod_problems(pod)
        ready = sum(1 for p in pods if t.is_ready(p) and not _pod_problems(p))
        if ready < REPLICAS:
            problems.append(f"{ready} of {REPLICAS} {APP} pods are Ready and staying up")
        return problems

    return LESSON.exercise(
        "crashloop",
        task=f"""
            The `{APP}` pods never become Ready: they start, stop, and start again. Find out why, fix the
            cause, and get both replicas Ready and staying up. Keep the Deployment and its {REPLICAS} replicas.
        """,
        check=check,
        hint=[
            "A container that keeps restarting almost always says why on its way out. What did it print?",
            "`kubectl logs <pod>` shows what the container printed (`--previous`: the attempt before). Then "
            "`kubectl describe pod <pod>`: its command, its last exit code, and where each environment "
            "variable comes from.",
            f"The script exits 1 because `LISTEN_PORT` is `{BAD_PORT}`: the letter O, not a zero. The value "
            f"comes from the ConfigMap `{CONFIG}`. Fix it there: "
            f"`kubectl patch configmap {CONFIG} -p '{{\"data\":{{\"LISTEN_PORT\":\"{GOOD_PORT}\"}}}}'`. A "
            f"container reads its environment when it starts: the next restart picks the new value up; "
            f"`kubectl rollout restart deployment/{APP}`, or deleting the pods, replaces them now.",
        ],
        solution=f'''
            sh = get_ipython().system  # what `!` does in a cell: run a command, its output appears as it comes
            sh("""kubectl patch configmap {CONFIG} -p '{{"data": {{"LISTEN_PORT": "{GOOD_PORT}"}}}}'""")
            sh("kubectl delete pods -l app={APP}")  # their replacements read the fixed value as they start
            sh("kubectl rollout status deployment/{APP} --timeout=90s")
        ''',
    )
