"""The capstone (course/06-capstone): a two-tier application deployed, made to survive a node's and a
control-plane member's loss, opened read-only to one user, and autoscaled; one exercise per step.

The application is two small Python programs (:data:`KV_PY`, :data:`WEB_PY`) in a ConfigMap, run by
the ``python`` image (on the process runtime, this machine's interpreter: :mod:`labkit.images.hostpython`):
``kv``, a StatefulSet of one pod that keeps counters in a file on its PersistentVolumeClaim, and
``web``, a Deployment behind a Service that counts each visit in kv and answers with the count and
its own pod's name. The notebook deploys kv (:data:`BACKEND`); the learner writes the rest. Each check
reads the cluster through the admin's client and, where the claim is about behaviour, sends real
requests: through the Service (:meth:`labkit.Cluster.generate_load`) or as the user under test.
"""

from __future__ import annotations

import textwrap
import time
from typing import Any

from labkit.apimachinery.resource import parse_quantity
from labkit.client import APIStatusError, Client, resource_path
from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs.common import get
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "C", "Capstone · A small application that survives", "06-capstone/capstone.ipynb",
    exercises={"deploy": "the web tier in front of kv", "node": "web outlives a node",
               "member": "the app is managed with a member lost", "read-only": "dana may look, not touch",
               "autoscale": "web follows its load"},
    questions=(
        Question("A node's kubelet stops, but its machine still runs. What happens to the web pod there?",
                 ("It is killed at once, and the ReplicaSet starts a new one",
                  "Its process keeps running; the node turns Unknown after the grace period, the pod is marked "
                  "not ready (the Service drops it), and after its toleration it is evicted and replaced",
                  "Nothing: a pod stays bound to its node until someone deletes it"),
                 "Its process keeps running; the node turns Unknown after the grace period, the pod is marked "
                 "not ready (the Service drops it), and after its toleration it is evicted and replaced",
                 "Nobody on the control plane can stop a process on a silent node: the node lifecycle controller "
                 "only sees the Lease stop moving. It marks the node Unknown, the pods NotReady, taints the node; "
                 "the taint eviction deletes the pods once their tolerationSeconds run out (300 s by default)."),
        Question("Why was the failed node chosen among those that do not run kv-0?",
                 ("A StatefulSet does not replace a pod until the old one is known to be gone, and nobody can "
                  "confirm that on a silent node",
                  "kv-0 would have moved too, just more slowly",
                  "Pods of a StatefulSet ignore taints"),
                 "A StatefulSet does not replace a pod until the old one is known to be gone, and nobody can "
                 "confirm that on a silent node",
                 "At most one pod per identity: kv-0 stays Terminating until its kubelet confirms or someone "
                 "removes the Node (or taints it node.kubernetes.io/out-of-service); on a real cluster its local "
                 "volume is on that node too. A stateful tier needs replication of its own to survive a node."),
        Question("One of three control-plane members is lost. What still works?",
                 ("Only reads: etcd refuses writes until the member returns",
                  "Everything: the load balancer sends kubectl to the others, etcd keeps a quorum of 2, and the "
                  "scheduler and controller manager Leases move once they expire",
                  "Everything, without any pause: the Leases move at once"),
                 "Everything: the load balancer sends kubectl to the others, etcd keeps a quorum of 2, and the "
                 "scheduler and controller manager Leases move once they expire",
                 "Two of three is a majority, so writes go on. A crashed leader gives its Lease back to nobody: "
                 "the others wait until it expires (15 s in kube, 6 s here) before one takes over."),
        Question("dana's Role grants get, list and watch on the app's resources in shop. What does "
                 "`kubectl delete pod ... -n shop` as dana get?",
                 ("403 Forbidden, naming the user, verb, resource and namespace", "404 Not Found",
                  "401 Unauthorized"),
                 "403 Forbidden, naming the user, verb, resource and namespace",
                 "dana is authenticated (401 would mean she is not), and RBAC denies what no rule allows: "
                 "the API server answers 403 with a message saying who may not do what where."),
        Question("The HPA says `<unknown>/50%` and ScalingActive False. What is the usual cause?",
                 ("The Deployment has too few replicas", "The pods request no CPU, so there is nothing to "
                  "take a percentage of", "The load is too small"),
                 "The pods request no CPU, so there is nothing to take a percentage of",
                 "Utilization is usage divided by the request: without a CPU request the autoscaler cannot "
                 "compute it (FailedGetResourceMetric: missing request for cpu) and does nothing."),
    ))

