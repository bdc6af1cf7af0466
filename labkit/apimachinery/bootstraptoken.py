"""Bootstrap tokens: the ``<id>.<secret>`` a new node joins with, the Secret that holds one, the
detached JWS that signs ``cluster-info`` with it, and the CA public-key pin a joining node checks.

Mirrors ``k8s.io/cluster-bootstrap`` (``token/api`` for the names, ``token/util`` for generating and
parsing, ``util/secrets`` for reading a token Secret, ``token/jws`` for the signature), kubeadm's
``BootstrapTokenToSecret`` (``apis/bootstraptoken/v1/utils.go``) and ``util/pubkeypin`` (RFC 7469
pins). The API server's authenticator, the bootstrap signer and token cleaner, and ``labkit.bootstrap``
(``kubeadm init``'s upload and ``kubeadm join``'s discovery) all read these facts from here.

- A token is six then sixteen characters of ``[a-z0-9]``; the id is public (it names the Secret
  ``kube-system/bootstrap-token-<id>``), the secret is not.
- The signature is a JWS in compact form with its payload cut out (RFC 7515 appendix F,
  ``header..signature``): HS256, protected header ``{"alg":"HS256","kid":"<id>"}``, key the token
  secret padded with zero bytes to 32 (go-jose's minimum HS256 key length).
- A pin is ``sha256:`` and the lowercase hex SHA-256 of a certificate's DER SubjectPublicKeyInfo.

Go's ``%q`` is written with :func:`json.dumps`, which agrees for the ASCII strings these messages
quote. Left out: ``ValidateUsages``, and tokens given by flags (the id and secret are only ever
generated here or parsed from one string).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import parse_time, rfc3339

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
ID_KEY, SECRET_KEY = "token-id", "token-secret"
EXPIRATION_KEY, DESCRIPTION_KEY, EXTRA_GROUPS_KEY = "expiration", "description", "auth-extra-groups"
USAGE_PREFIX = "usage-bootstrap-"
USAGE_SIGNING, USAGE_AUTHENTICATION = USAGE_PREFIX + "signing", USAGE_PREFIX + "authentication"
#: the ConfigMap ``kubeadm init`` publishes in kube-public, its kubeconfig key and the signatures' key prefix
CLUSTER_INFO, KUBECONFIG_KEY, JWS_PREFIX = "cluster-info", "kubeconfig", "jws-kubeconfig-"
USER_PREFIX, DEFAULT_GROUP = "system:bootstrap:", "system:bootstrappers"
#: the extra group of the tokens ``kubeadm init`` and ``kubeadm token create`` make
KUBEADM_NODE_GROUP = "system:bootstrappers:kubeadm:default-node-token"
TOKEN_PATTERN = r"\A([a-z0-9]{6})\.([a-z0-9]{16})\z"
GROUP_PATTERN = r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z"
_TOKEN_RE = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
_GROUP_RE = re.compile(r"system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]")
_SECRET_NAME_RE = re.compile(re.escape(SECRET_PREFIX) + r"([a-z0-9]{6})")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_HS256_KEY_BYTES = 32
PIN_FORMAT = "sha256"


# --- the token ----------------------------------------------------------------------------------------


def generate_token() -> str:
    """A new random token, ``<6 chars>.<16 chars>`` (``GenerateBootstrapToken``, uniform over the alphabet)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(6)) + "." + "".join(
        secrets.choice(_ALPHABET) for _ in range(16))


def parse_token(token: str) -> tuple[str, str]:
    """``(id, secret)`` of a token; ValueError with kubeadm's message (``NewBootstrapTokenString``)."""
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        raise ValueError(f"the bootstrap token {json.dumps(token)} was not of the form {json.dumps(TOKEN_PATTERN)}")
    return match[1], match[2]


def secret_name(token_id: str) -> str:
    """``bootstrap-token-<id>`` (``BootstrapTokenSecretName``)."""
    return SECRET_PREFIX + token_id


def id_from_secret_name(name: str) -> str | None:
    """The token id a Secret's name carries, or None when it is not ``bootstrap-token-<id>`` (``ParseName``)."""
    match = _SECRET_NAME_RE.fullmatch(name)
    return match[1] if match else None


# --- the Secret -------------------------------------------------------------------------------------


