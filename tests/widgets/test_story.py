"""The story of an action: correlation by object, ordering, lanes, plain data, determinism."""

from __future__ import annotations

import json
import re

import pytest

from labkit import Cluster
from labkit.scheduler.explain import Attempt
from labkit.trace import Trace
from labkit.widgets.story import ObjectRef, build_story, lane_of_component, lane_of_user, ref_of, related_objects, story

from .conftest import create_pod, wait_for

WEB = ObjectRef("pods", "default", "web")


def req(trace: Trace, user: str, verb: str, resource: str, name: str, code: int, revision: int = 0) -> None:
    trace.request(user=user, verb=verb, resource=resource, namespace="default", name=name, code=code,
                  latency_ms=1.5, revision=revision, user_agent="kubectl/v1.31")


def test_ref_of_accepts_kubectl_names_objects_and_models() -> None:
    assert ref_of("pod/web") == WEB
    assert ref_of("deploy/web", namespace="prod") == ObjectRef("deployments", "prod", "web")
    assert ref_of("node/node-1") == ObjectRef("nodes", "", "node-1")
    rs = {"kind": "ReplicaSet", "metadata": {"name": "r", "namespace": "x"}}
    assert ref_of(rs) == ObjectRef("replicasets", "x", "r")
    assert str(ref_of("svc/api")) == "services/default/api"
    assert ref_of("svc/api").key() == "/registry/services/specs/default/api"
    with pytest.raises(ValueError):
        ref_of("web")
    with pytest.raises(ValueError):
        ref_of("gizmo/web")


def test_lanes_come_from_identities() -> None:
    assert lane_of_user("kubernetes-admin") == "client"
    assert lane_of_user("system:kube-scheduler") == "scheduler"
    assert lane_of_user("system:node:node-2") == "kubelet-node-2"
    assert lane_of_user("system:kube-controller-manager") == "controller-manager"
    assert lane_of_user("system:serviceaccount:kube-system:replicaset-controller") == "controller-manager"
    assert lane_of_user("system:kube-proxy") == "kube-proxy"
    assert lane_of_component("replicaset-controller") == "controller-manager"
    assert lane_of_component("kubelet-node-1") == "kubelet-node-1"


def test_build_story_correlates_orders_and_places_attempts_before_their_binding() -> None:
    t = Trace()
    req(t, "kubernetes-admin", "create", "pods", "web", 201, revision=5)
    req(t, "kubernetes-admin", "create", "pods", "other", 201, revision=6)  # another object: left out
    t.watch_event(user="system:kube-scheduler", resource="pods", type="ADDED", namespace="default", name="web",
                  revision=5)
    t.watch_event(user="system:kube-scheduler", resource="pods", type="BOOKMARK", namespace="default", name="web",
                  revision=6)
    req(t, "system:kube-scheduler", "create", "pods/binding", "web", 201, revision=7)
    t.watch_event(user="system:node:node-1", resource="pods", type="MODIFIED", namespace="default", name="web",
                  revision=7)
    t.decision(component="kubelet-node-1", resource="pods", namespace="default", name="web",
               summary="RunPodSandbox", data={"sandbox": "s1"})
    req(t, "system:node:node-1", "patch", "pods/status", "web", 200, revision=8)
    attempt = Attempt("default/web", "default-scheduler", 1, num_all_nodes=2, evaluated=["node-1", "node-2"],
                      feasible=["node-1", "node-2"], node="node-1")
    s = build_story(t.records(), [WEB], attempts={"default/web": [attempt]})
    kinds = [(st.kind, st.source, st.target) for st in s.steps]
    assert kinds == [
        ("request", "client", "apiserver"), ("store", "apiserver", "etcd"),
        ("watch", "apiserver", "scheduler"),
        ("schedule", "scheduler", "scheduler"),
        ("request", "scheduler", "apiserver"), ("store", "apiserver", "etcd"),
        ("watch", "apiserver", "kubelet-node-1"),
        ("decision", "kubelet-node-1", "kubelet-node-1"),
        ("request", "kubelet-node-1", "apiserver"), ("store", "apiserver", "etcd"),
    ]
    assert s.steps[1].summary == "write /registry/pods/default/web rev 5"
    assert s.steps[3].summary == "cycle 1: chose node-1 (2/2 nodes feasible)"
    assert s.lanes == ["client", "apiserver", "etcd", "scheduler", "kubelet-node-1"]
    data = s.to_data()
    assert json.loads(s.to_json()) == data
    assert data[0]["data"] == {"user": "kubernetes-admin", "user_agent": "kubectl/v1.31", "verb": "create",
                               "resource": "pods", "code": 201, "revision": 5}
    assert data[7]["data"] == {"sandbox": "s1"}
    assert "seq" not in data[0] and s.to_data(times=True)[0]["seq"] == 1
    assert s.text().splitlines()[0] == "story of pods/default/web: 10 steps"


