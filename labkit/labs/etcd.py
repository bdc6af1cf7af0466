"""Exercise and recap of notebook 3.4 (etcd): create a key only if it is absent, in one transaction,
as the API server creates every object (``k8s.io/apiserver/pkg/storage/etcd3/store.go``'s ``Create``:
put if the key's ``mod_revision`` is 0)."""

from __future__ import annotations

from typing import Any

from labkit import store as kv
from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "3.4", "3.4 · etcd", "02-master/3.4-etcd.ipynb",
    exercises={"create": "create if absent"},
    questions=(
        Question(
            "Under which keys does the API server keep the Namespace team-a and the pod web of the "
            "namespace default?",
            choices=("/registry/namespaces/team-a and /registry/pods/default/web",
                     "/registry/namespaces/default/team-a and /registry/pods/default/web",
                     "/registry/team-a and /registry/default/pods/web",
                     "/api/v1/namespaces/team-a and /api/v1/namespaces/default/pods/web"),
            answer="/registry/namespaces/team-a and /registry/pods/default/web",
            why="A namespaced object's key is /registry/<resource>/<namespace>/<name>; a cluster-scoped one, "
                "such as a Namespace, a Node or a ClusterRole, has no namespace part: /registry/<resource>/<name>. "
                "The URL paths are the API's, not the store's.",
        ),
        Question(
            "Two clients read a ConfigMap at resourceVersion 10; then someone else changes it. Client A sends "
            "the object back in a PUT with resourceVersion 10; client B sends it with no resourceVersion. "
            "What happens?",
            choices=("Both get 409 Conflict",
                     "A gets 409 Conflict; B's update is written, over the other change",
                     "A's update is written; B gets 409 Conflict",
                     "Both are written, the later one wins"),
            answer="A gets 409 Conflict; B's update is written, over the other change",
            why="The API server compares a resourceVersion only when the client sends one: A's is stale, so "
                "409 'the object has been modified'. Without one, the update is unconditional for built-in "
                "resources (custom resources require one): B silently overwrites the other writer's change.",
        ),
        Question(
            "What is an object's metadata.resourceVersion, on an API server backed by etcd?",
            choices=("How many times this object was written (etcd's version)",
                     "The mod_revision of its key, filled in when the API server reads the object",
                     "The time of the last write",
                     "A hash of the object's content"),
            answer="The mod_revision of its key, filled in when the API server reads the object",
            why="The stored value has no resourceVersion; the API server sets it from the key's mod_revision, "
                "the cluster-wide revision of the last write to that key. Clients must still treat it as an "
                "opaque string and only compare it for equality.",
        ),
        Question(
            "Could the article's node-etcd client read the keys a current Kubernetes writes to etcd?",
            choices=("Yes: it reads any key of etcd",
                     "No: node-etcd speaks etcd's v2 API, whose keys are a separate store that v3 writes never "
                     "reach (and etcd 3.6 removed v2)",
                     "Yes, but only the keys under /registry",
                     "Only if the API server runs with --storage-backend=etcd2"),
            answer="No: node-etcd speaks etcd's v2 API, whose keys are a separate store that v3 writes never "
                   "reach (and etcd 3.6 removed v2)",
            why="Kubernetes has used etcd's v3 API by default since 1.6 and dropped etcd2 storage in 1.13; "
                "v2 and v3 keep separate key spaces. etcdctl (API v3) or a v3 client reads /registry/....",
        ),
    ),
)


def create_if_absent(store: kv.Store, namespace: dict[str, Any]) -> Exercise:
    """``create_if_absent(key, value)``, defined in the notebook, writes a new key and leaves an existing one."""

    def check() -> list[str]:
        create = namespace.get("create_if_absent")
        if not callable(create):
            return ["create_if_absent(key, value) is not defined yet"]
        problems = []
        key = f"/exercise/{store.revision}"
        first = create(key, b"one")
        second = create(key, b"two")
        found = store.range(key).kvs
        if first is not True:
            problems.append(f"on a new key it returned {first!r}, want True")
        if second is not False:
            problems.append(f"on an existing key it returned {second!r}, want False")
        if not found:
            problems.append("the key was not written")
        elif found[0].value != b"one":
            problems.append(f"the value is {found[0].value!r}, want b'one' (the second call must not overwrite it)")
        elif found[0].version != 1:
            problems.append(f"the key was written {found[0].version} times, want 1")
        return problems

    return LESSON.exercise(
        "create",
        task="""
            Write `create_if_absent(key, value)`: put `value` at `key` only if the key does not exist, in
            ONE `store.txn(...)` (a read, then a put, would let another writer slip in between), and
            return True if it wrote, False otherwise.
        """,
        check=check,
        hint=[
            "A transaction has a condition, the operations to run if it holds, and those to run if not. "
            "Which condition says 'this key does not exist'?",
            "A key that does not exist has `mod_revision` 0: `Compare(key, 'mod_revision', '==', 0)`. "
            "`store.txn(compare, success)` returns a result with `.succeeded`.",
            "One line: return `store.txn([Compare(key, 'mod_revision', '==', 0)], [Put(key, value)]).succeeded`.",
        ],
        solution="""
            from labkit.store import Compare, Put

            def create_if_absent(key, value):
                return store.txn([Compare(key, "mod_revision", "==", 0)], [Put(key, value)]).succeeded
        """,
    )
