"""Who is calling: the request authentication of kube-apiserver.

Mirrors ``k8s.io/apiserver/pkg/authentication``:

- ``request/x509``: a client certificate that the TLS layer verified against the cluster CA names
  the user (subject CN) and its groups (every subject O);
- ``token/tokenfile``: the ``--token-auth-file`` CSV, one ``token,user,uid,"group1,group2"`` a line;
- ``plugin/pkg/auth/authenticator/token/bootstrap``: a bootstrap token ``<id>.<secret>`` names the
  user ``system:bootstrap:<id>`` in ``system:bootstrappers`` and the Secret's ``auth-extra-groups``,
  when ``kube-system/bootstrap-token-<id>`` exists, is not being deleted, has the bootstrap type, the
  same id and secret (compared in constant time), has not expired and says
  ``usage-bootstrap-authentication: "true"``;
- ``request/bearertoken``: ``Authorization: Bearer <token>`` tried on the token file, then on the
  other token authenticators (kube-apiserver's order: token file, service accounts, bootstrap tokens);
- ``request/union``: the authenticators are tried in kube-apiserver's order (x509 before bearer
  tokens) and the first success wins; a failure (an unknown token) only matters when nothing succeeds,
  so a valid client certificate still authenticates a request that also carries a bad token;
- ``request/anonymous`` behind ``union.NewFailOnError``: a request with no credentials at all is
  ``system:anonymous`` in ``system:unauthenticated`` (RBAC then decides, and answers 403 for what is
  not bound to them); one with a bad bearer token stays a 401. kube-apiserver turns this off under
  ``--authorization-mode=AlwaysAllow`` (``ApplyAuthorization``), and so does :class:`Authenticator`'s
  caller;
- ``group.AuthenticatedGroupAdder``: every authenticated user is in ``system:authenticated``.

Service-account JWTs are :mod:`labkit.apiserver.satoken`'s, handed in as a token authenticator. Left
out: OIDC, webhooks, the front-proxy headers, the WebSocket
``base64url.bearer.authorization.k8s.io.`` subprotocol, the token cache, and the x509 extras (the
``authentication.kubernetes.io/credential-id`` fingerprint and the UID read from a certificate).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labkit.apimachinery import bootstraptoken
from labkit.apimachinery.meta import Obj

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


#: a bearer-token authenticator: the token's user, or None when the token is not one it knows
TokenAuthenticator = Callable[[str], UserInfo | None]


class BootstrapTokenAuthenticator:
    """Bootstrap tokens against their Secrets in kube-system, read with ``get_secret(name)`` (kube
    reads an informer's lister; the API server hands in its own registry), expiry by ``clock``."""

    def __init__(self, get_secret: Callable[[str], Obj | None], clock: Callable[[], dt.datetime]) -> None:
        self._get_secret = get_secret
        self._clock = clock

    def __call__(self, token: str) -> UserInfo | None:
        try:
            token_id, token_secret = bootstraptoken.parse_token(token)
        except ValueError:
            return None  # not a bootstrap token: another authenticator's business
        secret = self._get_secret(bootstraptoken.secret_name(token_id))
        if (secret is None or secret["metadata"].get("deletionTimestamp")
                or secret.get("type") != bootstraptoken.SECRET_TYPE or secret.get("data") is None):
            return None
        stored = bootstraptoken.secret_data(secret, bootstraptoken.SECRET_KEY)
        if not hmac.compare_digest(stored.encode(), token_secret.encode()):
            return None
        if (bootstraptoken.secret_data(secret, bootstraptoken.ID_KEY) != token_id
                or bootstraptoken.has_expired(secret, self._clock())
                or bootstraptoken.secret_data(secret, bootstraptoken.USAGE_AUTHENTICATION) != "true"):
            return None
        try:
            groups = bootstraptoken.auth_groups(secret)
        except ValueError:
            return None
        return UserInfo(name=bootstraptoken.USER_PREFIX + token_id, groups=tuple(groups))


#: kube-apiserver's token cache (``BuiltInAuthenticationOptions.TokenSuccessCacheTTL``; failures: 0):
#: a token found valid is trusted this long without a new check
TOKEN_SUCCESS_CACHE_TTL = 10.0
TOKEN_CACHE_SIZE = 4096


class Authenticator:
    """The union of the x509 and bearer-token authenticators, with anonymous requests as the fallback
    when ``anonymous``, as kube-apiserver assembles them.

    ``tokens`` (the token file) is read on every request, so tokens added to the mapping later are
    honoured; ``token_authenticators`` are tried after it, in order, and a user they find is kept
    :data:`TOKEN_SUCCESS_CACHE_TTL` seconds (kube-apiserver's ``tokencache`` over its token
    authenticators: a JWT's signature is not checked again on every request; failures are not kept).
    """

    def __init__(self, *, tokens: Mapping[str, UserInfo], token_authenticators: Sequence[TokenAuthenticator] = (),
                 anonymous: bool = False) -> None:
        self._tokens = tokens
        self._token_authenticators = tuple(token_authenticators)
        self.anonymous = anonymous
        self._found: dict[str, tuple[float, UserInfo]] = {}  # token -> (until when, its user)

    def authenticate(self, *, peer_cert: Mapping[str, Any] | None, authorization: str | None) -> UserInfo | None:
        """The caller's identity, or None when a credential was offered and none is valid, or none was
        offered and anonymous requests are off (the caller answers 401)."""
        user = _x509_user(peer_cert)
        if user is None:
            token = _bearer_token(authorization)
            if token is None:
                return UserInfo(name=ANONYMOUS, groups=(ALL_UNAUTHENTICATED,)) if self.anonymous else None
            user = self._tokens.get(token) or self._authenticate_token(token)
        return _with_authenticated_group(user) if user is not None else None

    def _authenticate_token(self, token: str) -> UserInfo | None:
        now = time.monotonic()
        cached = self._found.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        user = next((found for authenticate_token in self._token_authenticators
                     if (found := authenticate_token(token)) is not None), None)
        if user is not None:
            if len(self._found) >= TOKEN_CACHE_SIZE:  # the expired first, else all: a bound, not an LRU
                self._found = {t: hit for t, hit in self._found.items() if hit[0] > now}
                if len(self._found) >= TOKEN_CACHE_SIZE:
                    self._found.clear()
            self._found[token] = (now + TOKEN_SUCCESS_CACHE_TTL, user)
        return user
