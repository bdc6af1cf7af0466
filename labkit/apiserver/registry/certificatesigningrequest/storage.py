"""The CertificateSigningRequest's REST storage (``pkg/registry/certificates/certificates/storage``).

:class:`CSRRegistry` is the generic store with what the three strategies of ``strategy.go`` keep:

- create: ``spec.username``, ``uid``, ``groups`` and ``extra`` are the requester's, whatever the body
  says (``PrepareForCreate``), so a signer can trust them;
- ``/status`` (``csrStatusStrategy``): only the status changes, and not its conditions: a signer sets
  ``status.certificate`` (once) and Failed conditions there, never the approval;
- ``/approval`` (``csrApprovalStrategy``): only ``status.conditions`` change; this is what ``kubectl
  certificate approve|deny`` writes, and RBAC checks ``certificatesigningrequests/approval``.

Left out: the approval's per-signer check (``approve`` on ``signers``), which kube's
``CertificateApproval`` admission plugin does, and the signing admission plugin.
"""

from __future__ import annotations

import base64
import binascii
import re

from labkit import store as kv
from labkit.apimachinery.meta import Obj
from labkit.apiserver import errors
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.storage import Registry

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _check_base64(obj: Obj) -> None:
    """A ``[]byte`` field that is not base64 fails decoding, before any strategy runs."""
    for part, field in (("spec", "request"), ("status", "certificate")):
        value = (obj.get(part) or {}).get(field) if isinstance(obj.get(part), dict) else None
        if not isinstance(value, str):
            continue
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            at = _BASE64.match(value)
            raise errors.bad_request('CertificateSigningRequest in version "v1" cannot be handled as a '
                                     'CertificateSigningRequest: illegal base64 data at input byte '
                                     f'{at.end() if at else 0}') from None


class CSRRegistry(Registry):
    def create(self, ns: str, obj: Obj, *, user: UserInfo | None = None, dry_run: bool = False) -> tuple[Obj, int]:
        _check_base64(obj)
        spec = obj.get("spec")
        if isinstance(spec, dict):
            for field in ("username", "uid", "groups", "extra"):
                spec.pop(field, None)
            if user is not None:
                spec["username"] = user.name
                if user.uid:
                    spec["uid"] = user.uid
                spec["groups"] = list(user.groups)
                if user.extra:
                    spec["extra"] = {k: list(v) for k, v in user.extra.items()}
        return super().create(ns, obj, user=user, dry_run=dry_run)

    def _prepare_update(self, new: Obj, old: Obj, subresource: str, item: kv.KeyValue) -> Obj:
        _check_base64(new)
        if subresource == "approval":
            conditions = (new.get("status") or {}).get("conditions") if isinstance(new.get("status"), dict) else None
            new = super()._prepare_update(new, old, "", item)  # spec and status as stored ...
            status = new.setdefault("status", {})
            if conditions:  # ... but the conditions given
                status["conditions"] = conditions
            else:
                status.pop("conditions", None)
            return new
        new = super()._prepare_update(new, old, subresource, item)
        if subresource == "status":  # the status given, but the approval as stored
            status = new.setdefault("status", {})
            if (old.get("status") or {}).get("conditions"):
                status["conditions"] = old["status"]["conditions"]
            else:
                status.pop("conditions", None)
        return new
