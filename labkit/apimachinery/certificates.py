"""What the CSR API, its controllers and a joining kubelet share about certificate requests.

Mirrors ``pkg/apis/certificates`` (``ParseCSR``; the signer names; ``IsKubeletClientCSR`` and
``IsKubeletServingCSR`` of ``pkg/apis/certificates/v1/helpers.go``, which say what the kubelet
signers sign) and ``GetCertApprovalCondition`` / ``HasTrueCondition`` of
``pkg/controller/certificates/certificate_controller_utils.go``. Errors read as Go's: a request the
API server refuses says ``PEM block type must be CERTIFICATE REQUEST`` or the ``x509`` signature
error of its key type.

Left out: the other signers' rules (``kube-apiserver-client``, ``legacy-unknown``), and Go's x509 texts
beyond the common ones (a DER that does not parse reads ``x509: malformed certificate request``).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from labkit.apimachinery.meta import Obj

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
#: the usages a kubelet's certificate may have: exactly one of these sets (key encipherment is for RSA keys)
KUBELET_CLIENT_USAGES = ({"digital signature", "key encipherment", "client auth"},
                         {"digital signature", "client auth"})
KUBELET_SERVING_USAGES = ({"digital signature", "key encipherment", "server auth"},
                          {"digital signature", "server auth"})


class RequestError(ValueError):
    """Why ``spec.request`` is not a usable CSR (the text Go's ``ParseCSR``/``CheckSignature`` give)."""


def parse_request(b64: object) -> x509.CertificateSigningRequest:
    """``ParseCSR`` and ``CheckSignature`` of ``spec.request`` (base64 of a PEM block, as on the wire)."""
    pem = base64.b64decode(b64) if isinstance(b64, str) else b""
    start = pem.find(b"-----BEGIN ")
    if start < 0 or not pem[start:].startswith(b"-----BEGIN CERTIFICATE REQUEST-----"):
        raise RequestError("PEM block type must be CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(pem[start:])
    except ValueError:
        raise RequestError("x509: malformed certificate request") from None
    if not csr.is_signature_valid:
        key = csr.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            raise RequestError("crypto/rsa: verification error")
        if isinstance(key, ec.EllipticCurvePublicKey):
            raise RequestError("x509: ECDSA verification failure")
        if isinstance(key, ed25519.Ed25519PublicKey):
            raise RequestError("x509: Ed25519 verification failure")
        raise RequestError("x509: cannot verify signature: algorithm unimplemented")
    return csr


def _names(csr: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    subject = csr.subject
    cn = subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    orgs = [str(o.value) for o in subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    return (str(cn[0].value) if cn else ""), orgs


def _sans(csr: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        return csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _usages_error(usages: Sequence[str], allowed: tuple[set[str], ...]) -> str:
    if set(usages) in allowed:
        return ""
    return "usages did not match [" + " ".join(sorted(allowed[0])) + "]"


def kubelet_client_error(csr: x509.CertificateSigningRequest, usages: Sequence[str]) -> str:
    """``ValidateKubeletClientCSR``: why this is not a kubelet's client certificate request ("" if it is)."""
    cn, orgs = _names(csr)
    if orgs != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    sans = _sans(csr)
    if sans is not None:
        for kind, what in ((x509.DNSName, "DNS"), (x509.RFC822Name, "Email"), (x509.IPAddress, "IP"),
                           (x509.UniformResourceIdentifier, "URI")):
            if sans.get_values_for_type(kind):
                return f"{what} subjectAltNames are not allowed"
    if not cn.startswith(NODE_USER_PREFIX):
        return "subject common name does not begin with system:node:"
    return _usages_error(usages, KUBELET_CLIENT_USAGES)


def kubelet_serving_error(csr: x509.CertificateSigningRequest, usages: Sequence[str]) -> str:
    """``ValidateKubeletServingCSR``: why this is not a kubelet's serving certificate request ("" if it is)."""
    cn, orgs = _names(csr)
    if orgs != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    sans = _sans(csr)
    if sans is not None and (sans.get_values_for_type(x509.RFC822Name)
                             or sans.get_values_for_type(x509.UniformResourceIdentifier)):
        return "Email and URI subjectAltNames are not allowed"
    if sans is None or not (sans.get_values_for_type(x509.DNSName) or sans.get_values_for_type(x509.IPAddress)):
        return "DNS or IP subjectAltName is required"
    if not cn.startswith(NODE_USER_PREFIX):
        return "subject common name does not begin with system:node:"
    return _usages_error(usages, KUBELET_SERVING_USAGES)


def _condition_types(csr: Obj) -> set[str]:
    return {c.get("type", "") for c in (csr.get("status") or {}).get("conditions") or []
            if isinstance(c, dict) and c.get("status") == "True"}


def approval(csr: Obj) -> tuple[bool, bool]:
    """``GetCertApprovalCondition``: (approved, denied)."""
    types = _condition_types(csr)
    return "Approved" in types, "Denied" in types


def has_true_condition(csr: Obj, kind: str) -> bool:
    return kind in _condition_types(csr)
