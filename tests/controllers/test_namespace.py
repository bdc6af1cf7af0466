from labkit.client import APIStatusError, resource_path

from .conftest import wait_for


def exists(api, path):
    try:
        return api("GET", path)
    except APIStatusError as e:
        assert e.code == 404
        return None


def test_default_service_account_is_created_and_recreated(api, ns):
    path = resource_path("v1", "serviceaccounts", namespace=ns, name="default")
    first = wait_for(lambda: exists(api, path), what="default ServiceAccount")
    api("DELETE", path)
    again = wait_for(lambda: (sa := exists(api, path)) and sa["metadata"]["uid"] != first["metadata"]["uid"] and sa,
                     what="re-created")
    assert again["metadata"]["name"] == "default"


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


def test_every_namespace_gets_the_root_ca(api, kcm_cluster):
    """``kube-root-ca.crt``: in each namespace, put back when deleted, restored when changed."""
    api("POST", "/api/v1/namespaces", {"metadata": {"name": "with-ca"}})
    path = resource_path("v1", "configmaps", namespace="with-ca", name="kube-root-ca.crt")
    ca = kcm_cluster.apiserver.pki.ca_cert_pem.decode()
    first = wait_for(lambda: exists(api, path), what="kube-root-ca.crt")
    assert first["data"] == {"ca.crt": ca}
    api("PUT", path, {**first, "data": {"ca.crt": "tampered"}})
    wait_for(lambda: (exists(api, path) or {}).get("data") == {"ca.crt": ca}, what="restored")
    api("DELETE", path)
    wait_for(lambda: (cm := exists(api, path)) and cm["metadata"]["uid"] != first["metadata"]["uid"], what="put back")