def token_secret(token: str, *, now: dt.datetime, ttl: dt.timedelta | None, description: str = "",
                 usages: Iterable[str] = ("signing", "authentication"), groups: Iterable[str] = ()) -> Obj:
    """The Secret ``kubeadm token create`` writes (``BootstrapTokenToSecret``): id and secret, the
    expiration ``now + ttl`` (none for a ``ttl`` of None or zero: the token never expires), the
    description, ``usage-bootstrap-<usage>: "true"`` per usage and the extra groups comma-joined."""
    token_id, secret = parse_token(token)
    data = {ID_KEY: token_id, SECRET_KEY: secret}
    if description:
        data[DESCRIPTION_KEY] = description
    if ttl:
        data[EXPIRATION_KEY] = rfc3339(now + ttl)
    data.update({USAGE_PREFIX + usage: "true" for usage in usages})
    if joined := ",".join(groups):
        data[EXTRA_GROUPS_KEY] = joined
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name(token_id),
                                                               "namespace": "kube-system"},
            "type": SECRET_TYPE, "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def secret_data(secret: Obj, key: str) -> str:
    """One value of a Secret's ``data``, decoded; "" when missing or not base64 (``GetData``)."""
    try:
        return base64.b64decode((secret.get("data") or {}).get(key) or "", validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        return ""


def time_remaining(secret: Obj, now: dt.datetime) -> tuple[dt.timedelta | None, bool]:
    """``(time left, expired)`` (``GetExpiration``): ``(None, False)`` without an expiration; a value
    that is not RFC 3339 counts as expired."""
    value = secret_data(secret, EXPIRATION_KEY)
    if not value:
        return None, False
    try:
        expires = parse_time(value)
    except ValueError:
        return None, True
    assert expires is not None  # value is not empty
    if expires.tzinfo is None:  # RFC 3339 always carries a zone; Go's time.Parse refuses one without
        return None, True
    left = expires - now
    return (None, True) if left <= dt.timedelta(0) else (left, False)


def has_expired(secret: Obj, now: dt.datetime) -> bool:
    """``HasExpired``."""
    return time_remaining(secret, now)[1]


def auth_groups(secret: Obj) -> list[str]:
    """``system:bootstrappers`` and the Secret's extra groups, sorted and without repeats
    (``GetGroups``); ValueError naming the first extra group that is not ``system:bootstrappers:...``."""
    groups = {DEFAULT_GROUP}
    extra = secret_data(secret, EXTRA_GROUPS_KEY)
    for group in extra.split(",") if extra else ():
        if not _GROUP_RE.fullmatch(group):
            raise ValueError(f"bootstrap group {json.dumps(group)} is invalid (must match {GROUP_PATTERN})")
        groups.add(group)
    return sorted(groups)


# --- the detached JWS (token/jws) -------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def detached_signature(content: str, token_id: str, token_secret: str) -> str:
    """``header..signature`` over ``content`` (``ComputeDetachedSignature``)."""
    header = _b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    key = token_secret.encode().ljust(_HS256_KEY_BYTES, b"\0")
    signing_input = f"{header}.{_b64url(content.encode())}".encode()
    return f"{header}..{_b64url(hmac.new(key, signing_input, hashlib.sha256).digest())}"


def detached_signature_valid(signature: str, content: str, token_id: str, token_secret: str) -> bool:
    """Whether ``signature`` is what this token computes over ``content`` (``DetachedTokenIsValid``;
    compared in constant time, where kube uses ``==``)."""
    return hmac.compare_digest(signature.encode(), detached_signature(content, token_id, token_secret).encode())


# --- public-key pins (kubeadm's util/pubkeypin) -----------------------------------------------------


def ca_cert_hash(cert: x509.Certificate) -> str:
    """``sha256:<hex>`` of the certificate's DER SubjectPublicKeyInfo (``pubkeypin.Hash``)."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"{PIN_FORMAT}:{hashlib.sha256(spki).hexdigest()}"


def go_invalid_byte(byte: int) -> str:
    """Go's ``hex.InvalidByteError`` text, whose ``%#U`` shows the character when printable."""
    char = chr(byte)
    return f"encoding/hex: invalid byte: U+{byte:04X}" + (f" '{char}'" if char.isprintable() else "")


def _check_sha256_hex(value: str) -> None:
    """ValueError unless ``value`` is 32 bytes of hex, with Go's errors (``allowSHA256``, ``hex.DecodeString``)."""
    raw = value.encode()
    if len(raw) // 2 != hashlib.sha256().digest_size:
        raise ValueError(f"expected a 32 byte SHA-256 hash, found {len(raw) // 2} bytes")
    bad = next((b for b in raw if chr(b) not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise ValueError(f"could not decode SHA-256 from hex: {go_invalid_byte(bad)}")
    if len(raw) % 2:
        raise ValueError("could not decode SHA-256 from hex: encoding/hex: odd length hex string")


def parse_pins(hashes: Iterable[str]) -> set[str]:
    """The lowercase hex values of ``sha256:<hex>`` pins (``Set.Allow``); ValueError with kubeadm's
    message for the first malformed one."""
    pins: set[str] = set()
    for pin in hashes:
        parts = pin.split(":")
        if len(parts) != 2:
            raise ValueError(f'invalid hash, expected "format:hex-value". Known format(s) are: {PIN_FORMAT}')
        fmt, value = parts
        if fmt.lower() != PIN_FORMAT:
            raise ValueError(f"unknown hash format {json.dumps(fmt)}. Known format(s) are: {PIN_FORMAT}")
        try:
            _check_sha256_hex(value)
        except ValueError as e:
            raise ValueError(f"invalid hash {json.dumps(pin)}, {e}") from None
        pins.add(value.lower())
    return pins


def check_pinned(pins: set[str], certs: Iterable[x509.Certificate]) -> None:
    """Return if one of ``certs`` has a pinned public key, else ValueError naming theirs (``Set.CheckAny``)."""
    seen: list[str] = []
    for cert in certs:
        pin = ca_cert_hash(cert)
        if pin.removeprefix(f"{PIN_FORMAT}:") in pins:
            return
        seen.append(pin)
    raise ValueError(f"none of the public keys {json.dumps(':'.join(seen))} are pinned")
