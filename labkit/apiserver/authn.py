"""Who is calling: the request authentication of kube-apiserver.

Mirrors ``k8s.io/apiserver/pkg/authentication``:

- ``request/x509``: a client certificate that verifies against the cluster CA (signed by it, within
  its validity, for client authentication when it names usages) names the user (subject CN) and its
  groups (every subject O). The TLS layer only requests it (:mod:`labkit.apiserver.requestclientcert`),
  so one that does not verify, e.g. another cluster's, is a 401 like an unknown token;
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
  not bound to them); one with a bad bearer token or certificate stays a 401. kube-apiserver turns this off under
  ``--authorization-mode=AlwaysAllow`` (``ApplyAuthorization``), and so does :class:`Authenticator`'s
  caller;
- ``group.AuthenticatedGroupAdder``: every authenticated user is in ``system:authenticated``.

Service-account JWTs are :mod:`labkit.apiserver.satoken`'s, handed in as a token authenticator. Left
out: OIDC, webhooks, the front-proxy headers, the WebSocket
``base64url.bearer.authorization.k8s.io.`` subprotocol, intermediate CAs in a client's chain, and the
x509 extras (the ``authentication.kubernetes.io/credential-id`` fingerprint and the UID read from a
certificate).
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

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


_CLIENT_USAGES = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}


def _x509_user(der: bytes, ca: x509.Certificate | None, now: dt.datetime) -> UserInfo | None:
    """``x509.Authenticator`` with ``CommonNameUserConversion``: the user of a client certificate (DER)
    that ``ca`` signed, valid at ``now`` and for client authentication; None when it does not verify.
    A verified certificate without a CN authenticates nobody either (a 401 here; kube, finding no user
    and no error, would go on to anonymous)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        if ca is None:
            return None
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return None
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return None
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None  # Go's x509: a certificate that names no usage may be used for any
    if usages is not None and not set(usages) & _CLIENT_USAGES:
        return None
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not common_names or not common_names[0].value:
        return None
    groups = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return UserInfo(name=str(common_names[0].value), groups=groups)


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

    ``client_ca`` signs the client certificates it accepts (none without it). ``tokens`` (the token
    file) is read on every request, so tokens added to the mapping later are honoured;
    ``token_authenticators`` are tried after it, in order. A token found valid is kept
    :data:`TOKEN_SUCCESS_CACHE_TTL` seconds (kube-apiserver's ``tokencache`` over its token
    authenticators: a signature is not checked again on every request; failures are not kept), and so
    is a verified certificate (a connection's requests all carry it).
    """

    def __init__(self, *, tokens: Mapping[str, UserInfo], token_authenticators: Sequence[TokenAuthenticator] = (),
                 anonymous: bool = False, client_ca: x509.Certificate | None = None) -> None:
        self._tokens = tokens
        self._token_authenticators = tuple(token_authenticators)
        self.anonymous = anonymous
        self._client_ca = client_ca
        self._found: dict[str | bytes, tuple[float, UserInfo]] = {}  # token or certificate -> (until when, user)

    def authenticate(self, *, peer_cert: bytes | None, authorization: str | None) -> UserInfo | None:
        """The caller's identity from its client certificate (DER, as the TLS layer received it, not
        yet verified) or bearer token; None when a credential was offered and none is valid, or none
        was offered and anonymous requests are off (the caller answers 401)."""
        user = self._cached(peer_cert, lambda der: _x509_user(der, self._client_ca, dt.datetime.now(dt.UTC))) \
            if peer_cert else None
        if user is None:
            token = _bearer_token(authorization)
            if token is None:
                anonymous = self.anonymous and not peer_cert  # union.NewFailOnError: a bad certificate is a 401
                return UserInfo(name=ANONYMOUS, groups=(ALL_UNAUTHENTICATED,)) if anonymous else None
            user = self._tokens.get(token) or self._cached(token, self._authenticate_token)
        return _with_authenticated_group(user) if user is not None else None

    def _cached(self, credential: Any, authenticate: Callable[[Any], UserInfo | None]) -> UserInfo | None:
        now = time.monotonic()
        cached = self._found.get(credential)
        if cached is not None and cached[0] > now:
            return cached[1]
        user = authenticate(credential)
        if user is not None:
            if len(self._found) >= TOKEN_CACHE_SIZE:  # the expired first, else all: a bound, not an LRU
                self._found = {t: hit for t, hit in self._found.items() if hit[0] > now}
                if len(self._found) >= TOKEN_CACHE_SIZE:
                    self._found.clear()
            self._found[credential] = (now + TOKEN_SUCCESS_CACHE_TTL, user)
        return user

    def _authenticate_token(self, token: str) -> UserInfo | None:
        return next((found for authenticate_token in self._token_authenticators
                     if (found := authenticate_token(token)) is not None), None)
