"""labkit.apiserver.pki: certificates that survive a real TLS handshake, tokens, and kubeconfigs that the
official Python client loads and uses."""

from __future__ import annotations

import base64
import http.server
import ipaddress
import json
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client, config

from labkit.apiserver.authn import UserInfo
from labkit.apiserver.pki import PKI, write_kubeconfig


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    return PKI.create(tmp_path_factory.mktemp("pki"))


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# --- files -------------------------------------------------------------------------------------------------


def test_create_writes_ca_and_serving_certificate(pki):
    d = pki.directory
    for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key"):
        assert (d / name).is_file()
    assert (d / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (d / "apiserver.key").stat().st_mode & 0o777 == 0o600
    ca = _cert(d / "ca.crt")
    assert pki.ca_cert_pem == (d / "ca.crt").read_bytes()
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = _cert(d / "apiserver.crt")
    assert server.issuer == ca.subject
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == [
        "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local"]


def test_client_certificate_subject(pki):
    crt, key = pki.issue_client_cert("alice", user="alice", groups=["dev", "system:masters"])
    assert (crt, key) == (pki.directory / "alice.crt", pki.directory / "alice.key")
    cert = _cert(crt)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "dev", "system:masters"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert key.stat().st_mode & 0o777 == 0o600


def test_tokens_authenticate_at_a_pki_loaded_from_a_copy_of_the_ca_and_sa_key(tmp_path):
    """What a joining control-plane node downloads (ca.*, sa.*) is enough to understand every token."""
    pki = PKI.create(tmp_path / "first")
    token = pki.issue_token(user="bob", groups=["viewers", "ops"], uid="42")
    other = pki.issue_token(user="carol")
    assert token != other
    copy = tmp_path / "joined"
    copy.mkdir()
    for name in ("ca.crt", "ca.key", "sa.key", "sa.pub"):
        shutil.copy(tmp_path / "first" / name, copy / name)
    joined = PKI.load(copy)
    authn = joined.authenticator()
    assert authn.authenticate(peer_cert=None, authorization=f"Bearer {token}") == UserInfo(
        name="bob", uid="42", groups=("viewers", "ops", "system:authenticated"))
    assert authn.authenticate(peer_cert=None, authorization=f"Bearer {other}").name == "carol"
    # and the first member understands the joined one's
    later = joined.issue_token(user="dave")
    assert pki.authenticator().authenticate(peer_cert=None, authorization=f"Bearer {later}").name == "dave"
    assert (tmp_path / "first" / "sa.key").stat().st_mode & 0o777 == 0o600


def test_a_token_is_not_accepted_when_altered_or_signed_by_another_key(tmp_path):
    pki = PKI.create(tmp_path / "a")
    token = pki.issue_token(user="bob")
    header, claims, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"iss":"https://kubernetes.default.svc.cluster.local","sub":"admin",'
                                      b'"groups":["system:masters"]}').rstrip(b"=").decode()
    authn = pki.authenticator()
    assert authn.authenticate(peer_cert=None, authorization=f"Bearer {header}.{forged}.{signature}") is None
    assert authn.authenticate(peer_cert=None, authorization="Bearer not-a-token") is None
    assert PKI.create(tmp_path / "b").authenticator().authenticate(
        peer_cert=None, authorization=f"Bearer {token}") is None


def test_create_again_forgets_old_tokens(tmp_path):
    token = PKI.create(tmp_path).issue_token(user="bob")
    fresh = PKI.create(tmp_path)
    assert fresh.authenticator().authenticate(peer_cert=None, authorization=f"Bearer {token}") is None


# --- a real TLS handshake ----------------------------------------------------------------------------------


class HandshakeFailed(Exception):
    pass


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str) -> bytes | None:
    """Run one handshake on 127.0.0.1; return the client certificate the server got (DER; None: none).
    Raise :class:`HandshakeFailed` if the server refused the connection."""
    seen: dict = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    seen["peer"] = tls.getpeercert(binary_form=True)
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as e:
                seen["error"] = e

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
                assert tls.recv(2) == b"ok"
        except (ssl.SSLError, OSError):
            pass
        thread.join(timeout=10)
    if "error" in seen:
        raise HandshakeFailed(seen["error"])
    return seen["peer"]


def _client_context(pki: PKI, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=pki.ca_cert_pem.decode())
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost", "kubernetes.default.svc"])
def test_handshake_reads_client_identity(pki, hostname):
    cert = pki.issue_client_cert("admin", user="admin", groups=["system:masters"])
    peer = _handshake(pki.server_ssl_context(), _client_context(pki, cert), hostname)
    assert peer and pki.authenticator().authenticate(peer_cert=peer, authorization=None) == UserInfo(
        name="admin", groups=("system:masters", "system:authenticated"))


