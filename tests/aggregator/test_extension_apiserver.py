"""An extension API server in a pod behind a Service and an APIService (the process runtime):
kube-aggregator's proxy with the user's identity, discovery merged into ``/apis`` and ``kubectl
api-resources``, the ``Available`` condition as ``kubectl get apiservice`` shows it, and 503 once the
backend's pod is gone."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from testkit import Kubectl, kubectl_path, need, wait_for

from labkit import Cluster
from labkit.client import APIStatusError, resource_path
from labkit.kubelet.runtime.docker import docker_client
from labkit.network import netns

pytestmark = pytest.mark.kubectl
GROUP, NAME = "demo.labkit.dev", "v1.demo.labkit.dev"
SCRIPT = (Path(__file__).parent / "demo_apiserver.py").read_text()
APISERVICES = resource_path("apiregistration.k8s.io/v1", "apiservices")


def serving_cert(dns_name: str) -> tuple[str, str]:
    """A self-signed certificate for ``dns_name`` (its own CA: what goes into ``caBundle``) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def backend_pod(cert: str, key: str) -> dict:
    env = [{"name": "PORT", "value": "8443"}, {"name": "TLS_CERT", "value": cert}, {"name": "TLS_KEY", "value": key}]
    return {"metadata": {"name": "demo-api", "labels": {"app": "demo-api"}}, "spec": {
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "server", "image": "python:3.12", "command": ["python", "-c", SCRIPT],
                        "env": env, "ports": [{"containerPort": 8443}]}]}}


def condition(c: Cluster) -> dict:
    obj = c.run(c.admin().get(resource_path("apiregistration.k8s.io/v1", "apiservices", name=NAME)))
    return next((x for x in (obj.get("status") or {}).get("conditions") or [] if x["type"] == "Available"), {})


def install_demo(c: Cluster) -> None:
    """The demo server's pod and Service, and the APIService trusting its CA; returns once Available."""
    admin = c.admin()
    cert, key = serving_cert("demo-api.default.svc")
    c.run(admin.create(resource_path("v1", "pods", namespace="default"), backend_pod(cert, key)))
    c.run(admin.create(resource_path("v1", "services", namespace="default"), {
        "metadata": {"name": "demo-api"},
        "spec": {"selector": {"app": "demo-api"}, "ports": [{"port": 443, "targetPort": 8443}]}}))
    c.run(admin.create(APISERVICES, {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": NAME},
        "spec": {"group": GROUP, "version": "v1", "groupPriorityMinimum": 1000, "versionPriority": 15,
                 "caBundle": base64.b64encode(cert.encode()).decode(),
                 "service": {"namespace": "default", "name": "demo-api"}}}))
    wait_for(lambda: condition(c).get("status") == "True", timeout=20, what=lambda: str(condition(c)))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """One process node running the demo server behind its Service and APIService."""
    with Cluster(nodes=1, runtime="process", seed=5, set_kubeconfig_env=False) as c:
        install_demo(c)
        yield c


@pytest.fixture(params=("1.27", "1.33"))
def kubectl(request: pytest.FixtureRequest, cluster: Cluster, tmp_path: Path) -> Kubectl:
    return Kubectl(kubectl_path(request.param), cluster.kubeconfig, tmp_path / "cache")


def test_available_and_served_through_the_proxy_with_the_users_identity(cluster: Cluster, kubectl: Kubectl) -> None:
    assert condition(cluster)["reason"] == "Passed" and condition(cluster)["message"] == "all checks passed"
    assert kubectl("get", "apiservice", NAME).split("\n")[1].split()[:3] == [NAME, "default/demo-api", "True"]
    resources = kubectl("api-resources", f"--api-group={GROUP}")
    assert resources.split("\n")[1].split() == ["widgets", "wd", f"{GROUP}/v1", "true", "Widget"]
    assert kubectl("get", "widgets").split() == ["NAME", "USER", "for-kubernetes-admin", "kubernetes-admin"]
    listed = json.loads(kubectl("get", "wd", "-o", "json"))
    assert listed["items"][0]["spec"]["groups"] == ["system:masters", "system:authenticated"]


def test_the_trust_an_extension_api_server_reads_is_published(cluster: Cluster) -> None:
    found = cluster.run(cluster.admin().get(resource_path("v1", "configmaps", namespace="kube-system",
                                                          name="extension-apiserver-authentication")))["data"]
    assert {k: v for k, v in found.items() if not k.endswith("-ca-file")} == {
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
        "requestheader-group-headers": '["X-Remote-Group"]', "requestheader-uid-headers": "[]",
        "requestheader-username-headers": '["X-Remote-User"]'}
    assert found["requestheader-client-ca-file"].startswith("-----BEGIN CERTIFICATE-----")


def test_discovery_lists_the_group_and_a_watch_passes_through(cluster: Cluster) -> None:
    admin = cluster.admin()
    groups = cluster.run(admin.get("/apis"))["groups"]
    assert groups[-1] == {"name": GROUP, "versions": [{"groupVersion": f"{GROUP}/v1", "version": "v1"}],
                          "preferredVersion": {"groupVersion": f"{GROUP}/v1", "version": "v1"}}
    assert cluster.run(admin.get(f"/apis/{GROUP}"))["kind"] == "APIGroup"
    assert cluster.run(admin.get(f"/apis/{GROUP}/v1"))["resources"][0]["name"] == "widgets"  # the backend's own

    async def one_event() -> list:
        return [event async for event in admin.watch(f"/apis/{GROUP}/v1/namespaces/default/widgets")]
    events = cluster.run(one_event())
    assert [(kind, obj["metadata"]["name"]) for kind, obj in events] == [("ADDED", "for-kubernetes-admin")]


