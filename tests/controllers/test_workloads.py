"""The workload controllers of issue 16 on three simulated nodes. DaemonSet: a pod on every node that
fits, taints and node selectors respected, rolling and OnDelete updates through ControllerRevisions.
ReplicationController: replicas kept, by an equality selector. CronJob: Jobs on a fast clock."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from labkit import Cluster
from labkit.client import resource_path
from labkit.controllers import ControllerManagerConfig

from .conftest import wait_for

NODES = ("node-1", "node-2", "node-3")


@pytest.fixture(scope="module")
def workloads_cluster() -> Iterator[Cluster]:
    """Three sim nodes; the CronJob controller's clock runs 60 times faster (a minute a second)."""
    with Cluster(nodes=len(NODES), runtime="sim", seed=16, set_kubeconfig_env=False,
                 controllers=ControllerManagerConfig(cronjob_clock_speed=60)) as c:
        yield c


@pytest.fixture
def api(workloads_cluster: Cluster) -> Any:
    admin = workloads_cluster.client_for("admin", ["system:masters"], agent="test")

    def call(method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return workloads_cluster.run(admin.request(method, path, body=body, **kw))
    return call


@pytest.fixture
def ns(api: Any, request: pytest.FixtureRequest) -> str:
    name = f"w-{zlib.crc32(request.node.nodeid.encode()):08x}"
    api("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    return name


def agent(**spec: Any) -> dict[str, Any]:
    labels = {"app": "agent"}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": labels}, **spec,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "agent", "image": "agent:1"}],
                                           **spec.pop("pod", {})}}}}


