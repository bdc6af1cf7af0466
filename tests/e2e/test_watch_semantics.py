"""Watch semantics as kube-apiserver has them: resourceVersion, selectors, 410 after compaction,
bookmarks and sendInitialEvents."""

from __future__ import annotations

import json
import threading
import time

import requests

from labkit import Cluster



#: every namespace holds the root CA publisher's ConfigMap; the tests watch their own
THEIRS = "metadata.name!=kube-root-ca.crt"


def events(raw: requests.Session, url: str, n: int, **params: str) -> list[dict]:
    out = []
    query = {"watch": "true", "timeoutSeconds": "3", "fieldSelector": THEIRS, **params}
    with raw.get(url, params=query, stream=True) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            out.append(json.loads(line))
            if len(out) == n:
                break
    return out


def cm(raw: requests.Session, url: str, name: str, **labels: str) -> dict:
    r = raw.post(url, json={"metadata": {"name": name, "labels": labels}})
    assert r.status_code == 201, r.text
    return r.json()


def test_rv_unset_sends_existing_objects_then_changes(cluster: Cluster, raw: requests.Session, namespace: str) -> None:
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    cm(raw, url, "one")
    got = events(raw, url, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [("ADDED", "one")]


def test_object_leaving_a_selector_is_deleted_for_that_watcher(cluster: Cluster, raw: requests.Session,
                                                               namespace: str) -> None:
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    start = cm(raw, url, "sel", tier="a")["metadata"]["resourceVersion"]
    raw.patch(f"{url}/sel", json={"metadata": {"labels": {"tier": "b"}}},
              headers={"Content-Type": "application/merge-patch+json"})
    got = events(raw, url, 1, labelSelector="tier=a", resourceVersion=start)
    assert (got[0]["type"], got[0]["object"]["metadata"]["labels"]) == ("DELETED", {"tier": "b"})


def test_a_watch_streams_from_the_watch_cache_after_compaction_and_gets_410_from_before_it(
        cluster: Cluster, raw: requests.Session, namespace: str) -> None:
    """kube's watch cache serves a resourceVersion its window reaches back to whatever etcd has
    compacted; one from before the window (revision 1 is before every cache's start) gets 410 Expired."""
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    old = cm(raw, url, "old")["metadata"]["resourceVersion"]
    cm(raw, url, "new")
    cm(raw, url, "newer")
    assert cluster.store is not None
    cluster.store.compact(cluster.store.revision)
    got = events(raw, url, 2, resourceVersion=old)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [("ADDED", "new"), ("ADDED", "newer")]
    got = events(raw, url, 1, resourceVersion="1")
    assert got[0]["type"] == "ERROR"
    status = got[0]["object"]
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert status["message"].startswith("too old resource version: 1 (")


def test_a_watch_from_a_revision_not_yet_seen_waits_for_it_then_a_later_one_gives_504(
        cluster: Cluster, raw: requests.Session, namespace: str) -> None:
    """An HA control plane's load balancer may send a list and the watch after it to two API servers:
    kube's watch cache waits up to 3 s for a revision its store has not seen before refusing it."""
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    now = int(cm(raw, url, "before")["metadata"]["resourceVersion"])
    got: list[dict] = []
    watching = threading.Thread(target=lambda: got.extend(events(raw, url, 1, resourceVersion=str(now + 1))))
    watching.start()
    time.sleep(0.3)  # the watch is waiting for revision now + 1
    cm(raw, url, "at")  # revision now + 1, or later if the cluster wrote elsewhere meanwhile
    cm(raw, url, "after")
    watching.join(10)
    [event] = got  # not an ERROR: the watch waited for the revision, then served what came after it
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] in ("at", "after")
    assert int(event["object"]["metadata"]["resourceVersion"]) > now + 1
    far = int(raw.get(url).json()["metadata"]["resourceVersion"]) + 10_000
    [error] = events(raw, url, 1, resourceVersion=str(far), timeoutSeconds="10")
    assert error["type"] == "ERROR" and error["object"]["code"] == 504
    assert error["object"]["message"].startswith(f"Timeout: Too large resource version: {far}, current: ")
    assert error["object"]["details"] == {"causes": [{"reason": "ResourceVersionTooLarge",
                                                      "message": "Too large resource version"}], "retryAfterSeconds": 1}