NAMESPACE, USER = "shop", "dana"
WEB_REPLICAS, SCALED = 2, 3
#: the longest a web pod may stay on an unreachable or not-ready node (the default is 300 s)
MAX_TOLERATION = 5
#: what an HPA of web must allow at least: two replicas to outlive a node, room to grow
MIN_REPLICAS, MAX_REPLICAS_AT_LEAST = 2, 4

KV_PY = '''\
"""kv: counters over HTTP. GET /KEY reads one, POST /KEY/incr adds one; kept in DIR/kv.json."""
import http.server, json, os, pathlib, signal, sys, threading

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as PID 1 in a container, SIGTERM is ignored unless handled

path = pathlib.Path(sys.argv[1]) / "kv.json"
data = json.loads(path.read_text()) if path.exists() else {}
lock = threading.Lock()


class KV(http.server.BaseHTTPRequestHandler):
    def answer(self, value):
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        key = self.path.strip("/")
        self.answer({"ok": True} if key == "healthz" else {key: data.get(key, 0)})

    def do_POST(self):
        key = self.path.strip("/").removesuffix("/incr")
        with lock:
            data[key] = data.get(key, 0) + 1
            path.write_text(json.dumps(data))
            self.answer({key: data[key]})

    def log_message(self, *args):
        pass


print(f"kv: {path} on port 6379", flush=True)
http.server.ThreadingHTTPServer((os.environ.get("POD_IP", ""), 6379), KV).serve_forever()
'''

WEB_PY = '''\
"""web: counts each visit in kv, answers with the count and the pod that served it."""
import http.server, json, os, signal, sys, urllib.request

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as PID 1 in a container, SIGTERM is ignored unless handled

kv = f"http://{os.environ['KV_SERVICE_HOST']}:{os.environ['KV_SERVICE_PORT']}"
me = os.environ.get("POD_NAME", "web")


class Web(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        text = "ok\\n"
        if self.path != "/healthz":
            with urllib.request.urlopen(urllib.request.Request(f"{kv}/visits/incr", method="POST"), timeout=2) as a:
                text = f"visit {json.load(a)['visits']}, served by {me}\\n"
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"web: port 8080, visits counted in {kv}", flush=True)
http.server.ThreadingHTTPServer((os.environ.get("POD_IP", ""), 8080), Web).serve_forever()
'''


def _indented(code: str) -> str:
    return textwrap.indent(code, "    ")


BACKEND = f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: app, namespace: {NAMESPACE}}}
data:
  kv.py: |
{_indented(KV_PY)}
  web.py: |
{_indented(WEB_PY)}
---
apiVersion: v1
kind: Service
metadata: {{name: kv, namespace: {NAMESPACE}}}
spec:
  selector: {{app: kv}}
  ports: [{{port: 6379}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: kv, namespace: {NAMESPACE}}}
