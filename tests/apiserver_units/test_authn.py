"""labkit.apiserver.authn: x509 + token-file union, as kube-apiserver assembles it."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labkit.apiserver.authn import Authenticator, UserInfo, read_token_file

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str | None, *orgs: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
                     + ([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn is not None else []))


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - dt.timedelta(hours=1)).not_valid_after(NOW + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


CA, CA_KEY = _ca("kubernetes")
OTHER_CA, OTHER_CA_KEY = _ca("kubernetes")  # another cluster's CA: the same name, another key


def client_cert(cn: str | None, *orgs: str, signer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] = (CA, CA_KEY),
                usage: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.CLIENT_AUTH,
                valid: tuple[dt.timedelta, dt.timedelta] = (dt.timedelta(hours=-1), dt.timedelta(hours=1))) -> bytes:
    """A client certificate (DER, as the TLS layer hands it over) for CN ``cn`` and one O per org."""
    builder = (x509.CertificateBuilder().subject_name(_name(cn, *orgs)).issuer_name(signer[0].subject)
               .public_key(ec.generate_private_key(ec.SECP256R1()).public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + valid[0]).not_valid_after(NOW + valid[1]))
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer[1], hashes.SHA256()).public_bytes(serialization.Encoding.DER)


ALICE_CERT = client_cert("alice", "dev", "system:masters")
BOB = UserInfo(name="bob", uid="1002", groups=("viewers",))


@pytest.fixture
def authn() -> Authenticator:
    return Authenticator(tokens={"good-token": BOB}, client_ca=CA)


def test_client_certificate_names_user_and_groups(authn):
    user = authn.authenticate(peer_cert=ALICE_CERT, authorization=None)
    assert user == UserInfo(name="alice", groups=("dev", "system:masters", "system:authenticated"))


def test_certificate_without_common_name_is_no_credential(authn):
    assert authn.authenticate(peer_cert=client_cert(None, "dev"), authorization=None) is None


@pytest.mark.parametrize("cert", [
    client_cert("alice", "system:masters", signer=(OTHER_CA, OTHER_CA_KEY)),  # another cluster's
    client_cert("alice", valid=(dt.timedelta(days=-2), dt.timedelta(days=-1))),  # expired
    client_cert("alice", valid=(dt.timedelta(hours=1), dt.timedelta(days=1))),  # not yet valid
    client_cert("alice", usage=ExtendedKeyUsageOID.SERVER_AUTH),  # a serving certificate
    b"not DER",
], ids=["other-ca", "expired", "not-yet-valid", "server-usage", "garbage"])
def test_certificate_that_does_not_verify_is_a_401_not_anonymous(cert):
    # x509.Authenticator fails with an error, and union.NewFailOnError keeps anonymous out
    authn = Authenticator(tokens={"good-token": BOB}, client_ca=CA, anonymous=True)
    assert authn.authenticate(peer_cert=cert, authorization=None) is None
    assert authn.authenticate(peer_cert=None, authorization=None).name == "system:anonymous"
    # a valid token still authenticates beside it (union.New tries the next authenticator)
    assert authn.authenticate(peer_cert=cert, authorization="Bearer good-token").name == "bob"


def test_certificate_naming_no_usage_is_good_for_any(authn):
    assert authn.authenticate(peer_cert=client_cert("carol", usage=None), authorization=None).name == "carol"


def test_no_certificate_or_no_client_ca(authn):
    assert authn.authenticate(peer_cert=None, authorization=None) is None  # none sent
    assert Authenticator(tokens={}).authenticate(peer_cert=ALICE_CERT, authorization=None) is None  # no CA to trust


def test_bearer_token(authn):
    user = authn.authenticate(peer_cert=None, authorization="Bearer good-token")
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
