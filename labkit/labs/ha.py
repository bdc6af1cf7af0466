"""Exercises of notebook 6.1 (high availability): the scheduler's takeover, and etcd's quorum."""

from __future__ import annotations

import time
from typing import Any

from labkit.client import APIStatusError, resource_path
from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson, Question

LESSON = Lesson(
    "6.1", "6.1 · High availability", "04-ha-security/6.1-high-availability.ipynb",
    exercises={"takeover": "the scheduler's takeover", "quorum": "how many members may be lost"},
    questions=(
        Question(
            "The article's kubeadm join LB:PORT --token … --discovery-token-ca-cert-hash …, run as it "
            "stands on a new machine: what does that machine become?",
            choices=("A worker node: a control-plane member also needs --control-plane (and --certificate-key)",
                     "A second control-plane member, since the endpoint is the load balancer's",
                     "Nothing: kubeadm join refuses to run without --control-plane"),
            answer="A worker node: a control-plane member also needs --control-plane (and --certificate-key)",
            why="kubeadm join makes a worker unless told --control-plane; a control-plane member also needs "
                "the shared certificates, copied by hand or downloaded with --certificate-key after "
                "kubeadm init --upload-certs.",
        ),
        Question(
            "The member whose scheduler holds the kube-scheduler Lease crashes. What happens to a pod "
            "created right after?",
            choices=("Another member's scheduler binds it at once: all of them schedule all the time",
                     "It stays Pending until the crashed member is restarted",
                     "It stays Pending until the Lease expires and another member's scheduler acquires it"),
            answer="It stays Pending until the Lease expires and another member's scheduler acquires it",
            why="Only the holder schedules; a crashed holder cannot release the Lease, so the others wait "
                "until it has not been renewed for the lease duration (15 s by default, 6 s here).",
        ),
        Question(
            "kubectl talks to the load balancer, and the API server it used has just died. Why does its "
            "next command still work, before the health checks mark that server down?",
            choices=("kubectl's kubeconfig lists every API server and it tries the next one",
                     "haproxy retries a refused connection on another server (option redispatch)",
                     "The dead API server's requests are forwarded by the other members"),
            answer="haproxy retries a refused connection on another server (option redispatch)",
            why="kubectl knows one address, the endpoint. The load balancer redispatches a failed connect "
                "to the next server at once, and after three failed checks stops trying the dead one.",
        ),
        Question(
            "With stacked etcd, one member's etcd dies but its API server keeps running. What does that "
            "API server do?",
            choices=("It switches to another member's etcd and carries on",
                     "It fails the requests that need etcd, and its /readyz fails, so the load balancer "
                     "stops sending it traffic",
                     "It serves every request from its cache until etcd is back"),
            answer="It fails the requests that need etcd, and its /readyz fails, so the load balancer "
                   "stops sending it traffic",
            why="kubeadm points each API server at its own node's etcd only (--etcd-servers=https://127.0.0.1:2379); "
                "requests that need no etcd, such as /version, still answer.",
        ),
        Question(
            "A cluster has 4 etcd members. How many may fail while it still accepts writes?",
            choices=("1", "2", "3"),
            answer="1",
            why="A quorum of 4 is 3, so only 1 may fail: the same as with 3 members. An even count adds a "
                "member to fail and no tolerance, which is why etcd clusters have 3 or 5 members.",
        ),
    ),
)

#: how long the quorum check lets etcd elect a leader (its election timeout is 1 s) before a write must pass
ELECTION_GRACE = 10.0


