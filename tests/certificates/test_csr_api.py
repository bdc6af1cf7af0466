"""The certificates.k8s.io/v1 CertificateSigningRequest API: the requester set by the server, kube's
validation messages, what the object, ``/status`` and ``/approval`` may each change, and kubectl's
``get csr`` and ``certificate approve`` (1.33 sends the approval as protobuf)."""

from __future__ import annotations

import base64

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from testkit import wait_for

from labkit import Cluster
from labkit.client import APIStatusError

PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
SIGNER = "example.com/teaching"  # no controller signs it nor approves it: the tests do
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"


def pem_request(common_name: str = "system:node:w1") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def body(name: str, **spec: object) -> dict:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": pem_request(), "signerName": SIGNER, "usages": ["digital signature", "client auth"],
                     **spec}}


def error(cluster: Cluster, call) -> APIStatusError:  # type: ignore[no-untyped-def]
    with pytest.raises(APIStatusError) as e:
        cluster.run(call)
    return e.value


def test_the_server_sets_the_requester(cluster: Cluster) -> None:
    requester = cluster.client_for("alice", ["system:masters", "devs"])
    created = cluster.run(requester.create(PATH, {
        **body("csr-requester", username="admin", groups=["system:masters"], uid="x"),
        "status": {"conditions": [{"type": "Approved", "status": "True"}]}}))
    assert created["spec"]["username"] == "alice"
    assert created["spec"]["groups"] == ["system:masters", "devs", "system:authenticated"]
    assert "uid" not in created["spec"]
    assert created["status"] == {}  # no pre-approved requests


@pytest.mark.parametrize(("spec", "message"), [
    ({"request": base64.b64encode(b"hi").decode()},
     "spec.request: Invalid value: []byte{0x68, 0x69}: PEM block type must be CERTIFICATE REQUEST"),
    ({"signerName": ""}, "spec.signerName: Required value"),
    ({"signerName": "example"}, "spec.signerName: Invalid value: \"example\": must be a fully qualified domain and "
                                "path of the form 'example.com/signer-name'"),
    ({"usages": []}, "spec.usages: Required value"),
    ({"usages": ["client auth", "client auth"]}, 'spec.usages[1]: Duplicate value: "client auth"'),
    ({"usages": ["client"]}, 'spec.usages[0]: Unsupported value: "client": supported values: "any", "cert sign"'),
    ({"expirationSeconds": 60},
     "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds (10 minutes)"),
])
def test_validation(cluster: Cluster, spec: dict, message: str) -> None:
    e = error(cluster, cluster.admin().create(PATH, body("csr-invalid", **spec)))
    assert e.code == 422
    assert message in str(e)


def test_request_that_is_not_base64(cluster: Cluster) -> None:
    e = error(cluster, cluster.admin().create(PATH, body("csr-b64", request="not base64!")))
    assert e.code == 400
    assert "illegal base64 data at input byte 3" in str(e)