def live(api: Any, ns: str) -> dict[str, dict[str, Any]]:
    """The pods of ``ns`` that are not being deleted, by name."""
    items = api("GET", resource_path("v1", "pods", namespace=ns))["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def live_pods(api: Any, ns: str) -> dict[str, dict[str, Any]]:
    """The DaemonSet's pods that are not being deleted, by node."""
    return {p["spec"].get("nodeName", ""): p for p in live(api, ns).values()}


def rolled_out(api: Any, ns: str, nodes: int, *, updated: bool = True) -> Any:
    """The DaemonSet once its status counts ``nodes`` available pods (all up to date, if ``updated``)."""
    ds = api("GET", resource_path("apps/v1", "daemonsets", namespace=ns, name="agent"))
    status = ds["status"]
    done = (status.get("observedGeneration") == ds["metadata"]["generation"]
            and status["desiredNumberScheduled"] == status.get("numberAvailable", 0) == nodes
            and (not updated or status.get("updatedNumberScheduled", 0) == nodes))
    return ds if done else None


def patch_node(api: Any, name: str, body: dict[str, Any]) -> None:
    api("PATCH", f"/api/v1/nodes/{name}", body, content_type="application/merge-patch+json")


def test_one_pod_per_node_taints_and_node_selector(api, ns):
    patch_node(api, "node-3", {"spec": {"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}})
    try:  # OnDelete: pods that may stay are not replaced when the template changes
        api("POST", resource_path("apps/v1", "daemonsets", namespace=ns), agent(updateStrategy={"type": "OnDelete"}))
        wait_for(lambda: rolled_out(api, ns, 2), what="2 of 3 nodes")
        pods = live_pods(api, ns)
        assert sorted(pods) == ["node-1", "node-2"]  # node-3's taint is not tolerated
        pod = pods["node-1"]
        assert pod["metadata"]["generateName"] == "agent-"
        assert pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                    "values": ["node-1"]}]}]}
        assert {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]} >= {
            ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")}
        assert pod["metadata"]["labels"]["pod-template-generation"] == "1"

        # a toleration for the taint: node-3 gets its pod too
        api("PATCH", resource_path("apps/v1", "daemonsets", namespace=ns, name="agent"),
            {"spec": {"template": {"spec": {"tolerations": [{"key": "dedicated", "operator": "Exists"}]}}}},
            content_type="application/strategic-merge-patch+json")
        wait_for(lambda: rolled_out(api, ns, 3, updated=False), what="3 of 3 nodes")

        # a node selector only node-2 matches: the others' pods go
        patch_node(api, "node-2", {"metadata": {"labels": {"disk": "ssd"}}})
        api("PATCH", resource_path("apps/v1", "daemonsets", namespace=ns, name="agent"),
            {"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}},
            content_type="application/strategic-merge-patch+json")
        wait_for(lambda: rolled_out(api, ns, 1, updated=False) and sorted(live_pods(api, ns)) == ["node-2"],
                 what=lambda: f"only node-2, pods on {sorted(live_pods(api, ns))}")
        reasons = {e["reason"] for e in api("GET", resource_path("v1", "events", namespace=ns))["items"]
                   if e["involvedObject"]["kind"] == "DaemonSet"}
        assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons
    finally:
        patch_node(api, "node-3", {"spec": {"taints": None}})
        patch_node(api, "node-2", {"metadata": {"labels": {"disk": None}}})


def test_rolling_update_replaces_every_pod_and_keeps_revisions(api, ns):
    api("POST", resource_path("apps/v1", "daemonsets", namespace=ns), agent())
    first = wait_for(lambda: rolled_out(api, ns, 3), what="first rollout")
    old_names = {p["metadata"]["name"] for p in live_pods(api, ns).values()}
    api("PATCH", resource_path("apps/v1", "daemonsets", namespace=ns, name="agent"),
        {"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}},
        content_type="application/strategic-merge-patch+json")
    wait_for(lambda: rolled_out(api, ns, 3), what="second rollout")
    pods = live_pods(api, ns)
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"agent:2"}
    assert not old_names & {p["metadata"]["name"] for p in pods.values()}
    revisions = api("GET", resource_path("apps/v1", "controllerrevisions", namespace=ns))["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]
    current = max(revisions, key=lambda r: r["revision"])
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods.values()} == {
        current["metadata"]["labels"]["controller-revision-hash"]}
    assert current["data"]["spec"]["template"]["$patch"] == "replace"
    assert first["metadata"]["uid"] == current["metadata"]["ownerReferences"][0]["uid"]


def test_ondelete_waits_for_a_deleted_pod(api, ns):
    api("POST", resource_path("apps/v1", "daemonsets", namespace=ns), agent(updateStrategy={"type": "OnDelete"}))
    wait_for(lambda: rolled_out(api, ns, 3), what="first rollout")
    api("PATCH", resource_path("apps/v1", "daemonsets", namespace=ns, name="agent"),
        {"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}},
        content_type="application/strategic-merge-patch+json")
    wait_for(lambda: api("GET", resource_path("apps/v1", "daemonsets", namespace=ns, name="agent"))["status"]
             .get("observedGeneration") == 2, what="generation 2 observed")
    assert {p["spec"]["containers"][0]["image"] for p in live_pods(api, ns).values()} == {"agent:1"}
    victim = live_pods(api, ns)["node-1"]["metadata"]["name"]
    api("DELETE", resource_path("v1", "pods", namespace=ns, name=victim))
    wait_for(lambda: (live_pods(api, ns).get("node-1") or {}).get("spec", {}).get("containers", [{}])[0]
             .get("image") == "agent:2", what="a new pod on node-1")
    images = {node: p["spec"]["containers"][0]["image"] for node, p in live_pods(api, ns).items()}
    assert images == {"node-1": "agent:2", "node-2": "agent:1", "node-3": "agent:1"}


# --- ReplicationController -----------------------------------------------------------------------------


def test_replication_controller_keeps_its_replicas(api, ns):
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
          "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web", "tier": "front"}},
                                               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    created = api("POST", resource_path("v1", "replicationcontrollers", namespace=ns), rc)
    assert created["spec"]["selector"] == {"app": "web", "tier": "front"}  # defaulted from the template
    orphan = {"metadata": {"name": "stray", "labels": {"app": "web", "tier": "front"}},
              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    api("POST", resource_path("v1", "pods", namespace=ns), orphan)  # adopted: counts as one of the three

    def ready() -> Any:
        obj = api("GET", resource_path("v1", "replicationcontrollers", namespace=ns, name="web"))
        return obj if obj["status"].get("readyReplicas") == 3 and len(live(api, ns)) == 3 else None
    wait_for(ready, what="3 ready replicas")
    owners = {name: p["metadata"]["ownerReferences"][0] for name, p in live(api, ns).items()}
    assert owners["stray"]["kind"] == "ReplicationController" and owners["stray"]["apiVersion"] == "v1"
    api("DELETE", resource_path("v1", "pods", namespace=ns, name="stray"))
    wait_for(lambda: ready() and "stray" not in live(api, ns),
             what="a replacement for the deleted pod")
    api("PATCH", resource_path("v1", "replicationcontrollers", namespace=ns, name="web", subresource="scale"),
        {"spec": {"replicas": 1}}, content_type="application/merge-patch+json")
    wait_for(lambda: len(live(api, ns)) == 1, what="scaled down to 1")
    events = [e for e in api("GET", resource_path("v1", "events", namespace=ns))["items"]
              if e["involvedObject"]["kind"] == "ReplicationController"]
    assert {(e["reason"], e["source"]["component"]) for e in events} >= {
        ("SuccessfulCreate", "replication-controller"), ("SuccessfulDelete", "replication-controller")}


# --- CronJob -------------------------------------------------------------------------------------------


def cronjob(name: str, *, finishes: bool, **spec: Any) -> dict[str, Any]:
    """Every minute; its pods exit 0 at once (``finishes``) or run until deleted."""
    annotations = {"labkit.dev/sim-exit-code": "0"} if finishes else {}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "* * * * *", **spec, "jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": annotations},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}


