"""labkit.apiserver.authn: x509 + token-file union, as kube-apiserver assembles it."""

from __future__ import annotations

import pytest

from labkit.apiserver.authn import Authenticator, UserInfo, read_token_file

# what ssl.SSLSocket.getpeercert() returns for CN=alice, O=dev, O=system:masters
ALICE_CERT = {
    "subject": ((("organizationName", "dev"),), (("organizationName", "system:masters"),), (("commonName", "alice"),)),
    "issuer": ((("commonName", "kubernetes"),),),
}
BOB = UserInfo(name="bob", uid="1002", groups=("viewers",))


@pytest.fixture
def authn() -> Authenticator:
    return Authenticator(tokens={"good-token": BOB})


def test_client_certificate_names_user_and_groups(authn):
    user = authn.authenticate(peer_cert=ALICE_CERT, authorization=None)
    assert user == UserInfo(name="alice", groups=("dev", "system:masters", "system:authenticated"))


def test_certificate_without_common_name_is_no_credential(authn):
    cert = {"subject": ((("organizationName", "dev"),),)}
    assert authn.authenticate(peer_cert=cert, authorization=None) is None


def test_no_or_unverified_client_certificate(authn):
    assert authn.authenticate(peer_cert=None, authorization=None) is None  # none sent
    assert authn.authenticate(peer_cert={}, authorization=None) is None  # not verified (CERT_NONE)


def test_bearer_token(authn):
    user = authn.authenticate(peer_cert={}, authorization="Bearer good-token")
    assert user == UserInfo(name="bob", uid="1002", groups=("viewers", "system:authenticated"))
    # the scheme is case-insensitive and surrounding blanks are trimmed
    assert authn.authenticate(peer_cert=None, authorization="  bearer good-token ") == user


@pytest.mark.parametrize("header", ["Bearer bad-token", "Bearer ", "Bearer", "Basic Ym9iOnB3", "good-token", ""])
def test_missing_or_unknown_token_fails(authn, header):
    assert authn.authenticate(peer_cert=None, authorization=header) is None


def test_valid_certificate_wins_over_unknown_token(authn):
    # union.New (not NewFailOnError): x509 runs first and its success ends the search
    user = authn.authenticate(peer_cert=ALICE_CERT, authorization="Bearer bad-token")
    assert user is not None and user.name == "alice"


def test_certificate_wins_over_valid_token(authn):
    user = authn.authenticate(peer_cert=ALICE_CERT, authorization="Bearer good-token")
    assert user is not None and user.name == "alice"


def test_authenticated_group_not_duplicated():
    already = UserInfo(name="carol", groups=("system:authenticated", "x"))
    authn = Authenticator(tokens={"t": already})
    assert authn.authenticate(peer_cert=None, authorization="Bearer t").groups == ("system:authenticated", "x")


def test_tokens_added_later_are_honoured():
    tokens: dict[str, UserInfo] = {}
    authn = Authenticator(tokens=tokens)
    assert authn.authenticate(peer_cert=None, authorization="Bearer late") is None
    tokens["late"] = BOB
    assert authn.authenticate(peer_cert=None, authorization="Bearer late").name == "bob"


def test_token_file_in_kube_format(tmp_path):
    path = tmp_path / "tokens.csv"
    path.write_text('abc,alice,1001,"dev,ops"\n\n,nobody,0\ndef,bob,1002\n')
    assert read_token_file(path) == {
        "abc": UserInfo(name="alice", uid="1001", groups=("dev", "ops")),
        "def": UserInfo(name="bob", uid="1002"),
    }


def test_token_file_needs_three_columns(tmp_path):
    path = tmp_path / "tokens.csv"
    path.write_text("abc,alice\n")
    with pytest.raises(ValueError, match="must have at least 3 columns"):
        read_token_file(path)


def test_a_valid_token_is_trusted_for_ten_seconds_and_a_refused_one_is_asked_again(monkeypatch) -> None:
    """kube-apiserver's token cache: a JWT's signature is not checked on every request."""
    from labkit.apiserver import authn

    asked: list[str] = []

    def authenticate_token(token: str) -> authn.UserInfo | None:
        asked.append(token)
        return authn.UserInfo("jane") if token == "good" else None

    now = [100.0]
    monkeypatch.setattr(authn.time, "monotonic", lambda: now[0])
    a = authn.Authenticator(tokens={}, token_authenticators=[authenticate_token])
    for _ in range(3):
        assert a.authenticate(peer_cert=None, authorization="Bearer good").name == "jane"
        assert a.authenticate(peer_cert=None, authorization="Bearer bad") is None
    assert asked == ["good", "bad", "bad", "bad"]
    now[0] += authn.TOKEN_SUCCESS_CACHE_TTL + 0.1
    assert a.authenticate(peer_cert=None, authorization="Bearer good").name == "jane"
    assert asked[-1] == "good" and len(asked) == 5
