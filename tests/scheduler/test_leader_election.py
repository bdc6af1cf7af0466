"""The scheduler takes the ``kube-scheduler`` Lease, as ``--leader-elect`` does on every real control
plane (single-member ones too), and schedules only while it holds it."""

from __future__ import annotations

from labkit import Cluster
from labkit.client import resource_path
from labkit.leaderelection import LeaderElectionConfig, LeaderElector
from labkit.scheduler import Scheduler
from testkit import wait_for

LEASES = "coordination.k8s.io/v1"
FAST = LeaderElectionConfig(lease_duration=2.0, renew_deadline=1.5, retry_period=0.2)  # a lesson's, said so


def lease(c: Cluster, name: str) -> dict:
    return c.run(c.admin().get(resource_path(LEASES, "leases", namespace="kube-system", name=name)))


def pod(c: Cluster, name: str) -> None:
    c.run(c.admin().create("/api/v1/namespaces/default/pods", {"metadata": {"name": name}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}}))


def node_of(c: Cluster, name: str) -> str:
    return c.run(c.admin().get(f"/api/v1/namespaces/default/pods/{name}"))["spec"].get("nodeName", "")


def test_a_single_member_cluster_holds_both_leases_with_kubes_timings() -> None:
    with Cluster(nodes=1, runtime="sim", set_kubeconfig_env=False) as c:
        wait_for(lambda: c.scheduler.elector.is_leader and c.controller_manager.is_leader, what="both lead")
        for name in ("kube-scheduler", "kube-controller-manager"):
            spec = lease(c, name)["spec"]
            assert spec["holderIdentity"] and spec["leaseDurationSeconds"] == 15, spec
        assert lease(c, "kube-scheduler")["spec"]["holderIdentity"] == c.scheduler.elector.identity
        pod(c, "web")
        wait_for(lambda: node_of(c, "web") == "node-1", what="the leading scheduler binds the pod")


def test_a_second_scheduler_waits_for_the_lease_then_takes_over() -> None:
    with Cluster(nodes=1, runtime="sim", set_kubeconfig_env=False, scheduler_leader_election=FAST) as c:
        leader = c.scheduler
        wait_for(lambda: leader.elector.is_leader, what="the cluster's scheduler leads")
        client = c.client_for("system:kube-scheduler", agent="kube-scheduler")
        standby = c.add(Scheduler(client, elector=LeaderElector(
            client, name="kube-scheduler", identity="standby", lease_duration=FAST.lease_duration,
            renew_deadline=FAST.renew_deadline, retry_period=FAST.retry_period)))
        wait_for(lambda: standby.elector._observed.get("holderIdentity") == leader.elector.identity,
                 what="the standby reads the leader's Lease")
        pod(c, "first")
        wait_for(lambda: node_of(c, "first") == "node-1", what="the leader binds a pod")
        assert leader.explain("first") and not standby.explain("first") and not standby.elector.is_leader
        c.run(leader.stop())  # the leader goes (releasing its Lease)
        wait_for(lambda: standby.elector.is_leader, timeout=FAST.lease_duration + 5, what="the standby takes over")
        pod(c, "second")
        wait_for(lambda: node_of(c, "second") == "node-1", what="the new leader binds the next pod")
        assert standby.explain("second") and lease(c, "kube-scheduler")["spec"]["holderIdentity"] == "standby"


def test_a_candidate_keeps_trying_through_errors() -> None:
    """No API server answering, or etcd without a leader (a 500), is one failed try, not the end of the
    campaign: client-go logs it and tries again every retry period (a standby that gave up would leave
    an HA cluster without a scheduler once the leader died)."""
    import asyncio

    from labkit.client import APIStatusError

    class Flaky:
        def __init__(self) -> None:
            self.failures = [ConnectionResetError("reset by peer"),
                             APIStatusError(500, {"message": "etcdserver: leader changed"})]
            self.created: list[dict] = []

        async def get(self, path: str) -> dict:
            if self.failures:
                raise self.failures.pop(0)
            raise APIStatusError(404, {"reason": "NotFound"})

        async def create(self, path: str, body: dict) -> dict:
            self.created.append(body)
            return body

    client = Flaky()
    elector = LeaderElector(client, name="kube-scheduler", identity="me", lease_duration=0.3,  # type: ignore[arg-type]
                            renew_deadline=0.2, retry_period=0.01)
    asyncio.run(asyncio.wait_for(elector._acquire(), 5))
    assert not client.failures and client.created[0]["spec"]["holderIdentity"] == "me"
