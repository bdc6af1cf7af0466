from labkit.client import resource_path

from .conftest import wait_for

MERGE = "application/merge-patch+json"


def make_pod(api, ns, name, ip, ready):
    api("POST", resource_path("v1", "pods", namespace=ns),
        {"metadata": {"name": name, "labels": {"app": "web"}},
         "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx",
                                                     "ports": [{"name": "http-alt", "containerPort": 8080}]}]}})
    api("PATCH", resource_path("v1", "pods", namespace=ns, name=name, subresource="status"),
        {"status": {"phase": "Running", "podIP": ip,
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}, content_type=MERGE)


def test_endpoints_and_slices_follow_pods(api, ns):
    make_pod(api, ns, "ready", "10.244.1.5", True)
    make_pod(api, ns, "starting", "10.244.1.6", False)
    api("POST", resource_path("v1", "services", namespace=ns),
        {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
                                               "ports": [{"name": "http", "port": 80, "targetPort": "http-alt"}]}})

    def endpoints():
        e = api("GET", resource_path("v1", "endpoints", namespace=ns))["items"]
        return e and e[0].get("subsets") and e[0]
    ep = wait_for(endpoints, what="Endpoints")
    (subset,) = ep["subsets"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(a["ip"], a["targetRef"]["name"], a["nodeName"]) for a in subset["addresses"]] == [("10.244.1.5", "ready", "n1")]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.244.1.6"]

    def slice_():
        s = api("GET", resource_path("discovery.k8s.io/v1", "endpointslices", namespace=ns),
                params={"labelSelector": "kubernetes.io/service-name=web"})["items"]
        return len(s) == 1 and len(s[0].get("endpoints") or []) == 2 and s[0]
    es = wait_for(slice_, what="EndpointSlice")
    assert es["metadata"]["name"].startswith("web-") and es["addressType"] == "IPv4"
    assert es["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert {e["targetRef"]["name"]: e["conditions"]["ready"] for e in es["endpoints"]} == {"ready": True, "starting": False}

    api("DELETE", resource_path("v1", "pods", namespace=ns, name="ready"), {"gracePeriodSeconds": 0})
    wait_for(lambda: "addresses" not in (endpoints() or {"subsets": [{"addresses": 1}]})["subsets"][0],
             what="deleted pod leaves Endpoints")
    api("DELETE", resource_path("v1", "services", namespace=ns, name="web"))
    wait_for(lambda: not api("GET", resource_path("v1", "endpoints", namespace=ns))["items"], what="Endpoints removed")
