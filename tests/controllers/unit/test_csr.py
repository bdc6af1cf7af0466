"""The CSR approver and signer alone (``sarapprove_test.go``'s and ``signer_test.go``'s cases): a
kubelet client request is approved only when a SubjectAccessReview allows it, and an approved request
of a kubelet signer gets a certificate from the CA, or a Failed condition."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labkit.apimachinery.meta import Obj
from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.csrapproving import CSRApprovingController
from labkit.controllers.csrsigning import CSRSigningController
from labkit.testing.clock import EPOCH
from labkit.testing.fake import Action

from .objects import meta

CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
BOOTSTRAP = ["system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"]


def request(cn: str = "system:node:w1", orgs: tuple[str, ...] = ("system:nodes",), dns: tuple[str, ...] = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return base64.b64encode(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)).decode()


def csr(name: str = "node-csr-1", *, req: str | None = None, signer: str = CLIENT,
        user: str = "system:bootstrap:abcdef", groups: list[str] = BOOTSTRAP,
        usages: tuple[str, ...] = ("digital signature", "client auth"),
        conditions: tuple[str, ...] = (), **spec: object) -> Obj:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": meta(name, None),
            "spec": {"request": req or request(), "signerName": signer, "usages": list(usages), "username": user,
                     "groups": groups, **spec},
            "status": {"conditions": [{"type": c, "status": "True"} for c in conditions]} if conditions else {}}


def reviews(allowed: set[str]):  # type: ignore[no-untyped-def]
    """Answer SubjectAccessReviews: allowed for the subresources named, and record what was asked."""
    asked: list[tuple[str, str]] = []

    def react(action: Action) -> Obj:
        spec = action.body["spec"]
        sub = spec["resourceAttributes"]["subresource"]
        asked.append((spec["user"], sub))
        return {**action.body, "status": {"allowed": sub in allowed}}
    return react, asked


@pytest.mark.parametrize(("obj", "allowed", "asked"), [
    (csr(), {"nodeclient"}, [("system:bootstrap:abcdef", "nodeclient")]),
    (csr(user="system:node:w1", groups=["system:nodes"]), {"selfnodeclient"},
     [("system:node:w1", "selfnodeclient")]),
    (csr(usages=("digital signature", "key encipherment", "client auth")), {"nodeclient"},
     [("system:bootstrap:abcdef", "nodeclient")]),
])
def test_a_kubelet_client_request_is_approved_after_a_review(harness, obj, allowed, asked) -> None:
    h = harness(CSRApprovingController, [obj])
    react, seen = reviews(allowed)
    h.client.prepend_reactor("create", "subjectaccessreviews", react)
    h.drain()
    assert seen == asked
    (update,) = h.writes()[-1:]
    assert (update.verb, update.resource, update.name) == ("update", "certificatesigningrequests/approval",
                                                             "node-csr-1")
    (condition,) = update.body["status"]["conditions"]
    message = "self kubelet" if asked[0][1] == "selfnodeclient" else "kubelet"
    assert condition == {"type": "Approved", "status": "True", "reason": "AutoApproved",
                         "message": f"Auto approving {message} client certificate after SubjectAccessReview.",
                         "lastUpdateTime": "2026-01-01T12:00:00Z"}


def test_no_review_allows_it_nothing_is_approved_and_it_is_tried_again(harness) -> None:
    h = harness(CSRApprovingController, [csr()])
    react, seen = reviews(set())
    h.client.prepend_reactor("create", "subjectaccessreviews", react)
    h.drain()
    assert [a.resource for a in h.writes()] == ["subjectaccessreviews"]
    assert h.waiting()  # back-off, as kube's ignorable error


@pytest.mark.parametrize("obj", [
    csr(conditions=("Approved",)), csr(conditions=("Denied",)), csr(signer="example.com/other"),
    csr(req=request(cn="alice")), csr(req=request(orgs=("system:nodes", "admins"))),
    csr(req=request(dns=("w1.example",))), csr(usages=("digital signature", "server auth")),
])
def test_what_is_not_a_pending_kubelet_client_request_is_left_alone(harness, obj) -> None:
    h = harness(CSRApprovingController, [obj])
    react, seen = reviews({"nodeclient", "selfnodeclient"})
    h.client.prepend_reactor("create", "subjectaccessreviews", react)
    h.drain()
    assert seen == [] and h.writes() == []


@pytest.fixture
def ca(tmp_path: Path) -> ControllerManagerConfig:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(EPOCH - dt.timedelta(days=1))
            .not_valid_after(EPOCH + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return ControllerManagerConfig(cluster_signing_cert_file=str(tmp_path / "ca.crt"),
                                   cluster_signing_key_file=str(tmp_path / "ca.key"))


def issued(h) -> x509.Certificate:  # type: ignore[no-untyped-def]
    (update,) = h.writes()
    assert (update.verb, update.resource) == ("update", "certificatesigningrequests/status")
    return x509.load_pem_x509_certificate(base64.b64decode(update.body["status"]["certificate"]))


def test_an_approved_kubelet_client_request_is_signed_for_a_year(harness, ca) -> None:
    h = harness(CSRSigningController, [csr(conditions=("Approved",))], config=ca)
    h.drain()
    cert = issued(h)
    assert cert.subject.rfc4514_string() == "CN=system:node:w1,O=system:nodes"
    assert cert.issuer.rfc4514_string() == "CN=kubernetes"
    assert cert.not_valid_before_utc == EPOCH - dt.timedelta(minutes=5)
    assert cert.not_valid_after_utc == EPOCH + dt.timedelta(days=365)
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_expiration_seconds_shortens_the_certificate(harness, ca) -> None:
    h = harness(CSRSigningController, [csr(conditions=("Approved",), expirationSeconds=3600)], config=ca)
    h.drain()
    assert issued(h).not_valid_after_utc == EPOCH + dt.timedelta(hours=1)


def test_a_request_that_does_not_fit_the_signer_fails(harness, ca) -> None:
    h = harness(CSRSigningController, [csr(conditions=("Approved",), req=request(cn="alice"))], config=ca)
    h.drain()
    (update,) = h.writes()
    assert update.resource == "certificatesigningrequests/status"
    assert update.body["status"]["conditions"][-1] == {
        "type": "Failed", "status": "True", "reason": "SignerValidationFailure",
        "message": "subject common name does not begin with system:node:", "lastUpdateTime": "2026-01-01T12:00:00Z"}
    assert "certificate" not in update.body["status"]


@pytest.mark.parametrize("obj", [
    csr(), csr(conditions=("Denied",)), csr(conditions=("Approved", "Failed")),
    csr(conditions=("Approved",), signer="example.com/other"),
])
def test_what_is_not_approved_or_not_a_kubelet_signer_is_not_signed(harness, ca, obj) -> None:
    h = harness(CSRSigningController, [obj], config=ca)
    h.drain()
    assert h.writes() == []


def test_without_the_ca_files_nothing_is_signed(harness) -> None:
    h = harness(CSRSigningController, [csr(conditions=("Approved",))])
    h.drain()
    assert h.writes() == []
