"""Bootstrap tokens end to end on a cluster of its own: the API server authenticates them and lets
anonymous users read only ``cluster-info``, the signer signs it, and kubeadm's token discovery
trusts the cluster through it (or says why not, in kubeadm's words)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from testkit import kubectl_path, wait_for

from labkit import Cluster
from labkit.apimachinery import bootstraptoken as bt
from labkit.bootstrap import JoinError, create_token, discover, join_command, upload_cluster_info
from labkit.client import resource_path

SECRETS = resource_path("v1", "secrets", namespace="kube-system")
CLUSTER_INFO = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(runtime="sim", nodes=0) as c:
        assert c.apiserver is not None
        c.run(upload_cluster_info(c.admin(), c.url, c.apiserver.pki.ca_cert_pem))
        yield c


@pytest.fixture(scope="module")
def ca(cluster: Cluster) -> str:
    assert cluster.apiserver is not None
    return str(cluster.apiserver.pki.directory / "ca.crt")


@pytest.fixture(scope="module")
def ca_pem(cluster: Cluster) -> bytes:
    assert cluster.apiserver is not None
    return cluster.apiserver.pki.ca_cert_pem


@pytest.fixture(scope="module")
def token(cluster: Cluster) -> str:
    value = cluster.run(create_token(cluster.admin()))
    wait_for(lambda: f"jws-kubeconfig-{value[:6]}" in signatures(cluster), what="the token's signature")
    return value


def signatures(cluster: Cluster) -> dict[str, str]:
    data = cluster.run(cluster.admin().get(CLUSTER_INFO))["data"]
    return {k: v for k, v in data.items() if k.startswith("jws-kubeconfig-")}


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def whoami(cluster: Cluster, ca: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return session().post(f"{cluster.url}/apis/authentication.k8s.io/v1/selfsubjectreviews", json=REVIEW,
                          headers=headers, verify=ca)


def store_token(cluster: Cluster, value: str, **changes: str) -> None:
    """A token Secret written as given (``type`` replaced, data keys overridden)."""
    secret = bt.token_secret(value, now=dt.datetime.now(dt.UTC), ttl=dt.timedelta(hours=1))
    secret["type"] = changes.pop("type", secret["type"])
    for key, raw in changes.items():
        secret["data"][key.replace("_", "-")] = base64.b64encode(raw.encode()).decode()
    cluster.run(cluster.admin().create(SECRETS, secret))


# --- authentication ------------------------------------------------------------------------------------


def test_a_bootstrap_token_authenticates_as_its_bootstrap_user(cluster, ca, token):
    resp = whoami(cluster, ca, token)
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"]["userInfo"] == {
        "username": f"system:bootstrap:{token[:6]}",
        "groups": ["system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token",
                   "system:authenticated"]}


@pytest.mark.parametrize("token, changes", [
    ("wrongs.0123456789abcdef", {"token_secret": "0123456789abcdee"}),
    ("expird.0123456789abcdef", {"expiration": "2020-01-01T00:00:00Z"}),
    ("nousag.0123456789abcdef", {"usage_bootstrap_authentication": "yes"}),
    ("opaque.0123456789abcdef", {"type": "Opaque"}),
], ids=["wrong secret", "expired", "usage not true", "wrong type"])
def test_a_bad_bootstrap_token_is_401(cluster, ca, token, changes):
    store_token(cluster, token, **changes)
    resp = whoami(cluster, ca, token)
    assert (resp.status_code, resp.json()["reason"]) == (401, "Unauthorized")


def test_kubectl_auth_whoami_names_the_bootstrap_user(cluster, ca, token, tmp_path: Path):
    empty = tmp_path / "config"
    empty.write_text("")
    out = subprocess.run([str(kubectl_path("1.33")), f"--kubeconfig={empty}", f"--server={cluster.url}",
                          f"--certificate-authority={ca}", f"--token={token}", "auth", "whoami", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(out)["status"]["userInfo"]["username"] == f"system:bootstrap:{token[:6]}"


# --- anonymous requests --------------------------------------------------------------------------------


def test_anonymous_users_may_get_cluster_info_and_nothing_else(cluster, ca):
    resp = session().get(cluster.url + CLUSTER_INFO, verify=ca)
    assert resp.status_code == 200 and "kubeconfig" in resp.json()["data"]
    for path, message in [
        ("/api/v1/namespaces/kube-public/configmaps", 'configmaps is forbidden: User "system:anonymous" cannot list '
                                                      'resource "configmaps" in API group "" in the namespace '
                                                      '"kube-public"'),
        ("/api/v1/namespaces/kube-system/secrets/x", 'secrets "x" is forbidden: User "system:anonymous" cannot get '
                                                     'resource "secrets" in API group "" in the namespace '
                                                     '"kube-system"'),
        ("/api/v1/pods", 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
                         "at the cluster scope"),
    ]:
        resp = session().get(cluster.url + path, verify=ca)
        assert (resp.status_code, resp.json()["reason"], resp.json()["message"]) == (403, "Forbidden", message)


def test_no_anonymous_requests_under_always_allow():
    """kube-apiserver's ApplyAuthorization turns --anonymous-auth off with AlwaysAllow: no credentials is a 401."""
    with Cluster(runtime="sim", nodes=0, authorization="AlwaysAllow", set_kubeconfig_env=False) as c:
        assert c.apiserver is not None
        resp = session().get(c.url + CLUSTER_INFO, verify=str(c.apiserver.pki.directory / "ca.crt"))
        assert (resp.status_code, resp.json()["reason"]) == (401, "Unauthorized")


