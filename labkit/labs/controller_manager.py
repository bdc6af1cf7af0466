"""Exercise and recap of notebook 3.3 (the controller manager): a pod counter that runs with least privilege.

The learner writes a controller (:class:`labkit.controllers.Controller`) that keeps a ConfigMap's
``data.count`` equal to the number of pods in ``default``, and runs it as a ServiceAccount allowed
exactly what it does, as the notebook's greeter. The check asks the API server through
SubjectAccessReviews (``kubectl auth can-i --as``) what that ServiceAccount may do, and reads in the
trace who wrote the ConfigMap's current version.
"""

from __future__ import annotations

from labkit.client import APIStatusError, resource_path
from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question
from labkit.trace import RequestRecord

LESSON = Lesson(
    "3.3", "3.3 · The controller manager", "02-master/3.3-controller-manager.ipynb",
    exercises={"counter": "a pod counter with least privilege"},
    questions=(
        Question(
            "Someone edits a field that your controller manages, by hand. What does a level-triggered "
            "controller do?",
            choices=("Nothing: it acts only on the events its own writes cause",
                     "It puts the field back the next time it reconciles the object: it compares the current "
                     "state with the desired one, whoever changed it",
                     "The API server refuses the edit, since a controller owns the object",
                     "It keeps the edit until the controller restarts and lists everything again"),
            answer="It puts the field back the next time it reconciles the object: it compares the current "
                   "state with the desired one, whoever changed it",
            why="reconcile(key) gets only a name; it reads the object as it is now and closes the gap to what "
                "it should be. The edit is one more update event, so the greeter put its greeting back at once.",
        ),
        Question(
            "You scale a Deployment from 3 to 4 replicas. Which controller creates the new pod?",
            choices=("The Deployment controller", "The ReplicaSet controller", "The scheduler",
                     "The kubelet of the node it will run on"),
            answer="The ReplicaSet controller",
            why="The Deployment controller only sets the ReplicaSet's spec.replicas to 4; the ReplicaSet "
                "controller creates the pod, without a node; the scheduler then binds it, and that node's "
                "kubelet runs it. step() showed each link of that chain.",
        ),
        Question(
            "Your controller's requests come back 403: 'User \"system:serviceaccount:default:greeter\" cannot "
            "patch resource \"configmaps\"'. What is the least-privilege fix?",
            choices=("Bind its ServiceAccount to cluster-admin",
                     "Add the verb patch on configmaps to the role bound to its ServiceAccount",
                     "Run it with the admin's kubeconfig",
                     "Put its user in the group system:masters"),
            answer="Add the verb patch on configmaps to the role bound to its ServiceAccount",
            why="The 403 names the one right it lacks: a verb on a resource. Adding exactly that keeps every "
                "other request refused; cluster-admin or system:masters would let a bug or a stolen token do "
                "anything (system:masters even bypasses RBAC altogether).",
        ),
        Question(
            "Why does the greeter need list and watch on ConfigMaps in every namespace, when it only "
            "patches a few of them?",
            choices=("Its informer lists all ConfigMaps once and then watches them, to keep its local cache",
                     "The API server checks list before every patch",
                     "kubectl needs them to show the controller's work",
                     "It does not: patch alone is enough"),
            answer="Its informer lists all ConfigMaps once and then watches them, to keep its local cache",
            why="A controller reads from its informer's cache, which is filled by a list and kept current by a "
                "watch; its reconcile never asks the API server. An informer over one namespace would "
                "need those verbs in that namespace only.",
        ),
    ),
)

#: the exercise's controller, the ServiceAccount it runs as, and the ConfigMap it keeps
COUNTER, ACCOUNT, CONFIG_MAP, NAMESPACE = "pod-counter", "pod-counter", "pod-count", "default"
USER = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
#: (verb, resource, namespace; "" for all namespaces) the counter needs, and some it must not have
NEEDS = (("list", "pods", ""), ("watch", "pods", ""), ("create", "configmaps", NAMESPACE),
         ("patch", "configmaps", NAMESPACE))
NEEDS_NOT = (("delete", "configmaps", NAMESPACE), ("patch", "configmaps", "kube-system"),
             ("create", "pods", NAMESPACE), ("get", "secrets", NAMESPACE))


def _where(namespace: str) -> str:
    return f"in {namespace}" if namespace else "in all namespaces"