def test_send_initial_events_ends_with_a_bookmark(cluster: Cluster, raw: requests.Session, namespace: str) -> None:
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    cm(raw, url, "a")
    cm(raw, url, "b")
    got = events(raw, url, 3, sendInitialEvents="true", allowWatchBookmarks="true",
                 resourceVersionMatch="NotOlderThan")
    assert [e["type"] for e in got] == ["ADDED", "ADDED", "BOOKMARK"]
    assert got[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_as_table_carries_one_row_per_event(cluster: Cluster, raw: requests.Session, namespace: str) -> None:
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    cm(raw, url, "t")
    with raw.get(url, params={"watch": "true", "timeoutSeconds": "2", "fieldSelector": THEIRS}, stream=True,
                 headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}) as resp:
        first = json.loads(next(resp.iter_lines()))
    table = first["object"]
    assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["t", 0]
    assert table["rows"][0]["object"]["metadata"]["name"] == "t"


def test_trace_records_requests_and_watch_events(cluster: Cluster, raw: requests.Session, namespace: str) -> None:
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    before = cluster.trace.records()[-1].seq
    created = cm(raw, url, "traced")
    events(raw, url, 1)
    new = cluster.trace.records(since=before)
    create = next(r for r in new if r.kind == "request" and r.verb == "create" and r.user == "kubernetes-admin")
    assert (create.user, create.resource, create.namespace, create.name, create.code) == (
        "kubernetes-admin", "configmaps", namespace, "traced", 201)
    assert create.revision == int(created["metadata"]["resourceVersion"]) and create.latency_ms > 0
    delivered = next(r for r in new if r.kind == "watch" and r.user == "kubernetes-admin")
    assert (delivered.type, delivered.name, delivered.revision) == ("ADDED", "traced", create.revision)


def test_seeded_clusters_generate_the_same_names_and_uids() -> None:
    from kubernetes import client, config

    def run() -> tuple[str, str]:
        with Cluster(nodes=0, seed=42) as c:
            v1 = client.CoreV1Api(config.new_client_from_config(str(c.kubeconfig)))
            p = v1.create_namespaced_pod("default", {"metadata": {"generateName": "web-"},
                                                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
            return p.metadata.name, p.metadata.uid

    assert run() == run()


def test_watches_pinned_to_a_node_get_only_that_nodes_pods(cluster: Cluster, raw: requests.Session,
                                                            namespace: str) -> None:
    """What each kubelet watches (``spec.nodeName=NODE``) and the scheduler (``spec.nodeName=``): the
    watch cache indexes such watchers by node, and a pod moving onto a node leaves the unassigned watch."""
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/pods"
    rv = raw.get(url).json()["metadata"]["resourceVersion"]
    seen: dict[str, list[tuple[str, str]]] = {}

    def watch(node: str, n: int) -> None:
        got = events(raw, url, n, fieldSelector=f"spec.nodeName={node}", resourceVersion=rv)
        seen[node] = [(e["type"], e["object"]["metadata"]["name"]) for e in got]

    threads = [threading.Thread(target=watch, args=args) for args in (("ghost-a", 1), ("ghost-b", 1), ("", 4))]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the watches are live: what follows goes through the fan-out
    assert {"ghost-a", "ghost-b", ""} <= set(cluster.apiserver._watch_caches["", "v1", "pods"].triggered)  # type: ignore[union-attr]
    for name, node in (("pa", "ghost-a"), ("pb", "ghost-b")):
        body = {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}],
                                                     "schedulerName": "nobody"}}
        assert raw.post(url, json=body).status_code == 201
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        assert raw.post(f"{url}/{name}/binding", json=binding).status_code == 201
    for t in threads:
        t.join(timeout=10)
    for name in ("pa", "pb"):  # no kubelet will confirm these deletions: end them at once
        raw.delete(f"{url}/{name}", json={"gracePeriodSeconds": 0})
    assert seen == {"ghost-a": [("ADDED", "pa")], "ghost-b": [("ADDED", "pb")],
                    "": [("ADDED", "pa"), ("DELETED", "pa"), ("ADDED", "pb"), ("DELETED", "pb")]}
