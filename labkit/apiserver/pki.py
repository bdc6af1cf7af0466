"""The cluster's certificates, bearer tokens and kubeconfig files.

Mirrors what ``kubeadm init`` leaves under ``/etc/kubernetes/pki`` (``cmd/kubeadm/app/phases/certs``):
a self-signed cluster CA (``ca.crt``/``ca.key``), the API server's serving certificate
(``apiserver.crt``/``.key``, valid for the given hosts and the ``kubernetes.default.svc...`` names) and
client certificates whose subject names the user (CN) and groups (O), e.g. ``O=system:masters`` for
an admin. Bearer tokens are JWTs signed with the service-account key pair (``sa.key``/``sa.pub``,
:mod:`labkit.apiserver.satoken`), so a PKI loaded from a copy of the CA and that key pair, as a
joining control-plane node downloads them, understands every token the others issued. Kubeconfigs
embed everything as ``*-data`` fields (``clientcmd/api/v1``), so one file is all a client needs.

:class:`EtcdPKI` is kubeadm's second tree, ``pki/etcd/``: etcd's own CA, its server and peer
certificates, the health-check client's, and the API server's ``apiserver-etcd-client`` (used when the
cluster's store is a real etcd).

Keys are ECDSA P-256 (fast to generate; Go's crypto/tls, OpenSSL and urllib3 all accept them).
Left out: the front-proxy CA, kubelet serving
certificates, certificate rotation and the CertificateSigningRequest API.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labkit.apiserver import satoken
from labkit.apiserver.authn import Authenticator, TokenAuthenticator
from labkit.apiserver.requestclientcert import request_client_cert

#: DNS names every kube-apiserver serving certificate carries (kubeadm's ``GetAPIServerAltNames``)
SERVICE_DNS_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                     "kubernetes.default.svc.cluster.local")
CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "apiserver.crt", "apiserver.key"
SA_KEY, SA_PUB = "sa.key", "sa.pub"
_VALIDITY = dt.timedelta(days=3650)  # a course cluster should never see an expired certificate
_BACKDATE = dt.timedelta(hours=1)  # tolerate clock skew, as kubeadm does


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (also when the file already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _new_ca(directory: Path, cert_name: str, key_name: str, *, common_name: str) -> tuple[x509.Certificate,
                                                                                          ec.EllipticCurvePrivateKey]:
    """A self-signed CA (kubeadm's ``pkiutil.NewCertificateAuthority``), written to ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    (directory / cert_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(directory / key_name, _key_pem(key))
    return cert, key


def _load_key(key_path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} is not an ECDSA key")
    return key


def _load_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return x509.load_pem_x509_certificate(cert_path.read_bytes()), _load_key(key_path)


def _sign_leaf(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cert_path: Path, key_path: Path, *,
               common_name: str, organizations: Sequence[str] = (), usages: Sequence[x509.ObjectIdentifier],
               alt_names: Sequence[x509.GeneralName] = (), key_encipherment: bool = False) -> tuple[Path, Path]:
    """Sign a new leaf certificate for ``usages`` (server and/or client auth); write it and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=key_encipherment,
                                     data_encipherment=False, key_agreement=False, encipher_only=False,
                                     decipher_only=False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(alt_names)), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))
    return cert_path, key_path


def _subject_alt_names(hosts: Sequence[str], *, service_names: bool = True) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, *(SERVICE_DNS_NAMES if service_names else ())]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


class PKI:
    """A CA plus what it signed, kept in one directory. Build with :meth:`create` or :meth:`load`."""

    def __init__(self, directory: Path, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                 sa_key: ec.EllipticCurvePrivateKey) -> None:
        self.directory = directory
        self._ca_cert = ca_cert
        self._ca_key = ca_key
        self._sa_key = sa_key
        self.ca_cert_pem: bytes = ca_cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def create(cls, directory: Path, *, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> PKI:
        """A new CA, service-account key pair and serving certificate in ``directory`` (files there are
        replaced, so tokens of an earlier PKI there no longer authenticate)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = _new_ca(directory, CA_CERT, CA_KEY, common_name="kubernetes")
        sa_key = ec.generate_private_key(ec.SECP256R1())  # kubeadm's certs.CreateServiceAccountKeyAndPublicKeyFiles
        _write_private(directory / SA_KEY, _key_pem(sa_key))
        (directory / SA_PUB).write_bytes(sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        pki = cls(directory, cert, key, sa_key)
        pki.issue_serving_cert(hosts)
        return pki

    @classmethod
    def load(cls, directory: Path) -> PKI:
        """The PKI :meth:`create` wrote to ``directory`` (or a copy of its CA and service-account key)."""
        directory = Path(directory)
        cert, key = _load_ca(directory / CA_CERT, directory / CA_KEY)
        return cls(directory, cert, key, _load_key(directory / SA_KEY))

    def issue_serving_cert(self, hosts: Sequence[str]) -> None:
        """(Re)write the API server's serving certificate for ``hosts`` and the service names: what a
        node joining the control plane makes with the CA it downloaded."""
        self._issue(SERVER_CERT, SERVER_KEY, common_name="kube-apiserver", organizations=(),
                    usage=ExtendedKeyUsageOID.SERVER_AUTH, alt_names=_subject_alt_names(hosts))

    def _issue(self, cert_name: str, key_name: str, *, common_name: str, organizations: Sequence[str],
               usage: x509.ObjectIdentifier, alt_names: Sequence[x509.GeneralName] = ()) -> tuple[Path, Path]:
        """Sign a new leaf certificate for one usage (server or client auth) and write it with its key."""
        return _sign_leaf(self._ca_cert, self._ca_key, self.directory / cert_name, self.directory / key_name,
                          common_name=common_name, organizations=organizations, usages=(usage,), alt_names=alt_names)

    def server_ssl_context(self) -> ssl.SSLContext:
        """TLS for the API server: its serving certificate, and a client certificate requested, not
        required (bearer-token clients send none), and left to :meth:`authenticator` to verify against
        the CA (:func:`~labkit.apiserver.requestclientcert.request_client_cert`)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.directory / SERVER_CERT, self.directory / SERVER_KEY)
        context.load_verify_locations(cadata=self.ca_cert_pem.decode())
        context.verify_mode = ssl.CERT_OPTIONAL
        request_client_cert(context)
        # kubectl offers h2 too; answer HTTP/1.1 explicitly (upgrades for exec/port-forward need it)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def issue_client_cert(self, name: str, *, user: str, groups: Sequence[str] = ()) -> tuple[Path, Path]:
        """Write ``<name>.crt``/``<name>.key`` for ``CN=user`` and one ``O`` per group (``name`` with any
        character but letters, digits, ``-`` and ``.`` made ``-``, e.g. ``system:node:n1``); return their paths."""
        safe = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in name)
        return self._issue(f"{safe}.crt", f"{safe}.key", common_name=user, organizations=groups,
                           usage=ExtendedKeyUsageOID.CLIENT_AUTH)

    def issue_token(self, *, user: str, groups: Sequence[str] = (), uid: str = "") -> str:
        """A bearer token for that identity, signed with ``sa.key``."""
        return satoken.issue(self._sa_key, user=user, uid=uid, groups=groups)

    def authenticator(self, *, token_authenticators: Sequence[TokenAuthenticator] = (),
                      anonymous: bool = False) -> Authenticator:
        """Authenticates this CA's client certificates and the tokens ``sa.key`` signed (whichever
        member issued them), then bearer tokens with ``token_authenticators``, and no credentials as
        anonymous if asked."""
        return Authenticator(tokens={}, token_authenticators=[satoken.JWTAuthenticator(self._sa_key.public_key()),
                                                              *token_authenticators], anonymous=anonymous,
                             client_ca=self._ca_cert)


@dataclasses.dataclass(frozen=True)
class EtcdPKI:
    """etcd's own CA and certificates, as ``kubeadm init`` writes them (``phases/certs``, the
    ``etcd-ca`` tree): ``pki/etcd/ca.crt`` (CN ``etcd-ca``); ``pki/etcd/server.crt`` and
    ``pki/etcd/peer.crt`` (CN the member's node name, valid for server *and* client auth, for
    ``localhost``, ``127.0.0.1``, ``::1`` and the node name); ``pki/etcd/healthcheck-client.crt``
    (CN ``kube-etcd-healthcheck-client``, what the liveness probe and an admin's ``etcdctl`` use); and
    ``pki/apiserver-etcd-client.crt`` (CN ``kube-apiserver-etcd-client``, the API server's). etcd
    runs with ``--client-cert-auth``: without a certificate this CA signed, nobody reads its keys.
    """

    directory: Path  # the cluster's pki/ (the etcd files are in pki/etcd/, the API server's client in pki/)
    node_name: str

    @property
    def etcd_dir(self) -> Path:
        return self.directory / "etcd"

    @property
    def ca_cert(self) -> Path:
        return self.etcd_dir / "ca.crt"

    def pair(self, name: str) -> tuple[Path, Path]:
        """``(cert, key)`` of ``server``, ``peer``, ``healthcheck-client`` or ``apiserver-etcd-client``."""
        base = self.directory if name == "apiserver-etcd-client" else self.etcd_dir
        return base / f"{name}.crt", base / f"{name}.key"

    @classmethod
    def create(cls, directory: Path, *, node_name: str) -> EtcdPKI:
        """Write the etcd CA and its four leaf certificates under ``directory`` (files there are replaced)."""
        pki = cls(Path(directory), node_name)
        pki.etcd_dir.mkdir(parents=True, exist_ok=True)
        pki._issue_leaves(*_new_ca(pki.etcd_dir, "ca.crt", "ca.key", common_name="etcd-ca"))
        return pki

    @classmethod
    def with_ca(cls, directory: Path, *, node_name: str) -> EtcdPKI:
        """The two client certificates (``healthcheck-client``, ``apiserver-etcd-client``) signed by the
        etcd CA already in ``directory/etcd/``, as ``kubeadm join --control-plane`` makes them with the CA
        it downloaded; the member's own server and peer certificates come from :meth:`issue_member`."""
        pki = cls(Path(directory), node_name)
        pki._issue_leaves(*_load_ca(pki.ca_cert, pki.etcd_dir / "ca.key"), only=("healthcheck-client",
                                                                                 "apiserver-etcd-client"))
        return pki

    def _issue_leaves(self, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, *,
                      only: Sequence[str] = ("server", "peer", "healthcheck-client", "apiserver-etcd-client")) -> None:
        node_name = self.node_name
        hosts = _subject_alt_names(["localhost", node_name, "127.0.0.1", "::1"], service_names=False)
        both = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
        client = (ExtendedKeyUsageOID.CLIENT_AUTH,)
        for name, common_name, usages, alt_names in (
            ("server", node_name, both, hosts),
            ("peer", node_name, both, hosts),
            ("healthcheck-client", "kube-etcd-healthcheck-client", client, []),
            ("apiserver-etcd-client", "kube-apiserver-etcd-client", client, []),
        ):
            if name not in only:
                continue
            cert_path, key_path = self.pair(name)
            _sign_leaf(ca_cert, ca_key, cert_path, key_path, common_name=common_name, usages=usages,
                       alt_names=alt_names, key_encipherment=True)

    def issue_member(self, node_name: str) -> tuple[Path, Path, Path, Path]:
        """``(server cert, server key, peer cert, peer key)`` for one more control-plane node's member,
        signed by the same etcd CA, CN its node name (what ``kubeadm join --control-plane`` makes on the
        joining node; here under ``pki/etcd/<node>/``)."""
        directory = self.etcd_dir / node_name
        directory.mkdir(exist_ok=True)
        ca_cert, ca_key = _load_ca(self.ca_cert, self.etcd_dir / "ca.key")
        hosts = _subject_alt_names(["localhost", node_name, "127.0.0.1", "::1"], service_names=False)
        both = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
        paths: list[Path] = []
        for name in ("server", "peer"):
            paths += _sign_leaf(ca_cert, ca_key, directory / f"{name}.crt", directory / f"{name}.key",
                                common_name=node_name, usages=both, alt_names=hosts, key_encipherment=True)
        return paths[0], paths[1], paths[2], paths[3]

    def etcdctl_flags(self, client: str = "healthcheck-client") -> list[str]:
        """The TLS flags of an ``etcdctl`` that authenticates with one of these client certificates."""
        cert, key = self.pair(client)
        return [f"--cacert={self.ca_cert}", f"--cert={cert}", f"--key={key}"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(path: Path, *, server: str, ca_pem: bytes, user: str = "admin",
                     client_cert: Path | None = None, client_key: Path | None = None, token: str | None = None,
                     cluster: str = "labkit", context: str = "labkit") -> None:
    """Write a self-contained kubeconfig (mode 0600) for one cluster, user and context.

    The user authenticates with a client certificate (``client_cert`` and ``client_key``), a bearer
    ``token``, or both; the CA and the certificate are embedded as ``*-data``.
    """
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together")
    credentials: dict[str, str] = {}
    if client_cert is not None and client_key is not None:
        credentials["client-certificate-data"] = _b64(Path(client_cert).read_bytes())
        credentials["client-key-data"] = _b64(Path(client_key).read_bytes())
    if token is not None:
        credentials["token"] = token
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
