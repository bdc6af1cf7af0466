"""events.k8s.io/v1 Events: the core/v1 Events under another shape, as kube-apiserver serves them
(one storage, /registry/events; regarding is involvedObject, note is message ...)."""

from __future__ import annotations

import json

import requests
from testkit import Kubectl

from labkit import Cluster

NEW_EVENT = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "scaled"},
             "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.com/scaler",
             "reportingInstance": "scaler-1", "action": "Scaling", "reason": "Scaled", "type": "Normal",
             "note": "scaled web to 3", "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "web"}}



def test_one_event_in_both_apis(raw: requests.Session, cluster: Cluster, namespace: str) -> None:
    new_api = f"{cluster.url}/apis/events.k8s.io/v1/namespaces/{namespace}/events"
    core_api = f"{cluster.url}/api/v1/namespaces/{namespace}/events"
    event = {**NEW_EVENT, "regarding": {**NEW_EVENT["regarding"], "namespace": namespace}}
    r = raw.post(new_api, json=event)
    assert r.status_code == 201, r.text
    core = raw.get(f"{core_api}/scaled").json()
    assert (core["apiVersion"], core["message"], core["reportingComponent"], core["involvedObject"]["name"]) == (
        "v1", "scaled web to 3", "example.com/scaler", "web")
    assert not {"note", "regarding", "reportingController"} & core.keys()

    legacy = {"metadata": {"name": "pulled"}, "involvedObject": {"kind": "Pod", "name": "web", "namespace": namespace},
              "reason": "Pulled", "message": "pulled the image", "type": "Normal", "count": 2,
              "source": {"component": "kubelet", "host": "node-1"}, "firstTimestamp": "2026-01-01T00:00:00Z",
              "lastTimestamp": "2026-01-01T00:01:00Z"}
    assert raw.post(core_api, json=legacy).status_code == 201
    shown = raw.get(f"{new_api}/pulled").json()
    assert {k: shown[k] for k in ("apiVersion", "note", "deprecatedCount", "deprecatedSource",
                                  "deprecatedFirstTimestamp", "deprecatedLastTimestamp")} == {
        "apiVersion": "events.k8s.io/v1", "note": "pulled the image", "deprecatedCount": 2,
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z", "deprecatedLastTimestamp": "2026-01-01T00:01:00Z"}
    assert shown["regarding"]["name"] == "web"
    names = [e["metadata"]["name"] for e in raw.get(new_api).json()["items"]]
    assert sorted(names) == ["pulled", "scaled"]

    r = raw.patch(f"{new_api}/scaled", data=json.dumps({"note": "scaled web to 4"}),
                  headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["note"] == "scaled web to 4"
    assert raw.get(f"{core_api}/scaled").json()["message"] == "scaled web to 4"
    assert raw.delete(f"{new_api}/pulled").status_code == 200
    assert raw.get(f"{core_api}/pulled").status_code == 404


def test_a_new_event_must_not_use_the_deprecated_fields(raw: requests.Session, cluster: Cluster,
                                                        namespace: str) -> None:
    event = {k: v for k, v in NEW_EVENT.items() if k != "eventTime"}
    event.update(type="Odd", deprecatedCount=3)
    r = raw.post(f"{cluster.url}/apis/events.k8s.io/v1/namespaces/{namespace}/events", json=event)
    assert r.status_code == 422
    assert [c["field"] for c in r.json()["details"]["causes"]] == ["eventTime", "type", "deprecatedCount"]
    assert r.json()["message"] == ('Event "scaled" is invalid: [eventTime: Required value, type: Invalid value: "": '
                                   'has invalid value: Odd, deprecatedCount: Invalid value: "": needs to be unset]')
    r = raw.post(f"{cluster.url}/apis/events.k8s.io/v1/namespaces/{namespace}/events",
                 json={**NEW_EVENT, "regarding": "web"})
    assert r.status_code == 400 and "cannot unmarshal string" in r.json()["message"]


def test_kubectl_reads_events_through_either_api(kubectl: Kubectl, raw: requests.Session, cluster: Cluster,
                                                 namespace: str) -> None:
    event = {**NEW_EVENT, "regarding": {**NEW_EVENT["regarding"], "namespace": namespace}}
    assert raw.post(f"{cluster.url}/apis/events.k8s.io/v1/namespaces/{namespace}/events", json=event).ok
    out = kubectl("get", "events.events.k8s.io", "-n", namespace)
    assert out.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "Scaled" in out and "pod/web" in out and "scaled web to 3" in out
    got = json.loads(kubectl("get", "events.events.k8s.io", "scaled", "-n", namespace, "-o", "json"))
    assert (got["apiVersion"], got["reportingController"]) == ("events.k8s.io/v1", "example.com/scaler")
    out = kubectl("events", "-n", namespace, "--for", "pod/web")
    assert "Scaled" in out and "Pod/web" in out
