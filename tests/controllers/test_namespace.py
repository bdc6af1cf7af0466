"""Deleting a namespace end to end: the API server's namespace lifecycle, discovery and deletecollection, and
the namespace controller's finalize (each request alone: unit/test_namespace.py)."""

from labkit.client import APIStatusError, resource_path

from .conftest import wait_for


def exists(api, path):
    try:
        return api("GET", path)
    except APIStatusError as e:
        assert e.code == 404
        return None


def test_deleting_a_namespace_empties_and_removes_it(api):
    api("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    api("POST", resource_path("v1", "configmaps", namespace="doomed"), {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    api("POST", resource_path("v1", "pods", namespace="doomed"),
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    api("DELETE", "/api/v1/namespaces/doomed")
    assert api("GET", "/api/v1/namespaces/doomed")["status"]["phase"] == "Terminating"
    wait_for(lambda: exists(api, "/api/v1/namespaces/doomed") is None, what="namespace removed")
    # a namespace of the same name starts empty
    api("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    assert "cm" not in {c["metadata"]["name"] for c in api("GET", resource_path("v1", "configmaps", namespace="doomed"))["items"]}
    api("DELETE", "/api/v1/namespaces/doomed")
