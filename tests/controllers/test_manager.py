"""Leader election between two managers, and step mode, on a cluster of their own."""

import dataclasses

import pytest

from labkit import Cluster
from labkit.client import resource_path
from labkit.controllers import ControllerManager

from .conftest import FAST, rs_body, wait_for

LEASE = resource_path("coordination.k8s.io/v1", "leases", namespace="kube-system", name="kube-controller-manager")


@pytest.fixture
def cluster():
    with Cluster(nodes=0, runtime="sim", seed=5, set_kubeconfig_env=False, controllers=dataclasses.replace(FAST)) as c:
        yield c


def manager(c, identity, **config):
    return ControllerManager(c.client_for("system:kube-controller-manager", agent="kube-controller-manager"),
                             controllers=["replicaset"], identity=identity, config=dataclasses.replace(FAST, **config))


def test_leader_election_failover(cluster):
    admin = cluster.client_for("admin", ["system:masters"])
    holder = lambda: cluster.run(admin.get(LEASE))["spec"].get("holderIdentity")  # noqa: E731
    cluster.run(cluster.controller_manager.stop())  # the cluster's own manager steps aside (releasing the Lease)
    a = cluster.add(manager(cluster, "kcm-a"))
    wait_for(lambda: a.is_leader, what="a leads")
    b = cluster.add(manager(cluster, "kcm-b"))
    # b is a candidate that defers: it has read the Lease held by kcm-a, and read it again after a renewed it
    first = wait_for(lambda: b.elector._observed.get("holderIdentity") == "kcm-a" and b.elector._observed["renewTime"],
                     what="b reads the Lease")
    wait_for(lambda: b.elector._observed.get("renewTime") != first, what="b sees a's next renewal")
    assert a.is_leader and not b.is_leader and holder() == "kcm-a"

    cluster.run(a.stop())  # the leader goes away (and releases its Lease)
    wait_for(lambda: b.is_leader, timeout=FAST.lease_duration + 3, what="b takes over")
    lease = cluster.run(admin.get(LEASE))["spec"]
    assert lease["holderIdentity"] == "kcm-b" and lease["leaseTransitions"] >= 1
    ns = "failover"
    cluster.run(admin.create("/api/v1/namespaces", {"metadata": {"name": ns}}))
    cluster.run(admin.create(resource_path("apps/v1", "replicasets", namespace=ns), rs_body("web", 2)))
    wait_for(lambda: len(cluster.run(admin.get(resource_path("v1", "pods", namespace=ns)))["items"]) == 2,
             what="the new leader's controllers work")


def test_paused_controller_waits_for_step(cluster):
    admin = cluster.client_for("admin", ["system:masters"])
    gate = cluster.controller_manager.controllers["replicaset"].gates[0]
    cluster.pause()
    passed = gate.passed
    cluster.run(admin.create("/api/v1/namespaces", {"metadata": {"name": "stepped"}}))
    cluster.run(admin.create(resource_path("apps/v1", "replicasets", namespace="stepped"), rs_body("web", 3)))
    pods = lambda: cluster.run(admin.get(resource_path("v1", "pods", namespace="stepped")))["items"]  # noqa: E731
    wait_for(lambda: gate.waiting, what="work held at the gate")
    assert gate.passed == passed and pods() == [], "nothing passed the gate while paused"
    assert cluster.step() == "replicaset-controller"
    wait_for(lambda: len(pods()) == 3, what="one sync creates the pods")
    cluster.resume()
    wait_for(lambda: (cluster.run(admin.get(resource_path("apps/v1", "replicasets", namespace="stepped", name="web")))
                      ["status"].get("replicas") == 3), what="status after resume")
