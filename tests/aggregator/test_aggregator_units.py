"""The pieces of kube-aggregator that need no backend: what a proxied path is for authorization, which
endpoint a Service resolves to, and discovery merged from a backend whatever it sends."""

from __future__ import annotations

import pytest

from labkit.apiserver import discovery
from labkit.apiserver.aggregator_proxy import ResolveError, request_info, resolve_endpoint

SERVICE = {"metadata": {"name": "api", "namespace": "ns"}, "spec": {"ports": [{"name": "https", "port": 443}]}}


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/apis/g.dev/v1", {}, ("get", False, "", "", "", "")),
    ("GET", "/apis/g.dev/v1/widgets", {}, ("list", True, "", "widgets", "", "")),
    ("GET", "/apis/g.dev/v1/namespaces/a/widgets", {"watch": "true"}, ("watch", True, "a", "widgets", "", "")),
    ("PUT", "/apis/g.dev/v1/namespaces/a/widgets/w/status", {}, ("update", True, "a", "widgets", "w", "status")),
    ("DELETE", "/apis/g.dev/v1/namespaces/a/widgets", {}, ("deletecollection", True, "a", "widgets", "", "")),
    ("GET", "/apis/g.dev/v1/namespaces/a", {}, ("get", True, "a", "namespaces", "a", "")),
    ("PUT", "/apis/g.dev/v1/namespaces/a/finalize", {}, ("update", True, "a", "namespaces", "a", "finalize")),
])
def test_request_info_of_a_proxied_path(method: str, path: str, query: dict, expected: tuple) -> None:
    info = request_info(method, path, query)
    assert (info.verb, info.is_resource, info.namespace, info.plural, info.name, info.subresource) == expected
    assert (info.group, info.version) == ("g.dev", "v1")


def test_an_endpoint_is_a_ready_address_on_the_port_named_as_the_service_port() -> None:
    slices = [{"ports": [{"name": "other", "port": 9000}], "endpoints": [{"addresses": ["10.0.0.9"]}]},
              {"ports": [{"name": "https", "port": 8443}], "endpoints": [
                  {"addresses": ["10.0.0.1"], "conditions": {"ready": False}}, {"addresses": ["10.0.0.2"]}]}]
    assert resolve_endpoint(SERVICE, slices, 443) == ("10.0.0.2", 8443)
    with pytest.raises(ResolveError):
        resolve_endpoint(SERVICE, slices, 80)  # no such Service port
    with pytest.raises(ResolveError):
        resolve_endpoint(SERVICE, slices[:1], 443)
    with pytest.raises(ResolveError):
        resolve_endpoint(None, slices, 443)


def test_discovery_of_a_backend_that_leaves_fields_out_or_lists_junk() -> None:
    resources = [{"name": "widgets", "kind": "Widget"}, {"name": "widgets/status", "kind": "Widget", "verbs": ["get"]},
                 {"name": "orphans/scale"}, "junk", {"kind": "NoName"}]
    group = discovery.ExternalGroup("g.dev", (discovery.ExternalVersion("v1", resources, fresh=False),
                                              discovery.ExternalVersion("v1beta1", None, fresh=False)))
    doc = discovery.aggregated_discovery(core=False, version="v2", external=[group])
    item = doc["items"][-1]
    assert item["metadata"] == {"name": "g.dev"}
    assert item["versions"] == [{"version": "v1", "freshness": "Stale", "resources": [{
        "resource": "widgets", "responseKind": {"group": "", "version": "", "kind": "Widget"}, "scope": "Cluster",
        "singularResource": "", "verbs": [],
        "subresources": [{"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Widget"},
                          "verbs": ["get"]}]}]}]
    legacy = discovery.api_group_list(external=[group])["groups"][-1]
    assert [v["version"] for v in legacy["versions"]] == ["v1", "v1beta1"]
    assert discovery.api_group("g.dev", external=[group])["preferredVersion"]["version"] == "v1"
