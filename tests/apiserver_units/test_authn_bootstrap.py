"""labkit.apiserver.authn: bootstrap tokens (``plugin/pkg/auth/authenticator/token/bootstrap``) and
anonymous requests (``request/anonymous`` behind ``union.NewFailOnError``)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from labkit.apimachinery import bootstraptoken as bt
from labkit.apimachinery.meta import Obj
from labkit.apiserver.authn import Authenticator, BootstrapTokenAuthenticator, UserInfo

from .test_authn import ALICE_CERT, BOB, CA

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
TOKEN = "abcdef.0123456789abcdef"
BOOTSTRAP_USER = UserInfo(name="system:bootstrap:abcdef", groups=(
    "system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"))


def secret(**changes: str | None) -> Obj:
    """kubeadm's Secret for TOKEN, expiring in an hour, with data keys changed (None: removed)."""
    obj = bt.token_secret(TOKEN, now=NOW, ttl=dt.timedelta(hours=1), groups=[bt.KUBEADM_NODE_GROUP])
    for key, value in changes.items():
        key = key.replace("_", "-")
        if value is None:
            obj["data"].pop(key)
        else:
            obj["data"][key] = base64.b64encode(value.encode()).decode()
    return obj


def authenticator(stored: Obj | None, *, anonymous: bool = True) -> Authenticator:
    secrets = {stored["metadata"]["name"]: stored} if stored else {}
    return Authenticator(tokens={"good-token": BOB}, anonymous=anonymous, client_ca=CA,
                         token_authenticators=[BootstrapTokenAuthenticator(secrets.get, lambda: NOW)])


def bearer(authn: Authenticator, token: str) -> UserInfo | None:
    return authn.authenticate(peer_cert=None, authorization=f"Bearer {token}")


def test_a_good_token_is_its_bootstrap_user():
    assert bearer(authenticator(secret()), TOKEN) == BOOTSTRAP_USER


def test_the_token_file_is_still_tried_first():
    assert bearer(authenticator(secret()), "good-token") == UserInfo(name="bob", uid="1002",
                                                                     groups=("viewers", "system:authenticated"))


def wrong_type() -> Obj:
    return {**secret(), "type": "Opaque"}


def being_deleted() -> Obj:
    obj = secret()
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T11:00:00Z"
    return obj


@pytest.mark.parametrize("stored, token", [
    (secret(), "abcdef.0123456789abcdee"),
    (secret(expiration="2026-01-01T12:00:00Z"), TOKEN),
    (secret(expiration="not a time"), TOKEN),
    (secret(usage_bootstrap_authentication="false"), TOKEN),
    (secret(usage_bootstrap_authentication=None), TOKEN),
    (wrong_type(), TOKEN),
    (being_deleted(), TOKEN),
    (secret(token_id="zzzzzz"), TOKEN),
    (secret(auth_extra_groups="system:masters"), TOKEN),
    (None, TOKEN),
    (secret(), "ABCDEF.0123456789abcdef"),
], ids=["wrong secret", "expired", "unreadable expiration", "usage not true", "no usage", "wrong type",
        "being deleted", "id differs from name", "extra group outside system:bootstrappers", "no Secret",
        "not a bootstrap token"])
def test_a_bad_bootstrap_token_authenticates_nobody(stored, token):
    assert bearer(authenticator(stored), token) is None  # a 401, even with anonymous requests on


def test_no_credentials_is_anonymous_when_allowed():
    assert authenticator(None).authenticate(peer_cert=None, authorization=None) == UserInfo(
        name="system:anonymous", groups=("system:unauthenticated",))
    # "Bearer " with no token, or another scheme, is no bearer token at all (bearertoken.go)
    for header in ("Bearer ", "Basic Ym9iOnB3"):
        assert authenticator(None).authenticate(peer_cert=None, authorization=header).name == "system:anonymous"
    assert authenticator(None, anonymous=False).authenticate(peer_cert=None, authorization=None) is None


def test_a_certificate_is_still_who_it_names_with_anonymous_on():
    assert authenticator(None).authenticate(peer_cert=ALICE_CERT, authorization=None).name == "alice"
