"""Who is calling: the request authentication of kube-apiserver.

Mirrors ``k8s.io/apiserver/pkg/authentication``:

- ``request/x509``: a client certificate that the TLS layer verified against the cluster CA names
  the user (subject CN) and its groups (every subject O);
- ``token/tokenfile``: the ``--token-auth-file`` CSV, one ``token,user,uid,"group1,group2"`` a line;
- ``request/bearertoken``: ``Authorization: Bearer <token>`` looked up in that table;
- ``request/union``: the authenticators are tried in kube-apiserver's order (x509 before bearer
  tokens) and the first success wins; a failure (an unknown token) only matters when nothing succeeds,
  so a valid client certificate still authenticates a request that also carries a bad token;
- ``group.AuthenticatedGroupAdder``: every authenticated user is in ``system:authenticated``.

Left out: anonymous requests (kube-apiserver turns "no credentials" into ``system:anonymous``; here
the caller answers 401), service-account JWTs, OIDC, webhooks, the front-proxy headers, the WebSocket
``base64url.bearer.authorization.k8s.io.`` subprotocol, and the x509 extras (the
``authentication.kubernetes.io/credential-id`` fingerprint and the UID read from a certificate).
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"


@dataclasses.dataclass(frozen=True, slots=True)
class UserInfo:
    """``user.DefaultInfo``: the identity every later stage (RBAC, audit, SelfSubjectReview) sees."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict, hash=False)


# --- token file (token/tokenfile) ----------------------------------------------------------------------


def read_token_file(path: Path) -> dict[str, UserInfo]:
    """Parse a ``--token-auth-file``: token -> identity. Rows need at least token, user and uid."""
    tokens: dict[str, UserInfo] = {}
    with path.open(newline="") as f:
        for record in csv.reader(f):
            if not record:  # Go's encoding/csv skips blank lines
                continue
            if len(record) < 3:
                raise ValueError(f"token file '{path}' must have at least 3 columns (token, user name, user uid), "
                                 f"found {len(record)}")
            token, name, uid = record[:3]
            if not token:  # kube-apiserver warns and skips the row
                continue
            groups = tuple(record[3].split(",")) if len(record) >= 4 else ()
            tokens[token] = UserInfo(name=name, uid=uid, groups=groups)
    return tokens


def append_token(path: Path, token: str, user: UserInfo) -> None:
    """Add one row to a token file (created with mode 0600 if missing)."""
    row = [token, user.name, user.uid] + ([",".join(user.groups)] if user.groups else [])
    path.touch(mode=0o600, exist_ok=True)
    with path.open("a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow(row)


# --- the authenticators ------------------------------------------------------------------------------


def _x509_user(peer_cert: Mapping[str, Any] | None) -> UserInfo | None:
    """``CommonNameUserConversion``; ``peer_cert`` is ``ssl.SSLSocket.getpeercert()``, so the chain was
    already verified by the TLS handshake (None when the client sent no certificate; ``{}`` when it was
    not verified, which a ``CERT_OPTIONAL`` server never sees)."""
    if not peer_cert:
        return None
    attrs = [pair for rdn in peer_cert.get("subject", ()) for pair in rdn]
    common_names = [value for key, value in attrs if key == "commonName"]
    if not common_names or not common_names[0]:
        return None  # kube: a certificate without a CN authenticates nobody
    groups = tuple(value for key, value in attrs if key == "organizationName")
    return UserInfo(name=common_names[0], groups=groups)


def _bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None when the header carries no bearer token."""
    parts = (authorization or "").strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


def _with_authenticated_group(user: UserInfo) -> UserInfo:
    """``AuthenticatedGroupAdder``: append ``system:authenticated`` unless already settled."""
    if user.name == ANONYMOUS or ALL_AUTHENTICATED in user.groups or ALL_UNAUTHENTICATED in user.groups:
        return user
    return dataclasses.replace(user, groups=(*user.groups, ALL_AUTHENTICATED))


class Authenticator:
    """The union of the x509 and token-file authenticators, as kube-apiserver assembles them.

    ``tokens`` is read on every request, so tokens added to the mapping later are honoured.
    """

    def __init__(self, *, tokens: Mapping[str, UserInfo]) -> None:
        self._tokens = tokens

    def authenticate(self, *, peer_cert: Mapping[str, Any] | None, authorization: str | None) -> UserInfo | None:
        """The caller's identity, or None when no credential is valid (the caller answers 401)."""
        user = _x509_user(peer_cert)
        if user is None:
            token = _bearer_token(authorization)
            user = self._tokens.get(token) if token is not None else None
        return _with_authenticated_group(user) if user is not None else None