def test_a_local_apiservice_is_always_available(cluster: Cluster) -> None:
    admin = cluster.admin()
    cluster.run(admin.create(APISERVICES, {"metadata": {"name": "v1.local.labkit.dev"}, "spec": {
        "group": "local.labkit.dev", "version": "v1", "groupPriorityMinimum": 100, "versionPriority": 10}}))
    path = resource_path("apiregistration.k8s.io/v1", "apiservices", name="v1.local.labkit.dev")
    found = wait_for(lambda: (cluster.run(admin.get(path)).get("status") or {}).get("conditions"), timeout=5)
    assert [(c["status"], c["reason"], c["message"]) for c in found] == [
        ("True", "Local", "Local APIServices are always available")]


def test_a_user_without_rbac_is_forbidden_before_the_proxy_and_a_bound_one_is_passed_on(cluster: Cluster) -> None:
    jane = cluster.client_for("jane", ["team"])
    widgets = f"/apis/{GROUP}/v1/namespaces/default/widgets"
    with pytest.raises(APIStatusError) as denied:
        cluster.run(jane.get(widgets))
    assert (denied.value.code, denied.value.status["message"]) == (
        403, f'widgets.{GROUP} is forbidden: User "jane" cannot list resource "widgets" in API group "{GROUP}" '
             'in the namespace "default"')
    admin, rbac = cluster.admin(), "rbac.authorization.k8s.io/v1"
    cluster.run(admin.create(resource_path(rbac, "roles", namespace="default"), {
        "metadata": {"name": "widget-reader"},
        "rules": [{"apiGroups": [GROUP], "resources": ["widgets"], "verbs": ["list"]}]}))
    cluster.run(admin.create(resource_path(rbac, "rolebindings", namespace="default"), {
        "metadata": {"name": "jane-reads-widgets"}, "subjects": [{"kind": "User", "name": "jane"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "widget-reader"}}))
    listed = wait_for(lambda: _or_none(lambda: cluster.run(jane.get(widgets))), timeout=5)
    assert listed["items"][0]["metadata"]["name"] == "for-jane"
    assert listed["items"][0]["spec"]["groups"] == ["team", "system:authenticated"]


def _or_none(read: Callable[[], dict]) -> dict | None:
    try:
        return read()
    except APIStatusError:
        return None


def test_without_its_pod_the_apiservice_is_unavailable_and_requests_answer_503(cluster: Cluster,
                                                                                tmp_path: Path) -> None:
    admin = cluster.admin()
    kubectl = Kubectl(kubectl_path("1.33"), cluster.kubeconfig, tmp_path / "cache")
    cluster.run(admin.delete(resource_path("v1", "pods", namespace="default", name="demo-api")))
    wait_for(lambda: condition(cluster).get("reason") == "MissingEndpoints", timeout=15,
             what=lambda: str(condition(cluster)))
    found = condition(cluster)
    assert (found["status"], found["message"]) == (
        "False", 'endpointslices for service/demo-api in "default" have no addresses with port name ""')
    assert kubectl("get", "apiservice", NAME).split("\n")[1].split()[2:4] == ["False", f"({found['reason']})"]
    status, body = cluster.run(admin.requests.request("GET", f"/apis/{GROUP}/v1/namespaces/default/widgets",
                                                      params=None, headers=admin._header_lines, body=None,
                                                      content_type="application/json"))
    assert (status, body) == (503, b"service unavailable\n")  # kube's proxy: Go's http.Error
    failed = kubectl.run("get", "widgets", check=False)
    assert ("Error from server (ServiceUnavailable): the server is currently unable to handle the request"
            in failed.stderr)
    cluster.run(admin.delete(resource_path("v1", "services", namespace="default", name="demo-api")))
    wait_for(lambda: condition(cluster).get("reason") == "ServiceNotFound", timeout=10,
             what=lambda: str(condition(cluster)))
    assert condition(cluster)["message"] == 'service/demo-api in "default" is not present'


@pytest.mark.unprivileged
def test_in_the_clusters_own_network_namespace_the_proxy_reaches_the_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without root the process runtime's pods live in the cluster's namespace, which the API server's
    own loopback cannot reach: the proxy dials through the namespace's sockets."""
    need(shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--user", "--net", "true"], capture_output=True).returncode == 0, "unprivileged user namespaces")
    monkeypatch.setattr(netns.HostNamespace, "can_bind", lambda self, port: False)  # as a learner without root
    with Cluster(nodes=1, runtime="process", seed=6, set_kubeconfig_env=False) as c:
        assert "the cluster's own network namespace" in c.path
        install_demo(c)
        listed = c.run(c.admin().get(f"/apis/{GROUP}/v1/namespaces/default/widgets"))
        assert listed["items"][0]["metadata"]["name"] == "for-kubernetes-admin"


@pytest.mark.docker
def test_on_docker_the_proxy_reaches_the_pod_on_the_bridge() -> None:
    try:
        docker_client().ping()
        reachable = True
    except docker.errors.DockerException:
        reachable = False
    need(reachable, "a Docker daemon")
    with Cluster(nodes=1, runtime="docker", seed=7, set_kubeconfig_env=False) as c:
        install_demo(c)
        listed = c.run(c.admin().get(f"/apis/{GROUP}/v1/namespaces/default/widgets"))
        assert listed["items"][0]["metadata"]["name"] == "for-kubernetes-admin"
