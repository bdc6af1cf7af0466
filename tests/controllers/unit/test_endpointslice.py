"""The EndpointSlice controller alone (``pkg/controller/endpointslice``): a Service and its pods in, the
EndpointSlice writes out."""

from __future__ import annotations

import pytest

from labkit.controllers.endpointslice import EndpointSliceController

from .objects import NS, meta, owner, pod, service

KEY = f"{NS}/web"
SERVICE_NAME, MANAGED_BY = "kubernetes.io/service-name", "endpointslice.kubernetes.io/managed-by"
HTTP_ALT = [{"name": "http-alt", "containerPort": 8080, "protocol": "TCP"}]


def endpoint(p: dict, *, ready: bool, serving: bool | None = None) -> dict:
    return {"addresses": [p["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": ready if serving is None else serving, "terminating": False},
            "targetRef": {"kind": "Pod", "namespace": NS, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]},
            "nodeName": p["spec"]["nodeName"]}


def slices(h) -> list[dict]:
    return h.objects("discovery.k8s.io/v1", "endpointslices")


def test_ready_and_not_ready_pods_are_endpoints_with_their_conditions(harness):
    ready = pod("ready", node="n1", ip="10.244.1.5", ports=HTTP_ALT)
    starting = pod("starting", node="n2", ip="10.244.1.6", ready=False, ports=HTTP_ALT)
    svc = service(selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": "http-alt",
                                                    "protocol": "TCP"}])
    svc["metadata"]["labels"] = {"team": "a"}
    h = harness(EndpointSliceController, [svc, ready, starting])
    assert h.drain() == [KEY]
    assert h.writes() == [("create", "endpointslices", NS, "", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": "web-", "namespace": NS,
                     "labels": {"team": "a", SERVICE_NAME: "web", MANAGED_BY: "endpointslice-controller.k8s.io"},
                     "ownerReferences": [owner(svc)]},
        "addressType": "IPv4",
        "endpoints": [endpoint(ready, ready=True), endpoint(starting, ready=False)],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})]


def test_publish_not_ready_addresses_makes_endpoints_ready_but_not_serving(harness):
    """``podToEndpoint``: ready counts publishNotReadyAddresses; serving is the pod's own readiness."""
    starting = pod("starting", node="n1", ip="10.244.1.6", ready=False)
    h = harness(EndpointSliceController, [service(selector={"app": "web"}, publishNotReadyAddresses=True), starting])
    h.drain()
    (s,) = slices(h)
    assert s["endpoints"][0]["conditions"] == {"ready": True, "serving": False, "terminating": False}


def test_a_service_with_no_pods_gets_a_placeholder_slice(harness):
    h = harness(EndpointSliceController, [service(selector={"app": "web"})])
    h.drain()
    (s,) = slices(h)
    assert (s["endpoints"], s["ports"]) == ([], [])


def test_the_slice_follows_its_pods_and_is_updated_in_place(harness):
    p = pod("p", node="n1", ip="10.244.1.5", ready=False)
    h = harness(EndpointSliceController, [service(selector={"app": "web"}), p])
    h.drain(watch=True)
    (before,) = slices(h)
    h.clear()
    h.run(h.client.patch(f"/api/v1/namespaces/{NS}/pods/p/status",
                         {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                         patch_type="application/strategic-merge-patch+json"))
    h.drain(watch=True)
    assert [(a.verb, a.name) for a in h.writes() if a.resource == "endpointslices"] == [
        ("update", before["metadata"]["name"])]
    (after,) = slices(h)
    assert after["endpoints"][0]["conditions"]["ready"] is True
    h.clear()
    h.controller.queue.add(KEY)
    h.drain()
    assert h.actions() == [], "unchanged: not written again"


@pytest.mark.parametrize("services", [[service(selector=None)], []], ids=["without selector", "deleted"])
def test_slices_of_a_deleted_service_or_one_without_selector_are_deleted_and_others_are_left(harness, services):
    ours = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta("web-abcde", labels={SERVICE_NAME: "web", MANAGED_BY: "endpointslice-controller.k8s.io"}),
            "addressType": "IPv4", "endpoints": [], "ports": []}
    theirs = {**ours, "metadata": meta("web-mine", labels={SERVICE_NAME: "web", MANAGED_BY: "someone-else"})}
    h = harness(EndpointSliceController, [*services, ours, theirs])
    h.controller.queue.add(KEY)  # as the Service's deletion would
    h.drain()
    assert h.writes() == [("delete", "endpointslices", NS, "web-abcde", None)]


def test_a_slice_deleted_by_hand_comes_back(harness):
    h = harness(EndpointSliceController, [service(selector={"app": "web"}), pod("p", node="n1", ip="10.244.1.5")])
    h.drain(watch=True)
    (s,) = slices(h)
    h.clear()
    h.run(h.client.delete(f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices/{s['metadata']['name']}"))
    h.drain(watch=True)
    assert [a.verb for a in h.writes()] == ["delete", "create"]
    assert len(slices(h)) == 1


def test_a_second_sync_before_the_cache_has_seen_the_slice_creates_no_second_slice(harness):
    """The ``endpointSliceTracker``: a Service synced again before the informer delivered the slice just
    created waits for its cache instead of creating a second (placeholder) slice."""
    h = harness(EndpointSliceController, [service(selector={"app": "web"}), pod("p", node="n1", ip="10.244.1.5")])
    h.drain()  # the create is not delivered to the cache
    h.controller.queue.add(KEY)
    h.drain()
    assert [a.verb for a in h.writes()] == ["create"]
    h.drain(watch=True, advance=1)
    assert [a.verb for a in h.writes()] == ["create"]
    assert len(slices(h)) == 1


def test_a_stray_slice_of_the_service_is_deleted(harness):
    svc = service(selector={"app": "web"})
    stray = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": meta("web-stray", labels={SERVICE_NAME: "web", MANAGED_BY: "endpointslice-controller.k8s.io"},
                              ownerReferences=[owner(svc)]),
             "addressType": "IPv4", "endpoints": [], "ports": []}
    kept = {**stray, "metadata": {**stray["metadata"], "name": "web-kept"}}
    h = harness(EndpointSliceController, [svc, kept, stray, pod("p", node="n1", ip="10.244.1.5")])
    h.drain(watch=True)
    assert [s["metadata"]["name"] for s in slices(h)] == ["web-kept"]
    assert len(slices(h)[0]["endpoints"]) == 1