def may(cluster: Cluster, verb: str, resource: str, namespace: str) -> bool:
    """Whether the API server lets the counter's ServiceAccount do this (with the groups its tokens carry):
    a SubjectAccessReview, as ``kubectl auth can-i --as=system:serviceaccount:default:pod-counter`` asks."""
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}", "system:authenticated"]
    review = cluster.run(cluster.admin().create(resource_path("authorization.k8s.io/v1", "subjectaccessreviews"), {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": USER, "groups": groups,
                 "resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace}}}))
    return bool(review["status"].get("allowed"))


def pod_counter(cluster: Cluster) -> Exercise:
    """A controller ``pod-counter`` keeps ``default/pod-count``'s ``data.count``, running as its own
    ServiceAccount with the rights it needs and no more."""

    def check() -> list[str]:
        problems = []
        if COUNTER not in [c.name for c in cluster.components]:
            problems.append(f"no controller named {COUNTER!r} runs in the cluster (start it with cluster.add)")
        problems += [f"{USER} may not {verb} {resource} {_where(ns)}: the counter needs it"
                     for verb, resource, ns in NEEDS if not may(cluster, verb, resource, ns)]
        problems += [f"{USER} may {verb} {resource} {_where(ns)}: the counter never does, so it should not be "
                     f"allowed to" for verb, resource, ns in NEEDS_NOT if may(cluster, verb, resource, ns)]
        admin = cluster.admin()
        try:
            config_map = cluster.run(admin.get(resource_path("v1", "configmaps", namespace=NAMESPACE,
                                                             name=CONFIG_MAP)))
        except APIStatusError as e:
            if e.code != 404:
                raise
            return [*problems, f"there is no ConfigMap {NAMESPACE}/{CONFIG_MAP}: the controller must create it"]
        pods = cluster.run(admin.get(resource_path("v1", "pods", namespace=NAMESPACE)))["items"]
        count = (config_map.get("data") or {}).get("count")
        if count != str(len(pods)):
            problems.append(f"data.count is {count!r}, but {len(pods)} pods exist in {NAMESPACE}")
        revision = int(config_map["metadata"]["resourceVersion"])
        writer = next((r.user for r in cluster.trace.records()
                       if isinstance(r, RequestRecord) and r.revision == revision), "")
        if writer != USER:
            problems.append(f"{NAMESPACE}/{CONFIG_MAP} was last written by {writer or 'nobody the trace knows'}, "
                            f"not by {USER}: run the controller with a token of that ServiceAccount")
        return problems

    return LESSON.exercise(
        "counter",
        task=f"""
            Write a controller named `{COUNTER}` that watches pods and keeps the ConfigMap
            `{NAMESPACE}/{CONFIG_MAP}` with `data.count` = the number of pods in `{NAMESPACE}` (a string),
            creating the ConfigMap if it is missing. Run it as the ServiceAccount `{NAMESPACE}/{ACCOUNT}`
            with exactly the rights it needs: list and watch pods (its informer watches every namespace),
            create and patch ConfigMaps in `{NAMESPACE}` only, nothing else. Start it with `cluster.add(...)`.
        """,
        check=check,
        hint=[
            "Follow the greeter: the same kind of class, a ServiceAccount, rights, a token, a Client. Whatever "
            "key reconcile() gets, it recounts.",
            "Count with `self.informer('v1', 'pods').list('default')`. Write with a merge patch of the "
            "ConfigMap; on a 404 (`APIStatusError` from `labkit.client`, `.code`) create it. For the rights: "
            "a ClusterRole for pods (the informer lists all namespaces), but a Role in default for ConfigMaps, "
            "each with its binding to the ServiceAccount.",
            "A manifest like the greeter's, applied with `kubectl apply`: the ServiceAccount `pod-counter`; a "
            "ClusterRole with `list`, `watch` on `pods` and its ClusterRoleBinding; a Role in default with "
            "`create`, `patch` on `configmaps` and its RoleBinding (subjects: `{kind: ServiceAccount, name: "
            "pod-counter, namespace: default}`). Then a token "
            "(`v1.create_namespaced_service_account_token('pod-counter', 'default', {'spec': {}})`, or "
            "`kubectl create token pod-counter`), and `cluster.add(PodCounter(Client(cluster.url, ca_file=..., "
            "token=..., user_agent='pod-counter')))` as for the greeter.",
        ],
        solution=f"""
            import subprocess
            from kubernetes.client import ApiException
            from labkit.client import APIStatusError, Client, resource_path
            from labkit.controllers import Controller

            class PodCounter(Controller):
                name = "{COUNTER}"
                watches = [("v1", "pods")]

                async def reconcile(self, key):
                    count = str(len(self.informer("v1", "pods").list("{NAMESPACE}")))
                    path = resource_path("v1", "configmaps", namespace="{NAMESPACE}")
                    try:
                        await self.client.patch(f"{{path}}/{CONFIG_MAP}", {{"data": {{"count": count}}}})
                    except APIStatusError as e:
                        if e.code != 404:
                            raise
                        await self.client.create(path, {{"metadata": {{"name": "{CONFIG_MAP}"}},
                                                         "data": {{"count": count}}}})
                    return None

            rbac = '''
            apiVersion: v1
            kind: ServiceAccount
            metadata: {{name: {ACCOUNT}, namespace: {NAMESPACE}}}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {{name: {ACCOUNT}}}
            rules: [{{apiGroups: [""], resources: [pods], verbs: [list, watch]}}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {{name: {ACCOUNT}}}
            roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {ACCOUNT}}}
            subjects: [{{kind: ServiceAccount, name: {ACCOUNT}, namespace: {NAMESPACE}}}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {{name: {ACCOUNT}, namespace: {NAMESPACE}}}
            rules: [{{apiGroups: [""], resources: [configmaps], verbs: [create, patch]}}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {{name: {ACCOUNT}, namespace: {NAMESPACE}}}
            roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {ACCOUNT}}}
            subjects: [{{kind: ServiceAccount, name: {ACCOUNT}, namespace: {NAMESPACE}}}]
            '''
            subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"], input=rbac,
                           text=True, check=True, capture_output=True)
            token = v1.create_namespaced_service_account_token("{ACCOUNT}", "{NAMESPACE}", {{"spec": {{}}}})
            counter = Client(cluster.url, ca_file=cluster.pki.directory / "ca.crt", token=token.status.token,
                             user_agent="{COUNTER}")
            cluster.add(PodCounter(counter))

            def counted():
                try:
                    data = v1.read_namespaced_config_map("{CONFIG_MAP}", "{NAMESPACE}").data or {{}}
                except ApiException:
                    return False  # not created yet
                return data.get("count") == str(len(v1.list_namespaced_pod("{NAMESPACE}").items))

            wait_until(counted)
        """,
    )