def jobs(api: Any, ns: str) -> list[dict[str, Any]]:
    return [j for j in api("GET", resource_path("batch/v1", "jobs", namespace=ns))["items"]
            if not j["metadata"].get("deletionTimestamp")]


def cj_events(api: Any, ns: str) -> list[tuple[str, str]]:
    return [(e["reason"], e["message"]) for e in api("GET", resource_path("v1", "events", namespace=ns))["items"]
            if e["involvedObject"]["kind"] == "CronJob"]


def test_cronjob_runs_each_minute_and_keeps_its_history(api, ns):
    api("POST", resource_path("batch/v1", "cronjobs", namespace=ns),
        cronjob("tick", finishes=True, successfulJobsHistoryLimit=1))
    wait_for(lambda: any(r == "SuccessfulDelete" for r, _ in cj_events(api, ns)),
             what=lambda: f"a Job past the history limit deleted, events {cj_events(api, ns)}")
    names = sorted(j["metadata"]["name"] for j in jobs(api, ns))
    assert len(names) <= 2  # one kept, perhaps one running
    for job in jobs(api, ns):  # <cronjob>-<scheduled minutes since the epoch>, owned by the CronJob
        prefix, minutes = job["metadata"]["name"].rsplit("-", 1)
        assert prefix == "tick"
        stamp = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        assert int(minutes) * 60 == dt.datetime.fromisoformat(stamp).timestamp()
        assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    cj = api("GET", resource_path("batch/v1", "cronjobs", namespace=ns, name="tick"))
    assert cj["status"]["lastScheduleTime"] and cj["status"]["lastSuccessfulTime"]
    reasons = [r for r, _ in cj_events(api, ns)]
    assert {"SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"} <= set(reasons)
    assert ("SuccessfulCreate", f"Created job {names[-1]}") in cj_events(api, ns)


def test_cronjob_forbid_waits_and_replace_replaces(api, ns):
    api("POST", resource_path("batch/v1", "cronjobs", namespace=ns),
        cronjob("forbid", finishes=False, concurrencyPolicy="Forbid"))
    api("POST", resource_path("batch/v1", "cronjobs", namespace=ns),
        cronjob("replace", finishes=False, concurrencyPolicy="Replace"))
    wait_for(lambda: ("Normal", "JobAlreadyActive") in {("Normal", r) for r, _ in cj_events(api, ns)}
             and sum(1 for r, m in cj_events(api, ns) if r == "SuccessfulDelete" and "replace-" in m) >= 1,
             what=lambda: f"Forbid skipping and Replace deleting, events {cj_events(api, ns)}")
    by_owner: dict[str, list[str]] = {}
    for job in jobs(api, ns):
        by_owner.setdefault(job["metadata"]["ownerReferences"][0]["name"], []).append(job["metadata"]["name"])
    assert len(by_owner["forbid"]) == 1  # the first one still runs; no other was started
    assert len(by_owner["replace"]) == 1  # each new one replaced the one before
    cj = api("GET", resource_path("batch/v1", "cronjobs", namespace=ns, name="forbid"))
    assert [a["name"] for a in cj["status"]["active"]] == by_owner["forbid"]
    api("PATCH", resource_path("batch/v1", "cronjobs", namespace=ns, name="forbid"), {"spec": {"suspend": True}},
        content_type="application/merge-patch+json")
    api("PATCH", resource_path("batch/v1", "cronjobs", namespace=ns, name="replace"), {"spec": {"suspend": True}},
        content_type="application/merge-patch+json")