spec:
  serviceName: kv
  replicas: 1
  selector: {{matchLabels: {{app: kv}}}}
  template:
    metadata: {{labels: {{app: kv}}}}
    spec:
      containers:
      - name: kv
        image: python:3.12
        command: [python3, /app/kv.py, /data]
        env:
        - name: POD_IP
          valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
        ports: [{{containerPort: 6379}}]
        readinessProbe:
          httpGet: {{path: /healthz, port: 6379}}
          periodSeconds: 1
        volumeMounts:
        - {{name: app, mountPath: /app}}
        - {{name: data, mountPath: /data}}
      volumes:
      - name: app
        configMap: {{name: app}}
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 16Mi}}}}
"""

#: exercise 1's answer: the web tier (the solution applies it; the learner writes their own)
WEB = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  replicas: {WEB_REPLICAS}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: python:3.12
        command: [python3, /app/web.py]
        env:
        - name: POD_NAME
          valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
        - name: POD_IP
          valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
        ports: [{{containerPort: 8080}}]
        readinessProbe:
          httpGet: {{path: /healthz, port: 8080}}
          periodSeconds: 1
        volumeMounts:
        - {{name: app, mountPath: /app}}
      volumes:
      - name: app
        configMap: {{name: app}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def _pods(cluster: Cluster, selector: str) -> list[dict[str, Any]]:
    """The live pods of ``selector`` in shop (not deleted, not on their way out)."""
    pods = cluster.run(cluster.admin().get(resource_path("v1", "pods", namespace=NAMESPACE),
                                           labelSelector=selector))["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _rollout_problems(deployment: dict[str, Any], want: int) -> list[str]:
    """What keeps a Deployment from running ``want`` up-to-date, available replicas."""
    status = deployment.get("status") or {}
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    if (status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 1)
            or updated < want or available < want or status.get("replicas", 0) > want):
        return [f"the rollout of web is not done: {updated} of {want} replicas updated, {available} available "
                f"(kubectl rollout status deployment/web -n {NAMESPACE}; kubectl describe pods -l app=web "
                f"-n {NAMESPACE} says why)"]
    return []


def serves(cluster: Cluster, requests: int = 4, patience: float = 5.0) -> list[str]:
    """Send ``requests`` through Service web; what went wrong, or [] when each counted a visit in kv. Tried
    again for ``patience`` seconds: kube-proxy learns of new endpoints a moment after the pods are ready."""
    deadline = time.monotonic() + patience
    while True:
        report = cluster.generate_load("web", namespace=NAMESPACE, requests=requests, duration=10, timeout=3)
        wrong = [r for r in report.results if not r.ok or not r.answer.body.startswith("visit ")]
        if not wrong:
            return []
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    first = wrong[0].answer
    said = first.error or f"HTTP {first.status}: {first.body[:80]!r}"
    return [f"{len(wrong)} of {len(report.results)} requests to Service web did not come back with a visit "
            f"counted in kv (first: {said})"]


# --- exercise 1 -----------------------------------------------------------------------------------------


def deploy(cluster: Cluster) -> Exercise:
    """web: a Deployment of two ready replicas of web.py, behind a Service on port 80, counting visits in kv."""

    def check() -> list[str]:
        deployment = get(cluster, "apps/v1", "deployments", "web", namespace=NAMESPACE)
        if deployment is None:
            return [f"there is no Deployment web in {NAMESPACE}"]
        problems = []
        spec = deployment["spec"]
        if spec.get("replicas", 1) != WEB_REPLICAS:
            problems.append(f"web has {spec.get('replicas', 1)} replica(s): run {WEB_REPLICAS}, so that one "
                            "can be lost")
        containers = spec["template"]["spec"]["containers"]
        if not any(c.get("readinessProbe") for c in containers):
            problems.append("web's container has no readinessProbe: the Service would send requests to a pod "
                            "before it listens (probe GET /healthz on 8080)")
        service = get(cluster, "v1", "services", "web", namespace=NAMESPACE)
        if service is None:
            return [*problems, f"there is no Service web in {NAMESPACE}"]
        ports = service["spec"].get("ports") or []
        if not any(p.get("port") == 80 and p.get("targetPort") in (8080, "8080") for p in ports):
            problems.append("Service web must listen on port 80 and send to the pods' port 8080 (targetPort)")
        labels = spec["template"].get("metadata", {}).get("labels") or {}
        selector = service["spec"].get("selector") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append(f"Service web selects {selector or 'nothing'}, which does not match web's pod "
                            f"labels {labels}")
        problems += _rollout_problems(deployment, WEB_REPLICAS)
        return problems or serves(cluster)

    return LESSON.exercise(
        "deploy",
        task=f"""
            Deploy the web tier in `{NAMESPACE}`: a Deployment `web` of {WEB_REPLICAS} replicas running
            `python3 /app/web.py` in the `python:3.12` image, with the ConfigMap `app` mounted at
            `/app`, listening on 8080, ready only once `GET /healthz` answers; and a Service `web` on
            port 80 in front of it. web.py binds `$POD_IP` and names itself after `$POD_NAME`: give it
            both from the downward API.
        """,
        check=check,
        hint=[
            "Start from kv's StatefulSet above: the same image, env and volume; a Deployment instead, "
            "its own labels, port 8080, and a Service with `targetPort: 8080`.",
            "Each piece the check names is one field: `spec.replicas`, `containers[0].readinessProbe.httpGet`, "
            "`env[].valueFrom.fieldRef.fieldPath` (`metadata.name`, `status.podIP`), `volumes[].configMap`, "
            "the Service's `selector` and `ports`. Apply with `kubectl(\"apply\", \"-f\", \"-\", stdin=...)`.",
            "A Deployment `web` (replicas 2, labels `app: web`, container `web`: image `python:3.12`, "
            "command `[python3, /app/web.py]`, env POD_NAME and POD_IP, port 8080, readinessProbe httpGet "
            "/healthz 8080, volumeMount app at /app; volume app from ConfigMap app) and a Service `web` "
            "(selector `app: web`, port 80, targetPort 8080); then wait for the rollout.",
        ],
        solution="""
            print(kubectl("apply", "-f", "-", stdin=lab.WEB))
            follow("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
        """,
    )


# --- exercise 2 -----------------------------------------------------------------------------------------


def _tolerated(tolerations: list[dict[str, Any]], key: str) -> float | None:
    """How long a pod with ``tolerations`` stays on a node tainted ``key:NoExecute``: None when none of
    them matches (the DefaultTolerationSeconds admission plugin then gives the pod 300 s), ``inf`` forever."""
    matching = [t for t in tolerations if t.get("effect") in (None, "", "NoExecute")
                and (t.get("key") == key or (t.get("operator") == "Exists" and not t.get("key")))]
    if not matching:
        return None
    return max(float("inf") if t.get("tolerationSeconds") is None else float(t["tolerationSeconds"]) for t in matching)


def _spread(template: dict[str, Any]) -> bool:
    """Whether the template keeps its replicas on different nodes (a hard spread or anti-affinity)."""
    spec = template.get("spec") or {}
    for c in spec.get("topologySpreadConstraints") or []:
        if c.get("topologyKey") == "kubernetes.io/hostname" and c.get("whenUnsatisfiable") == "DoNotSchedule" \
                and c.get("maxSkew") == 1:
            return True
    anti = ((spec.get("affinity") or {}).get("podAntiAffinity") or {})
    return any(term.get("topologyKey") == "kubernetes.io/hostname"
               for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])


def outlive_a_node(cluster: Cluster) -> Exercise:
    """web's replicas run on different nodes and leave an unreachable node within seconds."""

    def check() -> list[str]:
        deployment = get(cluster, "apps/v1", "deployments", "web", namespace=NAMESPACE)
        if deployment is None:
            return [f"there is no Deployment web in {NAMESPACE}"]
        template, problems = deployment["spec"]["template"], []
        if not _spread(template):
            problems.append("nothing keeps web's replicas on different nodes: add a topologySpreadConstraint "
                            "(topologyKey kubernetes.io/hostname, maxSkew 1, whenUnsatisfiable DoNotSchedule) "
                            "or a required podAntiAffinity on kubernetes.io/hostname")
        tolerations = template["spec"].get("tolerations") or []
        for taint in ("unreachable", "not-ready"):
            key = f"node.kubernetes.io/{taint}"
            seconds = _tolerated(tolerations, key)
            if seconds is None:
                problems.append(f"web's pods tolerate {key} for 300 s (the default that the "
                                f"DefaultTolerationSeconds admission plugin gives every pod): tolerate it "
                                f"(NoExecute) for at most {MAX_TOLERATION} s, so they move within seconds")
            elif seconds > MAX_TOLERATION:
                how_long = "ever" if seconds == float("inf") else f"{seconds:g} s"
                problems.append(f"web's pods tolerate {key} for {how_long}: at most {MAX_TOLERATION} s, so "
                                f"they move within seconds")
        if problems:
            return problems
        problems = _rollout_problems(deployment, deployment["spec"].get("replicas", 1))
        nodes = [p["spec"].get("nodeName") for p in _pods(cluster, "app=web") if _ready(p)]
        if len(set(nodes)) < len(nodes):
            problems.append(f"two ready web pods share a node ({', '.join(sorted(map(str, nodes)))})")
        return problems

    return LESSON.exercise(
        "node",
        task=f"""
            Make web outlive a node: its replicas on different nodes (the scheduler must never put two
            on one), and its pods evicted from an unreachable or not-ready node after at most
            {MAX_TOLERATION} s instead of the default 300 s. Change the Deployment, then wait for the
            rollout.
        """,
        check=check,
        hint=[
            "Two fields of the pod template: one says where replicas may go relative to each other, the "
            "other how long a pod stays on a tainted node.",
            "`spec.template.spec.topologySpreadConstraints` (`kubectl explain pod.spec.topologySpreadConstraints`) "
            "and `spec.template.spec.tolerations` for the taints `node.kubernetes.io/unreachable` and "
            "`node.kubernetes.io/not-ready` (effect NoExecute), as notebook 5.2 did.",
            "A constraint `{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, "
            "labelSelector: {matchLabels: {app: web}}}` and two tolerations `{key: node.kubernetes.io/unreachable, "
            "operator: Exists, effect: NoExecute, tolerationSeconds: 2}` (the same for not-ready), in one "
            "`kubectl patch deployment web -n shop -p ...`; then `rollout status`.",
        ],
        solution="""
            import json
            tolerate = [{"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 2} for taint in ("unreachable", "not-ready")]
            spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
                       "labelSelector": {"matchLabels": {"app": "web"}}}]
            print(kubectl("patch", "deployment", "web", "-n", "shop", "-p", json.dumps(
                {"spec": {"template": {"spec": {"tolerations": tolerate, "topologySpreadConstraints": spread}}}})))
            follow("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
        """,
    )


# --- exercise 3 -----------------------------------------------------------------------------------------


def lose_a_member(cluster: Cluster) -> Exercise:
    """The member whose controller manager leads is killed, and web is scaled to 3 anyway."""
    control_plane = cluster.control_plane
    leader = control_plane.lease_holder("kube-controller-manager")

    def check() -> list[str]:
        if control_plane.member(leader).running:
            return [f"{leader}, whose controller manager holds the kube-controller-manager Lease, still runs: "
                    f"kill it"]
        problems = []
        holder = control_plane.lease_holder("kube-controller-manager")
        if holder in ("", leader):
            problems.append(f"no other member's controller manager holds the Lease yet (holder: {holder or '-'}): "
                            f"it expires 6 s after the last renewal")
        deployment = get(cluster, "apps/v1", "deployments", "web", namespace=NAMESPACE)
        if deployment is None:
            return [*problems, f"there is no Deployment web in {NAMESPACE}"]
        if deployment["spec"].get("replicas", 1) != SCALED:
            return [*problems, f"web has {deployment['spec'].get('replicas', 1)} replicas: scale it to {SCALED} "
                               f"with kubectl, through the load balancer"]
        return problems + _rollout_problems(deployment, SCALED)

    return LESSON.exercise(
        "member",
        task=f"""
            Kill the control-plane member whose controller manager leads now (find it: the Lease
            `kube-controller-manager` in `kube-system` names it), then scale web to {SCALED} replicas with
            kubectl. The check wants the member down, another member's controller manager in charge, and
            {SCALED} replicas available.
        """,
        check=check,
        hint=[
            "Every member runs a controller manager, but only the Lease holder works. Who holds it?",
            "`kubectl get lease kube-controller-manager -n kube-system` (its holderIdentity is "
            "`<member>_<uuid>`), or `cp.lease_holder(\"kube-controller-manager\")`; `cp.kill(name)` crashes "
            "that member. Then `kubectl scale`.",
            f"`cp.kill(cp.lease_holder(\"kube-controller-manager\"))`, then `kubectl scale deployment web -n shop "
            f"--replicas={SCALED}` and `kubectl rollout status`: the new pods come once the Lease has moved.",
        ],
        solution=f"""
            cp.kill(cp.lease_holder("kube-controller-manager"))
            print(kubectl("scale", "deployment", "web", "-n", "shop", "--replicas={SCALED}"))
            follow("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
        """,
    )


# --- exercise 4 -----------------------------------------------------------------------------------------

#: what dana must be able to read in shop: (API group, resource)
READABLE = (("", "pods"), ("", "services"), ("apps", "deployments"), ("apps", "statefulsets"),
            ("autoscaling", "horizontalpodautoscalers"))


def _may(user: Client, cluster: Cluster, verb: str, group: str, resource: str, namespace: str = NAMESPACE) -> bool:
    review = cluster.run(user.create(resource_path("authorization.k8s.io/v1", "selfsubjectaccessreviews"), {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": namespace}}}))
    return bool(review["status"].get("allowed"))


def _refused(cluster: Cluster, request: Any) -> str:
    """"" when the request was refused with 403, else what happened instead."""
    try:
        cluster.run(request)
    except APIStatusError as e:
        return "" if e.code == 403 else f"{e.code} {e.status.get('message', '')}"
    return "it succeeded (as a dry run: nothing changed)"


def read_only(cluster: Cluster) -> Exercise:
    """dana gets, lists and watches the app's objects in shop, and every write of hers is refused with 403."""
    dana = cluster.client_for(USER)

    def check() -> list[str]:
        problems = []
        for group, resource in READABLE:
            api = f"{resource}.{group}" if group else resource
            missing = [verb for verb in ("get", "list", "watch") if not _may(dana, cluster, verb, group, resource)]
            if missing:
                problems.append(f"{USER} may not {', '.join(missing)} {api} in {NAMESPACE}")
        if not problems:  # her own requests, as kubectl would send them
            try:
                cluster.run(dana.get(resource_path("v1", "pods", namespace=NAMESPACE)))
            except APIStatusError as e:
                problems.append(f"{USER}'s list of pods in {NAMESPACE} was answered {e.code}")
        dry = {"dryRun": "All"}
        writes = {
            f"delete a pod in {NAMESPACE}": dana.request(
                "DELETE", resource_path("v1", "pods", namespace=NAMESPACE, name="kv-0"), params=dry),
            f"scale Deployment web in {NAMESPACE}": dana.request(
                "PATCH", resource_path("apps/v1", "deployments", namespace=NAMESPACE, name="web", subresource="scale"),
                body={"spec": {"replicas": 1}}, params=dry, content_type="application/merge-patch+json"),
            f"create a ConfigMap in {NAMESPACE}": dana.request(
                "POST", resource_path("v1", "configmaps", namespace=NAMESPACE),
                body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dana-was-here"}}, params=dry),
        }
        for what, request in writes.items():
            if outcome := _refused(cluster, request):
                problems.append(f"{USER} tried to {what}: {outcome}; she should be refused with 403 Forbidden")
        if _may(dana, cluster, "list", "", "pods", namespace="default"):
            problems.append(f"{USER} may list pods in default: her access should stop at {NAMESPACE} (a Role and "
                            f"a RoleBinding in {NAMESPACE}, not a ClusterRoleBinding)")
        return problems

    return LESSON.exercise(
        "read-only",
        task=f"""
            Give the user `{USER}` read-only access to the app: get, list and watch on pods, services,
            deployments, statefulsets and horizontalpodautoscalers in `{NAMESPACE}`, and nothing else,
            anywhere. The check asks the API server as `{USER}` (her own certificate) and tries three
            writes as her (dry runs): each must come back 403.
        """,
        check=check,
        hint=[
            "A Role says what may be done in one namespace; a RoleBinding gives it to someone. 6.3 did it "
            "for one resource.",
            f"`kubectl create role app-reader -n {NAMESPACE} --verb=get,list,watch --resource=...` takes several "
            "resources at once (`deployments.apps`, `horizontalpodautoscalers.autoscaling` ...); "
            f"`kubectl create rolebinding ... --role=app-reader --user={USER}`. Try it with "
            f"`kubectl auth can-i delete pods -n {NAMESPACE} --as={USER}`.",
            f"`kubectl create role app-reader -n {NAMESPACE} --verb=get,list,watch --resource=pods,services,"
            f"deployments.apps,statefulsets.apps,horizontalpodautoscalers.autoscaling`, then `kubectl create "
            f"rolebinding app-reader -n {NAMESPACE} --role=app-reader --user={USER}`.",
        ],
        solution=f"""
            print(kubectl("create", "role", "app-reader", "-n", "{NAMESPACE}", "--verb=get,list,watch",
                          "--resource=pods,services,deployments.apps,statefulsets.apps,"
                          "horizontalpodautoscalers.autoscaling"))
            print(kubectl("create", "rolebinding", "app-reader", "-n", "{NAMESPACE}", "--role=app-reader",
                          "--user={USER}"))
        """,
    )


# --- exercise 5 -----------------------------------------------------------------------------------------


def autoscale(cluster: Cluster) -> Exercise:
    """An HPA keeps web's CPU near a target between 2 and at least 4 replicas, and has a reading."""

    def check() -> list[str]:
        hpa = get(cluster, "autoscaling/v2", "horizontalpodautoscalers", "web", namespace=NAMESPACE)
        if hpa is None:
            return [f"there is no HorizontalPodAutoscaler web in {NAMESPACE}"]
        spec, problems = hpa["spec"], []
        ref = spec["scaleTargetRef"]
        if (ref.get("kind"), ref.get("name")) != ("Deployment", "web"):
            problems.append(f"HPA web scales {ref.get('kind')}/{ref.get('name')}, not Deployment/web")
        if spec.get("minReplicas", 1) < MIN_REPLICAS:
            problems.append(f"its minReplicas is {spec.get('minReplicas', 1)}: with one replica, a lost node "
                            f"takes the app down; keep at least {MIN_REPLICAS}")
        if spec["maxReplicas"] < MAX_REPLICAS_AT_LEAST:
            problems.append(f"its maxReplicas is {spec['maxReplicas']}: leave room to grow, at least "
                            f"{MAX_REPLICAS_AT_LEAST}")
        cpu = [m for m in spec.get("metrics") or [] if m.get("type") == "Resource"
               and m["resource"]["name"] == "cpu" and m["resource"]["target"].get("type") == "Utilization"]
        if not cpu:
            problems.append("HPA web has no CPU utilization target (kubectl autoscale --cpu-percent=...)")
        deployment = get(cluster, "apps/v1", "deployments", "web", namespace=NAMESPACE)
        if deployment is None:
            return [*problems, f"there is no Deployment web in {NAMESPACE}"]
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            request = ((c.get("resources") or {}).get("requests") or {}).get("cpu")
            if request is None or parse_quantity(request).amount <= 0:
                problems.append(f"web's container {c['name']} requests no CPU: utilization is usage divided by "
                                f"the request, so the HPA cannot compute it (kubectl describe hpa web -n "
                                f"{NAMESPACE}: missing request for cpu)")
        if problems:
            return problems
        current = [m["resource"]["current"].get("averageUtilization")
                   for m in (hpa.get("status") or {}).get("currentMetrics") or [] if m.get("type") == "Resource"]
        if not current or current[0] is None:
            problems.append(f"HPA web has no CPU reading yet (kubectl get hpa web -n {NAMESPACE}: <unknown>); "
                            f"the new pods need two samples from metrics-server, a few seconds")
        return problems

    return LESSON.exercise(
        "autoscale",
        task=f"""
            Autoscale web on CPU: an HPA `web` aiming at 50 % of the CPU its pods request, between
            {MIN_REPLICAS} replicas (fewer would not outlive a node) and at least {MAX_REPLICAS_AT_LEAST}. Its
            pods request no CPU yet: give the container a request of `50m`. Done when the HPA has a reading.
        """,
        check=check,
        hint=[
            "Two things: the HPA itself, and what it measures against. `kubectl describe hpa web -n shop` "
            "tells what is missing.",
            "`kubectl autoscale deployment web -n shop --cpu-percent=50 --min=2 --max=...`, and "
            "`kubectl set resources deployment web -n shop --requests=cpu=50m` (a rollout: wait for it).",
            "`kubectl set resources deployment web -n shop --requests=cpu=50m`, `kubectl rollout status`, "
            "then `kubectl autoscale deployment web -n shop --cpu-percent=50 --min=2 --max=5`, and wait "
            "until `kubectl get hpa web -n shop` shows a percentage instead of `<unknown>`.",
        ],
        solution="""
            import time
            print(kubectl("set", "resources", "deployment", "web", "-n", "shop", "--requests=cpu=50m"))
            follow("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
            print(kubectl("autoscale", "deployment", "web", "-n", "shop", "--cpu-percent=50", "--min=2", "--max=5"))
            deadline, shown = time.monotonic() + 60, ""
            while "<unknown>" in (line := kubectl("get", "hpa", "web", "-n", "shop", "--no-headers")) \\
                    and time.monotonic() < deadline:
                if line.split()[:-1] != shown:  # each change, not each second of its age
                    print(line)
                    shown = line.split()[:-1]
                time.sleep(0.5)
            print(line)
        """,
    )