def test_approval_only_through_approval_and_certificate_only_through_status(cluster: Cluster) -> None:
    admin = cluster.admin()
    csr = cluster.run(admin.create(PATH, body("csr-subresources")))
    url = f"{PATH}/csr-subresources"
    approved = [{"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]
    cert = base64.b64encode(b"not a certificate").decode()
    # the object itself: neither conditions nor certificate change
    same = cluster.run(admin.update(url, {**csr, "status": {"conditions": approved}}))
    assert same["status"] == {}
    # /status: no approval; a certificate must be CERTIFICATE blocks
    e = error(cluster, admin.update(f"{url}/status", {**same, "status": {"conditions": approved, "certificate": cert}}))
    assert 'status.certificate: Invalid value: "<certificate data>": must contain at least one CERTIFICATE PEM ' \
           "block" in str(e)
    assert 'status.conditions: Forbidden: updates may not add a condition of type "Approved"' in str(e)
    # /approval: the conditions, and nothing else
    done = cluster.run(admin.update(f"{url}/approval", {**same, "spec": {**same["spec"], "usages": ["any"]},
                                                         "status": {"conditions": approved}}))
    assert done["status"]["conditions"] == approved
    assert done["spec"]["usages"] == ["digital signature", "client auth"]
    e = error(cluster, admin.update(f"{url}/approval", {**done, "status": {}}))
    assert 'status.conditions: Forbidden: updates may not remove a condition of type "Approved"' in str(e)
    e = error(cluster, admin.update(f"{url}/status", {**done, "status": {"conditions": []}}))
    assert 'status.conditions: Forbidden: updates may not remove a condition of type "Approved"' in str(e)
    # /status: a signer's Failed condition is written; the approval stays as stored
    failed = {"type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": "no"}
    changed = {**approved[0], "message": "changed"}
    signed = cluster.run(admin.update(f"{url}/status", {**done, "status": {"conditions": [changed, failed]}}))
    assert signed["status"]["conditions"] == [approved[0], failed]


def test_status_sets_the_certificate_once(cluster: Cluster) -> None:
    admin = cluster.admin()
    csr = cluster.run(admin.create(PATH, body("csr-certificate")))
    assert cluster.kubeconfig is not None
    kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
    ca = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"])
    url = f"{PATH}/csr-certificate/status"
    issued = cluster.run(admin.update(url, {**csr, "status": {"certificate": base64.b64encode(ca).decode()}}))
    assert issued["status"]["certificate"]
    other = base64.b64encode(ca + ca).decode()
    e = error(cluster, admin.update(url, {**issued, "status": {"certificate": other}}))
    assert "status.certificate: Forbidden: updates may not modify existing certificate content" in str(e)


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_kubectl_get_and_approve(cluster: Cluster, kubectl_for, version: str) -> None:  # type: ignore[no-untyped-def]
    kubectl = kubectl_for(version)
    name = f"csr-kubectl-{version.replace('.', '-')}"
    cluster.run(cluster.admin().create(PATH, body(name, expirationSeconds=3600)))
    lines = kubectl("get", "csr", name).splitlines()
    assert lines[0].split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert lines[1].split()[2:] == [SIGNER, "kubernetes-admin", "60m", "Pending"]  # nobody approves this signer
    assert kubectl("certificate", "approve", name) == f"certificatesigningrequest.certificates.k8s.io/{name} approved\n"
    assert kubectl("get", "csr", name, "--no-headers").split()[-1] == "Approved"
    conditions = cluster.run(cluster.admin().get(f"{PATH}/{name}"))["status"]["conditions"]
    assert [(c["type"], c["status"], c["reason"]) for c in conditions] == [("Approved", "True", "KubectlApprove")]


def test_subject_access_review_asks_about_the_spec_user(cluster: Cluster) -> None:
    """What the csrapproving controller asks: may the CSR's requester create certificatesigningrequests/nodeclient?"""
    path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    attributes = {"group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                  "subresource": "nodeclient", "verb": "create"}

    def allowed(**spec: object) -> bool:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"resourceAttributes": attributes, **spec}}
        return bool(cluster.run(cluster.admin().create(path, review))["status"]["allowed"])

    assert allowed(user="alice", groups=["system:masters"])
    assert not allowed(user="alice", groups=["devs"])
    e = error(cluster, cluster.admin().create(path, {"apiVersion": "authorization.k8s.io/v1",
                                                     "kind": "SubjectAccessReview",
                                                     "spec": {"resourceAttributes": attributes}}))
    assert 'spec.user: Invalid value: "": at least one of user or group must be specified' in str(e)


def test_a_kubelet_client_request_of_an_admin_is_approved_and_issued(cluster: Cluster, kubectl_for) -> None:  # type: ignore[no-untyped-def]
    """csrapproving: the admin may create certificatesigningrequests/nodeclient, so the request is
    approved; csrsigning signs it with the cluster CA."""
    kubectl = kubectl_for("1.33")
    cluster.run(cluster.admin().create(PATH, body("csr-issued", signerName=KUBELET_CLIENT)))
    wait_for(lambda: kubectl("get", "csr", "csr-issued", "--no-headers").split()[-1] == "Approved,Issued",
             timeout=10)
    csr = cluster.run(cluster.admin().get(f"{PATH}/csr-issued"))
    assert [(c["type"], c["reason"], c["message"]) for c in csr["status"]["conditions"]] == [
        ("Approved", "AutoApproved", "Auto approving kubelet client certificate after SubjectAccessReview.")]
    cert = x509.load_pem_x509_certificate(base64.b64decode(csr["status"]["certificate"]))
    assert cert.subject.rfc4514_string() == "CN=system:node:w1,O=system:nodes"
    assert cert.issuer.rfc4514_string() == "CN=kubernetes"


def test_the_official_python_client_reads_and_approves(cluster: Cluster) -> None:
    from kubernetes import client, config

    api = client.CertificatesV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    cluster.run(cluster.admin().create(PATH, body("csr-python")))
    csr = api.read_certificate_signing_request("csr-python")
    assert csr.spec.signer_name == SIGNER and csr.spec.username == "kubernetes-admin"
    csr.status.conditions = [client.V1CertificateSigningRequestCondition(
        type="Denied", status="True", reason="Test", message="no")]
    denied = api.replace_certificate_signing_request_approval("csr-python", csr)
    assert [(c.type, c.reason) for c in denied.status.conditions] == [("Denied", "Test")]
    assert "csr-python" in [c.metadata.name for c in api.list_certificate_signing_request().items]
