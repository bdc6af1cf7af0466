"""Bearer tokens as JWTs signed with the cluster's service-account key, so every API server that has
the key pair understands every member's tokens.

Mirrors ``pkg/serviceaccount/jwt.go``: :func:`issue` is ``JWTTokenGenerator.GenerateToken`` (a JWS
in compact form, ``ES256`` with a ``kid`` that is the base64url SHA-256 of the public key's DER, as
``keyIDFromPublicKey`` derives it) and :class:`JWTAuthenticator` is ``JWTTokenAuthenticator``
(signature checked with ``sa.pub``, then the issuer). kubeadm makes ``sa.key``/``sa.pub`` once and
copies them to every control-plane node (``--upload-certs``), which is why a token issued by one
API server authenticates at all of them.

Differences: kube's tokens name service accounts only and derive the groups from ``sub``; labkit's
also name the sim runtime's node identities (kube's kubelets present certificates; labkit's sim
nodes share one connection pool, KWOK-style), so the user's uid and groups travel as claims. Left
out: ``aud``, ``exp``/``nbf`` (TokenRequest's expiry is reported, not enforced) and the pod and
secret bindings of bound tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from labkit.apiserver.authn import UserInfo

ISSUER = "https://kubernetes.default.svc.cluster.local"  # kubeadm's default --service-account-issuer
_P256_BYTES = 32


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: ec.EllipticCurvePublicKey) -> str:
    """``keyIDFromPublicKey``: base64url(SHA-256(DER SubjectPublicKeyInfo))."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64url(hashlib.sha256(der).digest())


def issue(key: ec.EllipticCurvePrivateKey, *, user: str, uid: str = "", groups: Sequence[str] = ()) -> str:
    """A signed token naming ``user``: ``header.claims.signature``, ES256 (r and s, 32 bytes each)."""
    header = {"alg": "ES256", "kid": key_id(key.public_key())}
    claims: dict[str, Any] = {"iss": ISSUER, "sub": user, "iat": int(time.time()), "groups": list(groups)}
    if uid:
        claims["uid"] = uid
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(_P256_BYTES, 'big') + s.to_bytes(_P256_BYTES, 'big'))}"


class JWTAuthenticator:
    """A token authenticator: the user of a token this public key signed for :data:`ISSUER`, else None."""

    def __init__(self, public: ec.EllipticCurvePublicKey) -> None:
        self._public = public
        self._kid = key_id(public)

    def __call__(self, token: str) -> UserInfo | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None  # not a JWT: another authenticator's business
        try:
            header, claims, signature = json.loads(_unb64url(parts[0])), json.loads(_unb64url(parts[1])), \
                _unb64url(parts[2])
        except (ValueError, binascii.Error):
            return None
        if (not isinstance(header, dict) or header.get("alg") != "ES256" or header.get("kid") != self._kid
                or not isinstance(claims, dict) or claims.get("iss") != ISSUER or len(signature) != 2 * _P256_BYTES):
            return None
        r, s = int.from_bytes(signature[:_P256_BYTES], "big"), int.from_bytes(signature[_P256_BYTES:], "big")
        try:
            self._public.verify(encode_dss_signature(r, s), f"{parts[0]}.{parts[1]}".encode(),
                                ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return None
        user, uid, groups = claims.get("sub"), claims.get("uid", ""), claims.get("groups", [])
        if not isinstance(user, str) or not user or not isinstance(uid, str) or not isinstance(groups, list):
            return None
        return UserInfo(name=user, uid=uid, groups=tuple(str(g) for g in groups))
