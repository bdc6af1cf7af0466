"""The CertificateSigningRequest's REST storage (``pkg/registry/certificates/certificates/storage``).

:class:`CSRRegistry` is the generic store with what the three strategies of ``strategy.go`` keep:

- create: ``spec.username``, ``uid``, ``groups`` and ``extra`` are the requester's, whatever the body
  says (``PrepareForCreate``), so a signer can trust them;
- ``/status`` (``csrStatusStrategy``): only the status changes, and not its Approved and Denied
  conditions (kept as stored): a signer sets ``status.certificate`` (once) and Failed conditions
  there, never the approval;
- ``/approval`` (``csrApprovalStrategy``): only ``status.conditions`` change; this is what ``kubectl
  certificate approve|deny`` writes, and RBAC checks ``certificatesigningrequests/approval``.

Left out: the approval's per-signer check (``approve`` on ``signers``), which kube's
``CertificateApproval`` admission plugin does, and the signing admission plugin.
"""

from __future__ import annotations

import builtins

from labkit import store as kv
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.storage import Registry

#: the conditions only ``/approval`` may change
APPROVAL = ("Approved", "Denied")


class CSRRegistry(Registry):
    def create(self, ns: str, obj: Obj, *, user: UserInfo | None = None, dry_run: bool = False) -> tuple[Obj, int]:
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

    def _validate_update(self, new: Obj, old: Obj, subresource: str) -> builtins.list[Cause]:
        """Beyond the strategy's: outside ``/approval``, Approved and Denied may not be added or changed."""
        causes = super()._validate_update(new, old, subresource)
        if subresource == "approval":
            return causes
        for kind in APPROVAL:
            mine, theirs = _of_type(new, kind), _of_type(old, kind)
            if len(mine) > len(theirs):
                causes.append(forbidden("status.conditions", f'updates may not add a condition of type "{kind}"'))
            elif len(mine) == len(theirs) and mine != theirs:
                causes.append(forbidden("status.conditions", f'updates may not modify a condition of type "{kind}"'))
        return causes

    def _prepare_update(self, new: Obj, old: Obj, subresource: str, item: kv.KeyValue) -> Obj:
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
            stored = (old.get("status") or {}).get("conditions") or []
            conditions = _keep_approval(list(status.get("conditions") or []), stored)
            if conditions:
                status["conditions"] = conditions
            else:
                status.pop("conditions", None)
        return new


def _of_type(obj: Obj, kind: str) -> list[Obj]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return [c for c in conditions if isinstance(c, dict) and c.get("type") == kind]


def _keep_approval(given: list[Obj], stored: list[Obj]) -> list[Obj]:
    """``preserveConditionInstances`` for Approved and Denied: where ``given`` holds as many of a type
    as ``stored``, each takes the stored one's place; otherwise the update keeps its own, and
    validation refuses what it removed."""
    for kind in APPROVAL:
        mine = [i for i, c in enumerate(given) if isinstance(c, dict) and c.get("type") == kind]
        theirs = [c for c in stored if isinstance(c, dict) and c.get("type") == kind]
        if len(mine) == len(theirs):
            for i, condition in zip(mine, theirs, strict=True):
                given[i] = condition
    return given

