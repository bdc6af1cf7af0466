"""The CSR signer of the kubelet signers: an approved request gets its certificate, signed by the cluster
CA (``pkg/controller/certificates/signer/signer.go`` and ``authority/policies.go``).

Each change to a CertificateSigningRequest queues it; the sync leaves alone a request not approved (or
denied), already issued or Failed, or for a signer it does not run. For
``kubernetes.io/kube-apiserver-client-kubelet`` and ``kubernetes.io/kubelet-serving`` the request must
fit the signer (``IsKubeletClientCSR``, ``IsKubeletServingCSR``): if not, a Failed condition with reason
``SignerValidationFailure`` and the reason why; if it does, ``status.certificate`` is the signed PEM,
both written through ``/status``. The certificate has the request's subject and subjectAltNames, the
usages asked for, is not a CA, starts five minutes back (clock skew) and lasts
``--cluster-signing-duration`` (kube's default a year) or ``spec.expirationSeconds`` if shorter, never
past the CA's own end.

The CA is read from ``--cluster-signing-cert-file`` and ``--cluster-signing-key-file``
(:class:`~labkit.controllers.config.ControllerManagerConfig`; :class:`labkit.Cluster` points them at
its CA, as kubeadm points them at ``ca.crt`` and ``ca.key``); without them the controller signs
nothing. Left out: the ``kube-apiserver-client`` and ``legacy-unknown`` signers, reloading the CA
files when they change, and the shorter back-dating of short-lived certificates.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from labkit.apimachinery import certificates as certs
from labkit.apimachinery.timeutil import rfc3339
from labkit.controllers.base import Controller
from labkit.controllers.csrapproving import CSRS

BACKDATE = dt.timedelta(minutes=5)
#: signer -> its rule (what a request must be for it)
SIGNERS = {certs.KUBELET_CLIENT_SIGNER: certs.kubelet_client_error,
           certs.KUBELET_SERVING_SIGNER: certs.kubelet_serving_error}
_KEY_USAGES = {"digital signature": "digital_signature", "content commitment": "content_commitment",
               "key encipherment": "key_encipherment", "key agreement": "key_agreement",
               "data encipherment": "data_encipherment", "cert sign": "key_cert_sign", "crl sign": "crl_sign",
               "encipher only": "encipher_only", "decipher only": "decipher_only"}
_EXT_USAGES = {"client auth": ExtendedKeyUsageOID.CLIENT_AUTH, "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
               "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
               "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
               "timestamping": ExtendedKeyUsageOID.TIME_STAMPING, "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
               "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}


def sign(req: x509.CertificateSigningRequest, usages: Sequence[str], *, ca_cert: x509.Certificate,
         ca_key: CertificateIssuerPrivateKeyTypes, now: dt.datetime, duration: dt.timedelta) -> bytes:
    """The PEM certificate for ``req`` (``PermissiveSigningPolicy`` then ``x509.CreateCertificate``)."""
    not_after = min(now + duration, ca_cert.not_valid_after_utc)
    flags = {name: False for name in _KEY_USAGES.values()}
    flags.update({_KEY_USAGES[u]: True for u in usages if u in _KEY_USAGES})
    builder = (x509.CertificateBuilder().subject_name(req.subject).issuer_name(ca_cert.subject)
               .public_key(req.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - BACKDATE).not_valid_after(not_after)
               .add_extension(x509.KeyUsage(**flags), critical=True)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    ext = [_EXT_USAGES[u] for u in usages if u in _EXT_USAGES]
    if ext:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ext), critical=False)
    try:
        builder = builder.add_extension(req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value,
                                        critical=False)
    except x509.ExtensionNotFound:
        pass
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


class CSRSigningController(Controller):
    name = "csrsigning"
    watches = [CSRS]

    def _ca(self) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes] | None:
        cert_file, key_file = self.config.cluster_signing_cert_file, self.config.cluster_signing_key_file
        if not cert_file or not key_file:
            return None
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        return x509.load_pem_x509_certificate(Path(cert_file).read_bytes()), key  # type: ignore[return-value]  # a CA key signs

    async def sync(self, key: str) -> None:
        csr = self.informer(*CSRS).get(key)
        if csr is None:
            return
        approved, denied = certs.approval(csr)
        spec, status = csr["spec"], csr.get("status") or {}
        rule = SIGNERS.get(spec.get("signerName", ""))
        if (not approved or denied or status.get("certificate") or certs.has_true_condition(csr, "Failed")
                or rule is None):
            return
        ca = self._ca()
        if ca is None:
            return
        req = certs.parse_request(spec.get("request"))
        usages = spec.get("usages") or []
        now = self.clock.now()
        error = rule(req, usages)
        if error:
            status = {**status, "conditions": [*(status.get("conditions") or []), {
                "type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": error,
                "lastUpdateTime": rfc3339(now)}]}
        else:
            duration = dt.timedelta(seconds=self.config.cluster_signing_duration)
            if spec.get("expirationSeconds"):
                duration = min(duration, dt.timedelta(seconds=spec["expirationSeconds"]))
            pem = sign(req, usages, ca_cert=ca[0], ca_key=ca[1], now=now, duration=duration)
            status = {**status, "certificate": base64.b64encode(pem).decode()}
        await self.client.update(f"/apis/{CSRS[0]}/{CSRS[1]}/{key}/status", {**csr, "status": status})