def test_an_attempt_without_a_write_yet_goes_last() -> None:
    t = Trace()
    req(t, "kubernetes-admin", "create", "pods", "web", 201, revision=5)
    pending = Attempt("default/web", "default-scheduler", 3, error="0/2 nodes are available")
    s = build_story(t.records(), [WEB], attempts={"default/web": [pending]})
    assert [st.kind for st in s.steps] == ["request", "store", "schedule"]
    assert s.steps[-1].summary.startswith("cycle 3: unschedulable")


def test_related_objects_follow_owner_references() -> None:
    def obj(kind: str, name: str, uid: str, owner: str = "") -> dict:
        meta = {"name": name, "namespace": "default", "uid": uid}
        if owner:
            meta["ownerReferences"] = [{"uid": owner}]
        return {"kind": kind, "metadata": meta}
    values = [obj("Deployment", "web", "d1"), obj("ReplicaSet", "web-abc", "r1", "d1"),
              obj("ReplicaSet", "api-abc", "r2", "d9"), obj("Pod", "web-abc-1", "p1", "r1"),
              obj("Pod", "api-abc-1", "p2", "r2"), obj("Pod", "lonely", "p3")]
    got = related_objects(values, ObjectRef("deployments", "default", "web"))
    assert [str(r) for r in got] == ["deployments/default/web", "replicasets/default/web-abc",
                                     "pods/default/web-abc-1"]


def test_story_of_a_pod_create_in_a_cluster(cluster: Cluster) -> None:
    create_pod(cluster, "web")
    wait_for(lambda: any(s.kind == "watch" and s.data["type"] == "MODIFIED" for s in story(cluster, "pod/web")))
    s = story(cluster, "pod/web")
    first = s.steps[0]
    assert (first.kind, first.source, first.data["user"], first.data["verb"], first.data["code"]) == \
        ("request", "client", "kubernetes-admin", "create", 201)
    assert s.steps[1].kind == "store" and s.steps[1].data["revision"] == first.data["revision"] > 0
    added = next(st for st in s.steps if st.kind == "watch" and st.data["type"] == "ADDED")
    assert added.target == "scheduler" and added.data["user"] == "system:kube-scheduler"
    assert added.data["revision"] == first.data["revision"]
    decided = next(st for st in s.steps if st.kind == "schedule")
    binding = next(st for st in s.steps if st.kind == "request" and st.data["resource"] == "pods/binding")
    assert s.steps.index(added) < s.steps.index(decided) < s.steps.index(binding)
    assert binding.source == "scheduler" and binding.data["code"] == 201
    assert decided.data["node"] in ("node-1", "node-2") and decided.data["totals"]
    assert binding.data["revision"] > first.data["revision"]


def _stepped_story(seed: int) -> list[dict]:
    with Cluster(nodes=2, seed=seed, runtime="sim") as c:
        c.pause()
        create_pod(c, "a")
        create_pod(c, "b")
        for name in ("a", "b"):
            wait_for(lambda: c.step("scheduler"))
            wait_for(lambda: any(s.data.get("resource") == "pods/binding" for s in story(c, f"pod/{name}")))
        wait_for(lambda: len(story(c, "pod/b").steps) >= 7)
        return story(c, "pod/a").to_data() + story(c, "pod/b").to_data()


def _relative_revisions(data: list[dict]) -> list[dict]:
    """Revisions counted from the story's first write: how many writes the cluster's own start-up
    made (leases, service accounts) before the pause is not part of the story."""
    base = data[0]["data"]["revision"]
    out = json.loads(json.dumps(data))
    for d in out:
        if "revision" in d["data"]:
            d["data"]["revision"] -= base
        d["summary"] = re.sub(r"rev (\d+)", lambda m: f"rev +{int(m.group(1)) - base}", d["summary"])
    return out


def test_step_mode_gives_the_same_story_twice() -> None:
    first, second = _stepped_story(7), _stepped_story(7)
    assert _relative_revisions(first) == _relative_revisions(second)
    assert [d["kind"] for d in first].count("schedule") == 2
    assert {d["target"] for d in first if d["kind"] == "watch"} >= {"scheduler", "controller-manager"}
