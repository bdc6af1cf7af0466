"""The CertificateSigningRequest strategy (``pkg/registry/certificates/certificates/strategy.go``).

Mirrors ``csrStrategy`` (on create the status is emptied; an update of the object itself changes
neither spec nor status), the validation of ``pkg/apis/certificates/validation``
(``validateCertificateSigningRequest``: a PEM ``CERTIFICATE REQUEST`` whose signature checks, at
least one known usage and none twice, a signerName of the form ``example.com/name``, an
``expirationSeconds`` of at least 600, the condition rules, a ``status.certificate`` of CERTIFICATE
blocks; on update no Approved/Denied/Failed condition may be removed) and
``printCertificateSigningRequest`` (``NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION``).
What the status and approval subresources keep from the stored object is ``storage.py``.

Parsing the request is ``labkit/apimachinery/certificates.py`` (the controllers and the kubelet's TLS
bootstrap parse it too). Left out: the compatibility allowances for objects stored by older versions
(legacy signer, duplicate conditions ...), and ``lastTransitionTime`` defaulting of conditions.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from typing import Any

from cryptography import x509

from labkit.apimachinery.certificates import RequestError, parse_request
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, duplicate, forbidden, invalid, not_supported, required
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age, human_duration

LEGACY_UNKNOWN_SIGNER = "kubernetes.io/legacy-unknown"
#: ``allValidUsages``, sorted as ``sets.List`` gives them in NotSupported messages
USAGES = sorted([
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
    "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
    "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"])
TRUE_ONLY = ("Approved", "Denied", "Failed")  # condition types whose status may only be True
CONDITION_STATUSES = ["False", "True", "Unknown"]


def _go_bytes(b64: Any) -> str:
    """How ``field.Invalid`` shows a ``[]byte`` value (``%#v``)."""
    raw = base64.b64decode(b64) if isinstance(b64, str) else b""
    return "[]byte{" + ", ".join(f"0x{b:x}" for b in raw) + "}" if raw else "[]byte(nil)"


def _certificate_error(b64: Any) -> str | None:
    """``validateCertificate``: only CERTIFICATE PEM blocks, at least one, each parsing."""
    pem = base64.b64decode(b64) if isinstance(b64, str) else b""  # the storage checked the base64
    if not pem:
        return None
    begins = [line for line in pem.decode("ascii", "replace").splitlines() if line.startswith("-----BEGIN ")]
    for line in begins:
        if line != "-----BEGIN CERTIFICATE-----":
            return f'only CERTIFICATE PEM blocks are allowed, found "{line[11:].rstrip("-")}"'
    if not begins:
        return "must contain at least one CERTIFICATE PEM block"
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError:
        return "x509: malformed certificate"
    return None


def _conditions(obj: Obj) -> list[Obj]:
    return [c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]


def _condition_causes(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    approved = denied = False
    for i, c in enumerate(_conditions(obj)):
        path = f"status.conditions[{i}]"
        kind = c.get("type") or ""
        if not kind:
            causes.append(required(f"{path}.type"))
        allowed = ["True"] if kind in TRUE_ONLY else CONDITION_STATUSES
        if not c.get("status"):
            causes.append(required(f"{path}.status"))
        elif c["status"] not in allowed:
            causes.append(not_supported(f"{path}.status", c["status"], allowed))
        if kind == "Approved":
            approved = True
            if denied:
                causes.append(invalid(f"{path}.type", kind, "Approved and Denied conditions are mutually exclusive"))
        elif kind == "Denied":
            denied = True
            if approved:
                causes.append(invalid(f"{path}.type", kind, "Approved and Denied conditions are mutually exclusive"))
        if kind in seen:
            causes.append(duplicate(f"{path}.type", kind))
        seen.add(kind)
    return causes


def _signer_name_causes(name: str) -> list[Cause]:
    """``ValidateSignerName``, in short: present, and a domain and a path."""
    if not name:
        return [required("spec.signerName")]
    if name == LEGACY_UNKNOWN_SIGNER:
        return [invalid("spec.signerName", name, "the legacy signerName is not allowed via this API version")]
    domain, _, path = name.partition("/")
    if not path or not domain or "/" in path:
        return [invalid("spec.signerName", name, "must be a fully qualified domain and path of the form "
                                                 "'example.com/signer-name'")]
    return []


def condition_status(obj: Obj) -> str:
    """``extractCSRStatus``: Denied, else Approved, else Pending; then ``,Failed`` and ``,Issued``."""
    kinds = {c.get("type") for c in _conditions(obj)}
    status = "Denied" if "Denied" in kinds else "Approved" if "Approved" in kinds else "Pending"
    if "Failed" in kinds:
        status += ",Failed"
    if (obj.get("status") or {}).get("certificate"):
        status += ",Issued"
    return status


class CSRStrategy(Strategy):
    kind = "CertificateSigningRequest"
    name_rule = "any"  # ValidateCertificateRequestName: "We don't care what you call your certificate requests."
    status_subresource = True
    columns = (
        AGE_COLUMN,
        Column("SignerName", description="Requested signer for the request."),
        Column("Requestor", description="Name of the user that created the request."),
        Column("RequestedDuration", description="The requested duration of the issued certificate."),
        Column("Condition", description="The current approval state of the request."),
    )

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {}  # no pre-approved requests

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        obj["spec"] = copy.deepcopy(old.get("spec"))
        obj["status"] = copy.deepcopy(old.get("status") or {})

    def validate(self, obj: Obj) -> list[Cause]:
        spec: Obj = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
        causes = []
        try:
            parse_request(spec.get("request"))
        except RequestError as e:
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {_go_bytes(spec.get('request'))}: {e}",
                                "spec.request"))
        usages = spec.get("usages") or []
        if not usages:
            causes.append(required("spec.usages"))
        causes += [not_supported(f"spec.usages[{i}]", u, USAGES) for i, u in enumerate(usages) if u not in USAGES]
        causes += [duplicate(f"spec.usages[{i}]", u) for i, u in enumerate(usages) if u in usages[:i]]
        causes += _signer_name_causes(spec.get("signerName") or "")
        seconds = spec.get("expirationSeconds")
        if seconds is not None and seconds < 600:
            causes.append(invalid("spec.expirationSeconds", seconds,
                                  "may not specify a duration less than 600 seconds (10 minutes)"))
        causes += _condition_causes(obj)
        error = _certificate_error((obj.get("status") or {}).get("certificate"))
        if error:
            causes.append(Cause("FieldValueInvalid", f'Invalid value: "<certificate data>": {error}',
                                "status.certificate"))
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        for kind in TRUE_ONLY:
            if (sum(c.get("type") == kind for c in _conditions(obj))
                    < sum(c.get("type") == kind for c in _conditions(old))):
                causes.append(forbidden("status.conditions", f'updates may not remove a condition of type "{kind}"'))
        old_cert = (old.get("status") or {}).get("certificate")
        if old_cert and (obj.get("status") or {}).get("certificate") != old_cert:
            causes.append(forbidden("status.certificate", "updates may not modify existing certificate content"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        seconds = spec.get("expirationSeconds")
        return [age(obj, now), spec.get("signerName") or "<none>", spec.get("username") or "",
                "<none>" if seconds is None else human_duration(seconds), condition_status(obj)]


STRATEGY = CSRStrategy()
