"""The ServiceAccount's REST storage: the ``token`` subresource
(``pkg/registry/core/serviceaccount/storage/token.go``).

``POST serviceaccounts/NAME/token`` (``kubectl create token``) answers a TokenRequest with a bearer
token that authenticates as the service account; the API server passes in the issuer, its PKI.
Left out: audiences, binding a token to a pod or secret, and signed tokens that expire (labkit's
are random strings its authenticator looks up, as with ``--token-auth-file``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import request
from labkit.apiserver.handlers import Call

TokenIssuer = Callable[[str, list[str]], str]


def token_request(call: Call, issue: TokenIssuer) -> tuple[int, Obj]:
    """POST serviceaccounts/NAME/token: a bearer token that authenticates as the service account."""
    info = call.info
    call.registry.get(info.namespace, info.name)  # 404 if the account does not exist
    body = request.decode_object(call.body, call.content_type, call.resource, kind="TokenRequest",
                                 group_version="authentication.k8s.io/v1")
    spec = body.setdefault("spec", {})
    seconds = int(spec.get("expirationSeconds") or 3600)
    spec["expirationSeconds"] = seconds
    user = f"system:serviceaccount:{info.namespace}:{info.name}"
    token = "" if call.dry_run else issue(user, ["system:serviceaccounts", f"system:serviceaccounts:{info.namespace}"])
    body["status"] = {"token": token, "expirationTimestamp": rfc3339(call.now + dt.timedelta(seconds=seconds))}
    body.setdefault("metadata", {}).update({"name": info.name, "namespace": info.namespace,
                                            "creationTimestamp": None})
    return 201, body
