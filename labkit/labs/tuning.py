"""Exercises of notebook 6.2 (performance tuning): requests sized to a quota, and an autoscaler that
holds CPU near its target. Both run on the notebook's sim cluster, whose pods use what their
``labkit.dev/sim-cpu`` and ``labkit.dev/sim-memory`` annotations and a load generator say."""

from __future__ import annotations

from typing import Any

from labkit.apimachinery.resource import Quantity, format_quantity, parse_quantity
from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs.common import get
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "6.2", "6.2 · Performance tuning", "04-ha-security/6.2-performance-tuning.ipynb",
    exercises={"quota": "requests that fit the quota", "target": "hold CPU near 50 %"},
    questions=(
        Question(
            "The article's pod sets only limits (cpu 500m, memory 512Mi). What are its requests, and its QoS class?",
            choices=("No requests, so BestEffort", "Requests equal to the limits, so Guaranteed",
                     "Requests of zero, so Burstable"),
            answer="Requests equal to the limits, so Guaranteed",
            why="A container that names a limit and no request is given a request equal to the limit; with "
                "CPU and memory requests equal to their limits in every container, the pod is Guaranteed.",
        ),
        Question(
            "A container goes over its CPU limit, another over its memory limit. What happens to each?",
            choices=("Both are killed and restarted",
                     "Both are throttled until they use less",
                     "The first is throttled (CFS quota); the second is OOM-killed (exit 137) and restarted"),
            answer="The first is throttled (CFS quota); the second is OOM-killed (exit 137) and restarted",
            why="CPU time can be withheld: the kernel stops the cgroup for the rest of each 100 ms period. "
                "Memory cannot be withheld, so the kernel's OOM killer ends the container.",
        ),
        Question(
            "A namespace has a ResourceQuota on requests.cpu and no LimitRange. A pod that states no "
            "requests is created there. What happens?",
            choices=("It is refused with 403: the quota requires every pod to state requests.cpu",
                     "It runs, and counts as zero against the quota",
                     "It waits Pending until the quota has room"),
            answer="It is refused with 403: the quota requires every pod to state requests.cpu",
            why="The ResourceQuota admission plugin refuses a pod that does not say what it requests of a "
                "resource the quota tracks (must specify requests.cpu); a LimitRange's defaults would fill it in.",
        ),
        Question(
            "An HPA targets 50 % CPU. Two replicas run at 150 % of their requests. How many does it want?",
            choices=("3", "4", "6"),
            answer="6",
            why="desired = ceil(current replicas × current utilization / target) = ceil(2 × 150 / 50) = 6, "
                "within minReplicas and maxReplicas.",
        ),
        Question(
            "Which scoring strategy of NodeResourcesFit leaves whole nodes empty, for a cluster autoscaler "
            "to remove?",
            choices=("LeastAllocated, the default", "MostAllocated", "Neither: the scheduler always spreads"),
            answer="MostAllocated",
            why="MostAllocated prefers the fullest node that still fits, so pods pack onto few nodes; "
                "LeastAllocated prefers the emptiest node and spreads them.",
        ),
    ),
)

#: exercise 1: the Deployment and the quota of its namespace
WORKER_NAMESPACE, WORKER, QUOTA = "team-b", "worker", "compute"
WORKER_REPLICAS = 5
#: what each worker pod really uses (its sim annotations; ``kubectl top`` shows it)
WORKER_USES = {"cpu": "180m", "memory": "150Mi"}
QUOTA_HARD = {"requests.cpu": "1", "requests.memory": "1Gi"}
#: exercise 2: the Deployment under load, the CPU each replica requests, and the band around the target
API, API_REQUEST, TARGET = "api", "200m", 50
BAND = (40, 60)


def _amount(value: str) -> Any:
    return parse_quantity(value).amount