def scheduler_takeover(cluster: Cluster) -> Exercise:
    """Kill the member whose scheduler leads now; a pod named ``proof`` is then bound by another's."""
    control_plane = cluster.control_plane
    leader = control_plane.lease_holder("kube-scheduler")

    def check() -> list[str]:
        if control_plane.member(leader).running:
            return [f"the scheduler of {leader} still holds or may take back the Lease: that member still runs"]
        problems = []
        holder = control_plane.lease_holder("kube-scheduler")
        if holder in ("", leader):
            problems.append(f"no other member's scheduler holds the kube-scheduler Lease yet (holder: {holder or '-'})")
        try:
            pod = cluster.run(cluster.admin().get(resource_path("v1", "pods", namespace="default", name="proof")))
        except APIStatusError as e:
            return [*problems, "there is no pod named proof in default" if e.code == 404 else str(e)]
        if not pod["spec"].get("nodeName"):
            problems.append("pod proof is not scheduled yet (no spec.nodeName)")
        return problems

    return LESSON.exercise(
        "takeover",
        task=f"""
            The scheduler of **{leader}** holds the `kube-scheduler` Lease now. Kill its member, then
            create a pod named `proof` (image `nginx`) and wait until another member's scheduler binds it.
        """,
        check=check,
        hint=[
            "Which member's scheduler leads is written in a Lease in kube-system. Once that member is "
            "gone, another scheduler takes over, but only after the Lease has expired.",
            "`cp.lease_holder(\"kube-scheduler\")` names the member (or read the Lease: `kubectl get lease "
            "kube-scheduler -n kube-system -o yaml`, whose holderIdentity starts with it), and `cp.kill(name)` "
            "crashes one, as in \"The scheduler's Lease moves\" above.",
            "Kill the member `cp.lease_holder(\"kube-scheduler\")` names with `cp.kill`, then create the pod "
            "(`kubectl run proof --image=nginx`; retry while the create fails: the killed member may have "
            "led etcd too) and poll it until its `spec.nodeName` is set, about 6 s later, when the Lease "
            "has expired.",
        ],
        solution="""
            import time
            from kubernetes import client, config
            cluster.control_plane.kill(cluster.control_plane.lease_holder("kube-scheduler"))
            core = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
            while True:  # the killed member may have led etcd too: a write can meet its election
                try:
                    core.create_namespaced_pod("default", {
                        "metadata": {"name": "proof"}, "spec": {"containers": [{"name": "proof", "image": "nginx"}]}})
                    break
                except client.ApiException as e:
                    if e.status != 500:
                        raise
                    time.sleep(0.5)
            while not core.read_namespaced_pod("proof", "default").spec.node_name:
                time.sleep(0.5)
        """,
    )


def quorum(cluster: Cluster, namespace: dict[str, Any]) -> Exercise:
    """``tolerated(n)`` defined in the notebook, and as many etcd members paused as 3 can lose."""
    control_plane = cluster.control_plane

    def check() -> list[str]:
        tolerated = namespace.get("tolerated")
        if not callable(tolerated):
            return ["define tolerated(n): how many of n etcd members may be lost while a quorum remains"]
        problems = [f"tolerated({n}) is {tolerated(n)!r}: {n} members keep a quorum of {n // 2 + 1}, so they "
                    f"survive the loss of {(n - 1) // 2}" for n in (3, 5) if tolerated(n) != (n - 1) // 2]
        lost = [s.name for s in control_plane.etcd() if s.state in ("paused", "down")]
        if len(lost) != 1:
            return [*problems, f"{len(lost)} etcd members are paused or down ({', '.join(lost) or 'none'}): "
                               f"pause exactly as many as three can lose"]
        healthy = next((m for m in control_plane.members if m.name not in lost and m.running), None)
        if healthy is None:
            return [*problems, "no member with a running etcd has its API server running: restore one"]
        from kubernetes import client, config

        api = config.new_client_from_config(str(cluster.kubeconfig))
        api.configuration.host = healthy.url  # straight to a member whose own etcd runs
        deadline, last = time.monotonic() + ELECTION_GRACE, ""
        try:
            while time.monotonic() < deadline:  # a paused leader: the other two elect one within seconds
                try:
                    client.CoreV1Api(api).create_namespaced_config_map(
                        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="quorum-proof-")),
                        _request_timeout=15)
                    return problems
                except client.ApiException as e:
                    last = f"{e.status} {e.body}"
                except Exception as e:  # noqa: BLE001 - whatever stopped the write is what the learner must see
                    last = f"{type(e).__name__}: {e}"
                time.sleep(0.5)
        finally:
            api.close()
        return [*problems, f"no write through {healthy.name} succeeded within {ELECTION_GRACE:g}s: {last}"]

    return LESSON.exercise(
        "quorum",
        task="""
            Define `tolerated(n)`: how many of n etcd members may be lost while the rest still make a
            quorum. Then pause (`cp.pause_etcd(...)`) as many etcd members as a 3-member cluster can
            lose; the check writes through a member whose etcd runs, and the write must succeed.
        """,
        check=check,
        hint=[
            "A quorum is a majority of the members: how many may go while a majority is left?",
            "⌊n/2⌋ + 1 of n members must run; the rest may fail. `cp.pause_etcd(name)` pauses one member's "
            "etcd (the names are in `cp.members`), as \"Two of three: no quorum\" above did to two.",
            "`tolerated(n)` returns `(n - 1) // 2`: 1 for 3 members, 2 for 5. Then pause exactly one etcd "
            "member, e.g. `cp.pause_etcd(cp.members[-1].name)`.",
        ],
        solution="""
            def tolerated(n):
                return (n - 1) // 2
            cluster.control_plane.pause_etcd(cluster.control_plane.members[-1].name)
        """,
    )
