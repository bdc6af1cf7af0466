"""The kubelet's TLS bootstrap alone, on the fake client: the CSR it posts (name, subject, signer,
usages) and what it does with the answer."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from labkit.apimachinery import certificates as certs
from labkit.apimachinery.meta import Obj
from labkit.kubelet.certbootstrap import BootstrapError, digested_name, request_client_certificate
from labkit.testing.fake import Action, FakeClient

CERT = b"-----BEGIN CERTIFICATE-----\nissued\n-----END CERTIFICATE-----\n"


def answering(conditions: list[str], certificate: bytes = b"") -> tuple[FakeClient, list[Obj]]:
    client, posted = FakeClient(), []

    def create(action: Action) -> Obj:
        posted.append(action.body)
        return action.body

    def get(action: Action) -> Obj:
        status: Obj = {"conditions": [{"type": c, "status": "True"} for c in conditions]}
        if certificate:
            status["certificate"] = base64.b64encode(certificate).decode()
        return {**posted[0], "status": status}
    client.prepend_reactor("create", "certificatesigningrequests", create)
    client.prepend_reactor("get", "certificatesigningrequests", get)
    return client, posted


def test_the_request_and_the_certificate_file(tmp_path: Path) -> None:
    client, posted = answering(["Approved"], CERT)
    path, name = asyncio.run(request_client_certificate(client, "w1", tmp_path, timeout=5))
    (body,) = posted
    assert body["metadata"]["name"] == name and name.startswith("node-csr-")
    assert body["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
    assert body["spec"]["usages"] == ["digital signature", "client auth"]
    req = certs.parse_request(body["spec"]["request"])
    assert req.subject.rfc4514_string() == "CN=system:node:w1,O=system:nodes"
    assert not certs.kubelet_client_error(req, body["spec"]["usages"])
    assert digested_name(req.public_key(), "system:node:w1", ["system:nodes"]) == name  # type: ignore[arg-type]
    pem = path.read_bytes()
    assert pem.startswith(CERT) and path.stat().st_mode & 0o077 == 0
    key = serialization.load_pem_private_key(pem[len(CERT):], password=None)
    assert key.public_key().public_numbers() == req.public_key().public_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize(("conditions", "message"), [(["Denied"], "was denied"), (["Approved", "Failed"], "failed")])
def test_a_denied_or_failed_request_ends_the_bootstrap(tmp_path: Path, conditions: list[str], message: str) -> None:
    client, _ = answering(conditions)
    with pytest.raises(BootstrapError, match=message):
        asyncio.run(request_client_certificate(client, "w1", tmp_path, timeout=5))


def test_no_certificate_in_time(tmp_path: Path) -> None:
    client, _ = answering(["Approved"])
    with pytest.raises(BootstrapError, match="timed out"):
        asyncio.run(request_client_certificate(client, "w1", tmp_path, timeout=0.3))


def test_the_name_depends_on_key_and_subject() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    name = digested_name(key, "system:node:a", ["system:nodes"])
    assert name == digested_name(key, "system:node:a", ["system:nodes"])
    assert name != digested_name(key, "system:node:b", ["system:nodes"])
