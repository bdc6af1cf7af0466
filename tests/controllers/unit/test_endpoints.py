"""The Endpoints controller alone (``pkg/controller/endpoint``): a Service and its pods in, the Endpoints
object out."""

from __future__ import annotations

import pytest

from labkit.controllers.endpoints import EndpointsController

from .objects import NS, meta, pod, service

KEY = f"{NS}/web"
HTTP_ALT = [{"name": "http-alt", "containerPort": 8080, "protocol": "TCP"}]


def address(p: dict, node: str = "n1") -> dict:
    return {"ip": p["status"]["podIP"], "nodeName": node,
            "targetRef": {"kind": "Pod", "namespace": NS, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}


def endpoints_written(h) -> dict:
    (write,) = [a for a in h.writes() if a.resource == "endpoints"]
    return write


def test_ready_pods_are_addresses_and_the_others_not_ready_addresses(harness):
    ready = pod("ready", node="n1", ip="10.244.1.5", ports=HTTP_ALT)
    starting = pod("starting", node="n1", ip="10.244.1.6", ready=False, ports=HTTP_ALT)
    svc = service(selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": "http-alt",
                                                    "protocol": "TCP"}])
    h = harness(EndpointsController, [svc, ready, starting])
    assert h.drain() == [KEY]
    assert endpoints_written(h) == ("create", "endpoints", NS, "", {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": NS, "labels": {}},
        "subsets": [{"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                     "addresses": [address(ready)], "notReadyAddresses": [address(starting)]}]})


@pytest.mark.parametrize("why, p", [
    ("no IP yet", pod("no-ip", node="n1")),
    ("terminating", pod("going", node="n1", ip="10.244.1.7", deleting=True)),
    ("finished (ShouldPodBeInEndpoints: a terminal pod is never an endpoint)",
     pod("done", node="n1", ip="10.244.1.8", phase="Succeeded")),
    ("failed", pod("failed", node="n1", ip="10.244.1.9", phase="Failed")),
    ("another app", pod("db", node="n1", ip="10.244.1.10", labels={"app": "db"})),
    ("another namespace", pod("elsewhere", node="n1", ip="10.244.1.11", namespace="other")),
])
def test_pods_that_are_not_endpoints(harness, why, p):
    h = harness(EndpointsController, [service(selector={"app": "web"}), p])
    h.drain()
    assert endpoints_written(h).body["subsets"] == [], why


def test_addresses_are_sorted_by_ip(harness):
    """``RepackSubsets`` sorts a subset's addresses by IP, whatever the pods are called."""
    pods = [pod("a", node="n1", ip="10.244.1.30"), pod("b", node="n1", ip="10.244.1.4"),
            pod("c", node="n1", ip="10.244.1.200")]
    h = harness(EndpointsController, [service(selector={"app": "web"}), *pods])
    h.drain()
    (subset,) = endpoints_written(h).body["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.1.200", "10.244.1.30", "10.244.1.4"]


def test_pods_whose_ports_resolve_differently_are_in_different_subsets(harness):
    a = pod("a", node="n1", ip="10.244.1.5", ports=[{"name": "web", "containerPort": 8080}])
    b = pod("b", node="n1", ip="10.244.1.6", ports=[{"name": "web", "containerPort": 9090}])
    svc = service(selector={"app": "web"}, ports=[{"port": 80, "targetPort": "web", "protocol": "TCP"}])
    h = harness(EndpointsController, [svc, a, b])
    h.drain()
    subsets = endpoints_written(h).body["subsets"]
    assert [(s["ports"][0]["port"], [x["ip"] for x in s["addresses"]]) for s in subsets] == [
        (8080, ["10.244.1.5"]), (9090, ["10.244.1.6"])]


def test_publish_not_ready_addresses_lists_every_pod_as_ready(harness):
    svc = service(selector={"app": "web"}, publishNotReadyAddresses=True)
    h = harness(EndpointsController, [svc, pod("starting", node="n1", ip="10.244.1.6", ready=False)])
    h.drain()
    (subset,) = endpoints_written(h).body["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.1.6"] and "notReadyAddresses" not in subset


def test_a_service_without_selector_keeps_the_users_endpoints(harness):
    users = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("web"),
             "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]}
    h = harness(EndpointsController, [service(selector=None), users])
    h.drain()
    assert h.actions() == []


def test_unchanged_endpoints_are_not_written_again(harness):
    ready = pod("ready", node="n1", ip="10.244.1.5")
    h = harness(EndpointsController, [service(selector={"app": "web"}), ready])
    h.drain(watch=True)
    h.clear()
    h.controller.queue.add(KEY)
    assert h.drain() == [KEY] and h.actions() == []


def test_a_pod_that_turns_ready_moves_to_addresses(harness):
    p = pod("p", node="n1", ip="10.244.1.5", ready=False)
    h = harness(EndpointsController, [service(selector={"app": "web"}), p])
    h.drain(watch=True)
    h.clear()
    h.run(h.client.patch(f"/api/v1/namespaces/{NS}/pods/p/status",
                         {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                         patch_type="application/strategic-merge-patch+json"))
    h.drain(watch=True)
    (update,) = [a for a in h.writes() if a.resource == "endpoints"]
    assert update.verb == "update" and [a["ip"] for a in update.body["subsets"][0]["addresses"]] == ["10.244.1.5"]


def test_a_deleted_service_takes_its_endpoints_along(harness):
    svc = service(selector={"app": "web"})
    eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("web"), "subsets": []}
    h = harness(EndpointsController, [svc, eps])
    h.drain(watch=True)
    h.run(h.client.delete(f"/api/v1/namespaces/{NS}/services/web"))
    h.clear()
    h.drain(watch=True)
    assert h.writes() == [("delete", "endpoints", NS, "web", None)]