def fit_quota(cluster: Cluster) -> Exercise:
    """The ``worker`` Deployment's 5 replicas fit ``team-b``'s quota, each requesting what it uses."""

    def check() -> list[str]:
        quota = get(cluster, "v1", "resourcequotas", QUOTA, namespace=WORKER_NAMESPACE)
        if quota is None:
            return [f"the ResourceQuota {QUOTA} in {WORKER_NAMESPACE} is gone: the exercise is to fit inside it"]
        hard = (quota.get("spec") or {}).get("hard") or {}
        problems = [f"the quota's {k} is {hard.get(k)}, not {v}: fit the workload to the quota, not the other way"
                    for k, v in QUOTA_HARD.items() if k not in hard or _amount(hard[k]) != _amount(v)]
        deployment = get(cluster, "apps/v1", "deployments", WORKER, namespace=WORKER_NAMESPACE)
        if deployment is None:
            return [*problems, f"there is no Deployment {WORKER} in {WORKER_NAMESPACE}"]
        replicas = deployment["spec"].get("replicas", 1)
        if replicas != WORKER_REPLICAS:
            problems.append(f"{WORKER} has {replicas} replicas: it needs {WORKER_REPLICAS}")
        containers = deployment["spec"]["template"]["spec"]["containers"]
        total: dict[str, Quantity] = {}
        for c in containers:
            requests = (c.get("resources") or {}).get("requests") or {}
            for resource, used in WORKER_USES.items():
                if resource not in requests:
                    problems.append(f"container {c['name']} requests no {resource}: the quota refuses such a pod")
                    continue
                asked = parse_quantity(requests[resource])
                total[resource] = Quantity(total[resource].amount + asked.amount, asked.format) \
                    if resource in total else asked
                if _amount(requests[resource]) < _amount(used):
                    problems.append(f"container {c['name']} requests {resource}={requests[resource]} but uses "
                                    f"about {used} (kubectl top): the scheduler would count less than it takes")
        for resource, each in total.items():
            key = f"requests.{resource}"
            if each.amount * replicas > _amount(QUOTA_HARD[key]):
                problems.append(f"{replicas} replicas of {format_quantity(each)} request {key}="
                                f"{format_quantity(Quantity(each.amount * replicas, each.format))} in all, over "
                                f"the quota's {QUOTA_HARD[key]}")
        if problems:
            return problems
        status = deployment.get("status") or {}
        updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
        if (status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 1)
                or updated < WORKER_REPLICAS or available < WORKER_REPLICAS):
            problems.append(f"{updated} of {WORKER_REPLICAS} replicas run the new requests and {available} are "
                            f"available (the ReplicaSets' events say why: kubectl describe rs -n {WORKER_NAMESPACE})")
        return problems

    return LESSON.exercise(
        "quota",
        task=f"""
            Make all {WORKER_REPLICAS} replicas of `{WORKER}` run in `{WORKER_NAMESPACE}`, inside its quota
            (`requests.cpu: 1`, `requests.memory: 1Gi`), with each pod requesting at least what it
            uses (`kubectl top pods -n {WORKER_NAMESPACE}`). Change the Deployment, not the quota.
        """,
        check=check,
        hint=[
            "Divide the quota by the replicas: what may each pod request? Then compare that with what each "
            "really uses.",
            f"`kubectl top pods -n {WORKER_NAMESPACE}` shows the usage; `kubectl describe quota -n "
            f"{WORKER_NAMESPACE}` and `kubectl describe rs -n {WORKER_NAMESPACE}` show what is requested and "
            "why pods are refused. Mind the rollout too: a rolling update creates a new pod before it "
            "removes an old one, and the quota is full.",
            "Five pods in `requests.cpu: 1` leave 200m each, and `1Gi` leaves 204Mi; each uses about 180m "
            "and 150Mi, so requests of `cpu: 200m` and `memory: 200Mi` fit. Patch the Deployment with "
            "those requests and, in the same patch, `strategy: {type: Recreate, rollingUpdate: null}`, so "
            "the old pods go before the new ones come.",
        ],
        solution=f"""
            import json, subprocess, time
            patch = {{"spec": {{"strategy": {{"type": "Recreate", "rollingUpdate": None}},
                              "template": {{"spec": {{"containers": [{{"name": "{WORKER}", "resources": {{
                                  "requests": {{"cpu": "200m", "memory": "200Mi"}}}}}}]}}}}}}}}
            subprocess.run(["kubectl", "--kubeconfig", str(perf.kubeconfig), "-n", "{WORKER_NAMESPACE}", "patch",
                            "deployment", "{WORKER}", "-p", json.dumps(patch)], check=True, capture_output=True)
            subprocess.run(["kubectl", "--kubeconfig", str(perf.kubeconfig), "-n", "{WORKER_NAMESPACE}", "rollout",
                            "status", "deployment/{WORKER}", "--timeout=60s"], check=True, capture_output=True)
        """,
    )


