"""Exercise and recap of notebook 6.3 (security: RBAC): least privilege for jane, read-only on Deployments.

The check asks the API server, as jane, what she may do (a ``SelfSubjectAccessReview``, what
``kubectl auth can-i`` sends), so any Role and binding that grant exactly the reads pass.
"""

from __future__ import annotations

import asyncio

from labkit.client import resource_path
from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "6.3", "6.3 · Security: RBAC", "04-ha-security/6.3-security-rbac.ipynb",
    exercises={"reader": "jane reads Deployments"},
    questions=(
        Question(
            "jane holds the article's pod-reader Role (get, watch, list on pods) in default. May she read "
            "a pod's logs there (kubectl logs)?",
            choices=("Yes: reading logs is reading the pod",
                     "No: logs are the subresource pods/log, which a rule on pods does not cover",
                     "Only for pods she created herself"),
            answer="No: logs are the subresource pods/log, which a rule on pods does not cover",
            why="RBAC matches the resource and subresource together: a rule must name pods/log (or pods/*) "
                "to allow it. RBAC knows no owners: nothing is allowed because a user created it.",
        ),
        Question(
            "A Role allows get and list on configmaps with resourceNames: [app-config]. What may its holder do?",
            choices=("Read app-config only; a plain list names no object, so it is refused",
                     "Read app-config, and list every ConfigMap of the namespace",
                     "Read, change and delete app-config: resourceNames gives full control of that object"),
            answer="Read app-config only; a plain list names no object, so it is refused",
            why="resourceNames narrows a rule to requests that name one of those objects: a list or a create "
                "names none (a list is allowed only with a fieldSelector on metadata.name), and the verbs "
                "still limit what may be done to the named object.",
        ),
        Question(
            "jane, who may not delete pods, deletes a pod web that does not exist. What does she get?",
            choices=("404 NotFound: there is nothing to delete",
                     "200: deleting nothing is harmless",
                     "403 Forbidden: authorization runs before the object is looked up"),
            answer="403 Forbidden: authorization runs before the object is looked up",
            why="The API server authorizes from the request alone (user, verb, resource, namespace, name) "
                "before any handler reads the store, so a refused user learns nothing about what exists.",
        ),
        Question(
            "A RoleBinding in namespace team-a names the ClusterRole view and the user jane. Where may she read?",
            choices=("Everywhere: view is a ClusterRole",
                     "Only in team-a: a RoleBinding grants the role's rules in its own namespace",
                     "Nowhere: a RoleBinding may only name a Role"),
            answer="Only in team-a: a RoleBinding grants the role's rules in its own namespace",
            why="The binding decides where, the role decides what: a RoleBinding may name a ClusterRole and "
                "grants its rules in the binding's namespace only; a ClusterRoleBinding grants them everywhere.",
        ),
        Question(
            "What is the user jane to the API server?",
            choices=("A name its authenticator read from a credential, such as a client certificate's CN",
                     "A User object created with kubectl create user",
                     "A ServiceAccount in the namespace default"),
            answer="A name its authenticator read from a credential, such as a client certificate's CN",
            why="Kubernetes keeps no User objects: a user is whoever a trusted certificate, token or "
                "identity provider says. ServiceAccounts are objects, and their users are named "
                "system:serviceaccount:<namespace>:<name>.",
        ),
    ),
)

#: what jane must be able to do to Deployments, and what she must not
READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete")


def deployment_reader(cluster: Cluster, user: str = "jane") -> Exercise:
    """``user`` may get, list and watch Deployments in ``default``, and nothing more with them."""
    client = cluster.client_for(user)

    def allowed(*asks: tuple[str, str, str, str]) -> list[bool]:
        """One SelfSubjectAccessReview per (verb, resource/subresource, group, namespace), sent together."""
        async def review(verb: str, resource: str, group: str, namespace: str) -> bool:
            plural, _, subresource = resource.partition("/")
            answer = await client.create(resource_path("authorization.k8s.io/v1", "selfsubjectaccessreviews"), {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": verb, "resource": plural, "subresource": subresource,
                                                "group": group, "namespace": namespace}}})
            return bool(answer["status"]["allowed"])

        async def all_of() -> list[bool]:
            return list(await asyncio.gather(*(review(*ask) for ask in asks)))

        return cluster.run(all_of())

    def check() -> list[str]:
        reads = [(verb, "deployments", "apps", "default") for verb in READ_VERBS]
        writes = [(verb, "deployments", "apps", "default") for verb in WRITE_VERBS]
        others = [("update", "deployments/scale", "apps", "default"), ("list", "deployments", "apps", "kube-system"),
                  ("list", "pods", "", "default")]
        answers = dict(zip(reads + writes + others, allowed(*reads, *writes, *others), strict=True))
        problems = [f"{user} may not {ask[0]} deployments in default yet" for ask in reads if not answers[ask]]
        problems += [f"{user} may {ask[0]} deployments: she should only read them" for ask in writes if answers[ask]]
        scale, elsewhere, pods = (answers[ask] for ask in others)
        if scale:
            problems.append(f"{user} may update deployments/scale: she should only read them")
        if elsewhere:
            problems.append(f"{user} may list deployments in kube-system: grant the reads in default only "
                            f"(a RoleBinding, not a ClusterRoleBinding)")
        if not pods:
            problems.append(f"{user} may no longer list pods in default")
        return problems

    return LESSON.exercise(
        "reader",
        task=f"""
            Let {user} get, list and watch Deployments in the namespace `default`, and do nothing more
            with them (no writes, no `deployments/scale`, nothing in other namespaces): a Role and a
            RoleBinding, as above.
        """,
        check=check,
        hint=[
            "Two objects, as for pods: a Role that says what, and a RoleBinding that gives it to jane. "
            "What differs from pod-reader is where Deployments live.",
            "`kubectl api-resources | grep deployments` shows their API group; the rule's `apiGroups` must "
            "name it. `kubectl create role --help` and `kubectl create rolebinding --help` show the flags.",
            "A Role `deployment-reader` in default with one rule: apiGroups `[apps]`, resources "
            "`[deployments]`, verbs get, list, watch (`kubectl create role deployment-reader "
            "--verb=get,list,watch --resource=deployments.apps`); then a RoleBinding in default naming that "
            "Role and the User jane (`kubectl create rolebinding read-deployments --role=deployment-reader "
            "--user=jane`).",
        ],
        solution="""
            from kubernetes import client, config
            rbac = client.RbacAuthorizationV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
            rbac.create_namespaced_role("default", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "deployment-reader"},
                "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}]})
            rbac.create_namespaced_role_binding("default", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "read-deployments"},
                "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}],
                "roleRef": {"kind": "Role", "name": "deployment-reader", "apiGroup": "rbac.authorization.k8s.io"}})
        """,
    )
