"""The kubelet's TLS bootstrap: with a bootstrap token, ask the cluster for a client certificate
(``pkg/kubelet/certificate/bootstrap/bootstrap.go`` and ``client-go/util/certificate/csr``).

:func:`request_client_certificate` makes an ECDSA P-256 key and a request for
``CN=system:node:<name>, O=system:nodes``, posts it as a CertificateSigningRequest for the
``kubernetes.io/kube-apiserver-client-kubelet`` signer with the usages kube's kubelet asks for an
ECDSA key (digital signature, client auth) and the name it derives from the key and the subject
(``digestedName``: ``node-csr-`` and a SHA-512/256 digest), then waits until the request has a
certificate, is denied or has failed. The certificate and key are written as
``kubelet-client-current.pem`` holds them (one file, certificate then key). The csrapproving and
csrsigning controllers do the rest on the cluster's side.

Left out: certificate rotation (a kubelet's certificate here lasts as long as the signer gives it),
reusing a still-valid certificate from an earlier start, the serving certificate
(``--rotate-server-certificates``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labkit.apimachinery import certificates as certs
from labkit.client import APIStatusError, Client

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
USAGES = ("digital signature", "client auth")
CLIENT_CERT_FILE = "kubelet-client-current.pem"


class BootstrapError(Exception):
    """The request was denied or failed, or no certificate came in time."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def digested_name(key: ec.EllipticCurvePublicKey, common_name: str, organizations: list[str]) -> str:
    """``digestedName``: the CSR's name, the same for the same key, subject and usages."""
    digest = hashlib.new("sha512_256")
    public = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for part in (public, common_name.encode(), *(o.encode() for o in organizations), *(u.encode() for u in USAGES)):
        digest.update(_b64url(part).encode() + b"|")
    return f"node-csr-{_b64url(digest.digest())}"


async def _wait_for_certificate(client: Client, name: str, timeout: float) -> bytes:
    """``WaitForCertificate``: poll the request until it is issued, denied or failed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        csr = await client.get(f"{CSRS}/{name}")
        approved, denied = certs.approval(csr)
        if denied:
            raise BootstrapError(f"certificate request {name!r} was denied")
        if certs.has_true_condition(csr, "Failed"):
            raise BootstrapError(f"certificate request {name!r} failed")
        certificate = (csr.get("status") or {}).get("certificate")
        if approved and certificate:
            return base64.b64decode(certificate)
        if loop.time() > deadline:
            raise BootstrapError(f"timed out waiting for certificate request {name!r} to be approved and issued")
        await asyncio.sleep(0.2)


async def request_client_certificate(client: Client, node_name: str, directory: Path, *,
                                     timeout: float) -> tuple[Path, str]:
    """Ask for ``system:node:<node_name>``'s client certificate with ``client`` (the bootstrap
    identity), waiting ``timeout`` seconds at most for it; returns the PEM file (certificate and key)
    and the CSR's name."""
    key = ec.generate_private_key(ec.SECP256R1())
    cn, orgs = f"{certs.NODE_USER_PREFIX}{node_name}", [certs.NODES_GROUP]
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, orgs[0]),
                         x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    name = digested_name(key.public_key(), cn, orgs)
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode(),
                     "signerName": certs.KUBELET_CLIENT_SIGNER, "usages": list(USAGES)}}
    try:
        await client.create(CSRS, body)
    except APIStatusError as e:
        if e.code != 409:  # the same key and subject asked already: wait for that request
            raise
    certificate = await _wait_for_certificate(client, name, timeout)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CLIENT_CERT_FILE
    path.touch(mode=0o600)
    path.write_bytes(certificate + key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                                     serialization.NoEncryption()))
    return path, name