def hold_target(cluster: Cluster) -> Exercise:
    """The HPA ``api`` holds the Deployment's average CPU utilization near 50 % under the load."""

    def check() -> list[str]:
        hpa = get(cluster, "autoscaling/v2", "horizontalpodautoscalers", API, namespace="default")
        if hpa is None:
            return [f"there is no HorizontalPodAutoscaler {API} in default"]
        problems = []
        ref = hpa["spec"]["scaleTargetRef"]
        if (ref.get("kind"), ref.get("name")) != ("Deployment", API):
            problems.append(f"HPA {API} scales {ref.get('kind')}/{ref.get('name')}, not Deployment/{API}")
        targets = [m["resource"]["target"].get("averageUtilization") for m in hpa["spec"].get("metrics") or []
                   if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"]
        if targets != [TARGET]:
            problems.append(f"HPA {API} targets a CPU utilization of {targets[0] if targets else 'nothing'}: "
                            f"keep the target at {TARGET} %")
        deployment = get(cluster, "apps/v1", "deployments", API, namespace="default")
        if deployment is None:
            return [*problems, f"there is no Deployment {API} in default"]
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            cpu = ((c.get("resources") or {}).get("requests") or {}).get("cpu")
            if cpu is None or _amount(cpu) != _amount(API_REQUEST):
                problems.append(f"container {c['name']} of {API} requests cpu={cpu}: leave it at {API_REQUEST}, "
                                f"and let the autoscaler add replicas")
        if problems:
            return problems
        status = hpa.get("status") or {}
        limited = next((c for c in status.get("conditions") or [] if c["type"] == "ScalingLimited"), None)
        if limited is not None and limited["status"] == "True":
            problems.append(f"the autoscaler is held back: ScalingLimited {limited['reason']} "
                            f"({limited['message']}); spec.maxReplicas is {hpa['spec']['maxReplicas']}")
        current = [m["resource"]["current"].get("averageUtilization") for m in status.get("currentMetrics") or []
                   if m.get("type") == "Resource"]  # kube writes [{"type": ""}] while it has no reading
        if not current or current[0] is None:
            problems.append(f"HPA {API} has no CPU reading yet (kubectl get hpa {API}: <unknown>)")
        elif not BAND[0] <= current[0] <= BAND[1]:
            problems.append(f"the pods use {current[0]} % of their CPU requests on average "
                            f"({status.get('currentReplicas')} replicas): it should settle between "
                            f"{BAND[0]} and {BAND[1]} % (wait a few seconds if it is still moving)")
        return problems

    return LESSON.exercise(
        "target",
        task=f"""
            Under the load, the pods of `{API}` use far more than the 50 % of their requests that the
            HPA aims at. Make the autoscaler hold their average utilization between {BAND[0]} and
            {BAND[1]} %: keep the target at {TARGET} %, and keep each pod's request at {API_REQUEST}.
        """,
        check=check,
        hint=[
            "The target is right and so are the requests: something stops the autoscaler from adding as "
            "many pods as it wants.",
            f"`kubectl describe hpa {API}`: its conditions say what holds it back (`ScalingLimited`), and "
            f"its spec says how far it may go.",
            f"The load is about 1 CPU; at {TARGET} % of {API_REQUEST} each pod should carry 100m, so about "
            f"10 pods. `ScalingLimited True TooManyReplicas` says `spec.maxReplicas` (3) stops it: raise it "
            f"to 10 or more (`kubectl patch hpa {API} -p '{{\"spec\": {{\"maxReplicas\": 12}}}}'`) and wait.",
        ],
        solution=f"""
            import json, subprocess, time
            subprocess.run(["kubectl", "--kubeconfig", str(perf.kubeconfig), "patch", "hpa", "{API}", "-p",
                            json.dumps({{"spec": {{"maxReplicas": 12}}}})], check=True, capture_output=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the autoscaler doubles the replicas at most each sync
                hpa = json.loads(subprocess.run(["kubectl", "--kubeconfig", str(perf.kubeconfig), "get", "hpa", "{API}",
                                                 "-o", "json"], check=True, capture_output=True, text=True).stdout)
                used = [m["resource"]["current"].get("averageUtilization")
                        for m in hpa.get("status", {{}}).get("currentMetrics") or [] if m.get("type") == "Resource"]
                if used and used[0] is not None and {BAND[0]} <= used[0] <= {BAND[1]}:
                    break
                time.sleep(0.5)
        """,
    )