def test_the_cluster_info_rbac_is_kubeadms(cluster):
    admin = cluster.admin()
    role = cluster.run(admin.get("/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/roles/"
                                 "kubeadm:bootstrap-signer-clusterinfo"))
    assert role["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["cluster-info"]}]
    binding = cluster.run(admin.get("/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/rolebindings/"
                                    "kubeadm:bootstrap-signer-clusterinfo"))
    assert [s["name"] for s in binding["subjects"]] == ["system:anonymous"]


# --- the signer ----------------------------------------------------------------------------------------


def test_the_signer_signs_for_a_new_token_and_unsigns_a_deleted_one(cluster):
    value = cluster.run(create_token(cluster.admin(), usages=["signing"]))
    key = f"jws-kubeconfig-{value[:6]}"
    sig = wait_for(lambda: signatures(cluster).get(key), what="the new token's signature")
    kubeconfig = cluster.run(cluster.admin().get(CLUSTER_INFO))["data"]["kubeconfig"]
    assert bt.detached_signature_valid(sig, kubeconfig, *bt.parse_token(value))
    cluster.run(cluster.admin().delete(f"{SECRETS}/bootstrap-token-{value[:6]}"))
    wait_for(lambda: key not in signatures(cluster), what="the deleted token's signature to go")


def test_the_token_cleaner_deletes_an_expired_token(cluster):
    store_token(cluster, "gone00.0123456789abcdef", expiration="2020-01-01T00:00:00Z")

    def gone() -> bool:
        names = [s["metadata"]["name"] for s in cluster.run(cluster.admin().get(SECRETS))["items"]]
        return "bootstrap-token-gone00" not in names
    wait_for(gone, what="the expired token's Secret to be deleted")


# --- discovery -----------------------------------------------------------------------------------------


def endpoint(cluster: Cluster) -> str:
    return cluster.url.removeprefix("https://")


def test_the_join_command_carries_the_token_and_the_ca_pin(cluster, ca_pem, token):
    pin = bt.ca_cert_hash(x509.load_pem_x509_certificate(ca_pem))
    assert join_command(cluster.url, token, ca_pem) == (
        f"labkit join {endpoint(cluster)} --token {token} --discovery-token-ca-cert-hash {pin}")
    assert join_command(endpoint(cluster), token, ca_pem, control_plane=True, certificate_key="ab" * 32).endswith(
        f"--discovery-token-ca-cert-hash {pin} --control-plane --certificate-key {'ab' * 32}")


def pins(cluster: Cluster, token: str, ca_pem: bytes) -> list[str]:
    return join_command(cluster.url, token, ca_pem).split("--discovery-token-ca-cert-hash ")[1:]


def test_discovery_trusts_the_pinned_ca(cluster, ca_pem, token):
    result = asyncio.run(discover(endpoint(cluster), token, pins(cluster, token, ca_pem), timeout=10))
    assert (result.server, result.ca_pem) == (cluster.url, ca_pem)


def join_error(cluster: Cluster, token: str, hashes: list[str], timeout: float = 5) -> str:
    with pytest.raises(JoinError) as e:
        asyncio.run(discover(endpoint(cluster), token, hashes, timeout=timeout, interval=0.1))
    return str(e.value)


def test_discovery_with_a_wrong_secret_cannot_trust_the_server(cluster, ca_pem, token):
    wrong = token[:7] + ("0" if token[7] != "0" else "1") + token[8:]
    assert join_error(cluster, wrong, pins(cluster, token, ca_pem)) == (
        "failed to verify JWS signature of received cluster info object, can't trust this API Server")


def test_discovery_with_a_wrong_hash_names_the_cas_key(cluster, ca_pem, token):
    (pin,) = pins(cluster, token, ca_pem)
    assert join_error(cluster, token, ["sha256:" + "0" * 64]) == (
        f'cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "{pin}" are pinned')


def test_discovery_with_an_unknown_token_gives_up_after_the_timeout(cluster, ca_pem, token):
    assert join_error(cluster, "unknwn.0123456789abcdef", pins(cluster, token, ca_pem), timeout=0.5) == (
        'could not find a JWS signature in the cluster-info ConfigMap for token ID "unknwn"')


def test_discovery_with_a_malformed_hash(cluster, token):
    assert join_error(cluster, token, ["sha256:abcd"]) == (
        'invalid discovery token CA certificate hash: invalid hash "sha256:abcd", expected a 32 byte SHA-256 hash, '
        "found 2 bytes")


def test_discovery_with_a_malformed_token(cluster, ca_pem, token):
    assert join_error(cluster, "not-a-token", pins(cluster, token, ca_pem)) == (
        'could not construct token string for token: not-a-token: the bootstrap token "not-a-token" was not of '
        r'the form "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"')