def test_handshake_without_client_certificate(pki):
    peer = _handshake(pki.server_ssl_context(), _client_context(pki), "127.0.0.1")
    assert peer is None
    assert pki.authenticator().authenticate(peer_cert=peer, authorization=None) is None


def test_certificate_from_another_ca_is_requested_then_refused(pki, tmp_path):
    # Go's tls.RequestClientCert, as kube-apiserver serves: the handshake takes the certificate and the
    # x509 authenticator refuses it (a 401), where OpenSSL alone would drop the connection
    stranger = PKI.create(tmp_path).issue_client_cert("eve", user="admin", groups=["system:masters"])
    peer = _handshake(pki.server_ssl_context(), _client_context(pki, stranger), "127.0.0.1")
    assert peer == x509.load_pem_x509_certificate(stranger[0].read_bytes()).public_bytes(serialization.Encoding.DER)
    assert pki.authenticator(anonymous=True).authenticate(peer_cert=peer, authorization=None) is None


def test_serving_certificate_is_not_a_client_certificate(pki):
    # x509 authentication requires the clientAuth usage (kube's VerifyOptions.KeyUsages)
    server_pair = (pki.directory / "apiserver.crt", pki.directory / "apiserver.key")
    peer = _handshake(pki.server_ssl_context(), _client_context(pki, server_pair), "127.0.0.1")
    assert peer and pki.authenticator().authenticate(peer_cert=peer, authorization=None) is None


# --- kubeconfig + the official Python client ------------------------------------------------------------------

VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "0" * 40, "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"}


@pytest.fixture
def version_server(pki) -> Iterator[tuple[str, list]]:
    """An HTTPS server answering /version/ for authenticated callers; yields its URL and the identities seen."""
    seen: list[UserInfo | None] = []
    authn = pki.authenticator()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            user = authn.authenticate(peer_cert=self.connection.getpeercert(binary_form=True),
                                      authorization=self.headers.get("Authorization"))
            seen.append(user)
            body = json.dumps(VERSION if user else {"kind": "Status", "code": 401}).encode()
            self.send_response(200 if user else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = pki.server_ssl_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _api_client(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


def test_kubeconfig_file_stands_alone(pki, tmp_path):
    crt, key = pki.issue_client_cert("admin", user="admin", groups=["system:masters"])
    path = tmp_path / "kube" / "config"
    write_kubeconfig(path, server="https://127.0.0.1:6443", ca_pem=pki.ca_cert_pem, client_cert=crt,
                     client_key=key)
    assert path.stat().st_mode & 0o777 == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == "labkit"
    assert doc["contexts"] == [{"name": "labkit", "context": {"cluster": "labkit", "user": "admin"}}]
    user = doc["users"][0]["user"]
    assert set(user) == {"client-certificate-data", "client-key-data"}
    assert "certificate-authority-data" in doc["clusters"][0]["cluster"]
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == "https://127.0.0.1:6443"
    assert Path(configuration.ssl_ca_cert).read_bytes() == pki.ca_cert_pem
    assert Path(configuration.cert_file).read_bytes() == crt.read_bytes()


def test_python_client_with_client_certificate(pki, tmp_path, version_server):
    url, seen = version_server
    crt, key = pki.issue_client_cert("student", user="student", groups=["learners"])
    path = tmp_path / "config"
    write_kubeconfig(path, server=url, ca_pem=pki.ca_cert_pem, user="student", client_cert=crt, client_key=key)
    info = client.VersionApi(_api_client(path)).get_code()
    assert info.git_version == "v1.33.0"
    assert seen == [UserInfo(name="student", groups=("learners", "system:authenticated"))]


def test_python_client_with_token(pki, tmp_path, version_server):
    url, seen = version_server
    token = pki.issue_token(user="bob", groups=["viewers"])
    path = tmp_path / "config"
    write_kubeconfig(path, server=url, ca_pem=pki.ca_cert_pem, user="bob", token=token)
    assert client.VersionApi(_api_client(path)).get_code().minor == "33"
    assert seen == [UserInfo(name="bob", groups=("viewers", "system:authenticated"))]


def test_python_client_with_unknown_token_gets_401(pki, tmp_path, version_server):
    url, seen = version_server
    path = tmp_path / "config"
    write_kubeconfig(path, server=url, ca_pem=pki.ca_cert_pem, token="not-a-token")
    with pytest.raises(client.ApiException) as err:
        client.VersionApi(_api_client(path)).get_code()
    assert err.value.status == 401 and seen == [None]


def test_kubeconfig_needs_cert_and_key_together(pki, tmp_path):
    crt, _ = pki.issue_client_cert("x", user="x")
    with pytest.raises(ValueError):
        write_kubeconfig(tmp_path / "c", server="https://127.0.0.1:1", ca_pem=pki.ca_cert_pem, client_cert=crt)
