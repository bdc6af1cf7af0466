"""labkit.apimachinery.bootstraptoken: tokens, their Secret, the detached JWS and CA pins, checked
against cluster-bootstrap's and kubeadm's own cases."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess

import pytest
from cryptography import x509

from labkit.apimachinery import bootstraptoken as bt
from labkit.apiserver.pki import PKI

# cluster-bootstrap's token/jws/jws_test.go
CONTENT = "Hello from the other side. I must have called a thousand times."
HEADER = "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9"  # {"alg":"HS256","kid":"joshua"}
NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
TOKEN = "abcdef.0123456789abcdef"


@pytest.mark.parametrize("content, secret, signature", [
    (CONTENT, "my voice is my passcode", "VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8"),
    ("", "my voice is my passcode", "7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk"),
    (CONTENT, "", "UfkqvDGiIFxrMnFseDj9LYJOLNrvjW8aHhF71mvvAs8"),
], ids=["content", "no content", "no secret"])
def test_detached_signature_is_cluster_bootstraps(content, secret, signature):
    assert bt.detached_signature(content, "joshua", secret) == f"{HEADER}..{signature}"
    assert bt.detached_signature_valid(f"{HEADER}..{signature}", content, "joshua", secret)
    assert not bt.detached_signature_valid(f"{HEADER}..{signature}foo", content, "joshua", secret)


def test_tokens_are_generated_and_parsed():
    token = bt.generate_token()
    token_id, secret = bt.parse_token(token)
    assert (len(token_id), len(secret)) == (6, 16) and token == f"{token_id}.{secret}"
    assert bt.generate_token() != token
    with pytest.raises(ValueError) as e:
        bt.parse_token("ABCDEF.0123456789abcdef")
    assert str(e.value) == (r'the bootstrap token "ABCDEF.0123456789abcdef" was not of the form '
                            r'"\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"')


def test_secret_names():
    assert bt.secret_name("abcdef") == "bootstrap-token-abcdef"
    assert bt.id_from_secret_name("bootstrap-token-abcdef") == "abcdef"
    assert bt.id_from_secret_name("bootstrap-token-abc") is None
    assert bt.id_from_secret_name("bootstrap-token-abcdefg") is None


def test_the_secret_is_kubeadms():
    secret = bt.token_secret(TOKEN, now=NOW, ttl=dt.timedelta(hours=24), description="for a node",
                             groups=[bt.KUBEADM_NODE_GROUP])
    assert (secret["metadata"], secret["type"]) == ({"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
                                                    "bootstrap.kubernetes.io/token")
    assert {k: bt.secret_data(secret, k) for k in secret["data"]} == {
        "token-id": "abcdef", "token-secret": "0123456789abcdef", "expiration": "2026-01-02T12:00:00Z",
        "description": "for a node", "usage-bootstrap-signing": "true", "usage-bootstrap-authentication": "true",
        "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"}
    forever = bt.token_secret(TOKEN, now=NOW, ttl=None, usages=["signing"])
    assert sorted(forever["data"]) == ["token-id", "token-secret", "usage-bootstrap-signing"]


@pytest.mark.parametrize("expiration, expected", [
    (None, (None, False)),
    ("2026-01-01T13:00:00Z", (dt.timedelta(hours=1), False)),
    ("2026-01-01T12:00:00Z", (None, True)),
    ("tomorrow", (None, True)),
    ("2026-01-02", (None, True)),
])
def test_time_remaining(expiration, expected):
    secret = bt.token_secret(TOKEN, now=NOW, ttl=None)
    if expiration:
        secret["data"]["expiration"] = base64.b64encode(expiration.encode()).decode()
    assert bt.time_remaining(secret, NOW) == expected
    assert bt.has_expired(secret, NOW) is expected[1]


def test_groups_always_include_the_bootstrappers():
    secret = bt.token_secret(TOKEN, now=NOW, ttl=None, groups=["system:bootstrappers:b", "system:bootstrappers:a",
                                                                "system:bootstrappers:a"])
    assert bt.auth_groups(secret) == ["system:bootstrappers", "system:bootstrappers:a", "system:bootstrappers:b"]
    assert bt.auth_groups(bt.token_secret(TOKEN, now=NOW, ttl=None)) == ["system:bootstrappers"]
    with pytest.raises(ValueError, match='bootstrap group "system:masters" is invalid'):
        bt.auth_groups(bt.token_secret(TOKEN, now=NOW, ttl=None, groups=["system:masters"]))


def test_the_pin_is_the_hash_openssl_gives_for_the_public_key(tmp_path):
    """kubeadm's documented recipe: ``openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256``."""
    pki = PKI.create(tmp_path)
    pubkey = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(tmp_path / "ca.crt")],
                            capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pubkey, capture_output=True,
                         check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-hex"], input=der, capture_output=True,
                            check=True).stdout.decode().split()[-1]
    assert bt.ca_cert_hash(x509.load_pem_x509_certificate(pki.ca_cert_pem)) == f"sha256:{digest}"


@pytest.mark.parametrize("pin, message", [
    ("abc", 'invalid hash, expected "format:hex-value". Known format(s) are: sha256'),
    ("sha256:a:b", 'invalid hash, expected "format:hex-value". Known format(s) are: sha256'),
    ("md5:abc", 'unknown hash format "md5". Known format(s) are: sha256'),
    ("sha256:abcd", 'invalid hash "sha256:abcd", expected a 32 byte SHA-256 hash, found 2 bytes'),
    ("sha256:" + "g" * 64, f'invalid hash "sha256:{"g" * 64}", could not decode SHA-256 from hex: '
                           "encoding/hex: invalid byte: U+0067 'g'"),
    ("sha256:" + "a" * 65, f'invalid hash "sha256:{"a" * 65}", could not decode SHA-256 from hex: '
                           "encoding/hex: odd length hex string"),
])
def test_malformed_pins_have_kubeadms_messages(pin, message):
    with pytest.raises(ValueError) as e:
        bt.parse_pins([pin])
    assert str(e.value) == message


def test_pins_match_case_insensitively(tmp_path):
    cert = x509.load_pem_x509_certificate(PKI.create(tmp_path).ca_cert_pem)
    pin = bt.ca_cert_hash(cert)
    bt.check_pinned(bt.parse_pins(["SHA256:" + pin.split(":")[1].upper()]), [cert])
    with pytest.raises(ValueError) as e:
        bt.check_pinned(bt.parse_pins(["sha256:" + "0" * 64]), [cert])
    assert str(e.value) == f'none of the public keys "{pin}" are pinned'
