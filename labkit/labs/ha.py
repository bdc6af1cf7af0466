"""Exercises of notebook 6.1 (high availability): the scheduler's takeover, and etcd's quorum."""

from __future__ import annotations

import time
from typing import Any

from labkit.client import APIStatusError, resource_path
from labkit.cluster import Cluster
from labkit.exercises import Exercise
from labkit.labs.lesson import Lesson

LESSON = Lesson("6.1", "6.1 · High availability", "04-ha-security/6.1-high-availability.ipynb",
                exercises={"takeover": "the scheduler's takeover", "quorum": "how many members may be lost"})

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
        hint="""
            `cp.lease_holder("kube-scheduler")` names the member (or read the Lease with
            `kubectl get lease kube-scheduler -n kube-system -o yaml`: its holderIdentity starts with
            it); `cp.kill(name)` crashes it. Then `kubectl run proof --image=nginx`, and wait for
            `spec.nodeName`: the Lease first has to expire (6 s here).
        """,
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
        hint="""
            A quorum is a majority: ⌊n/2⌋ + 1 of n. What is left over may fail: 3 → 1, 5 → 2. Pause
            one member with `cp.pause_etcd(cp.members[-1].name)`.
        """,
        solution="""
            def tolerated(n):
                return (n - 1) // 2
            cluster.control_plane.pause_etcd(cluster.control_plane.members[-1].name)
        """,
    )
