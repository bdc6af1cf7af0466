"""The certificates every control-plane node shares, carried from ``init`` to ``join --control-plane``.

Mirrors ``cmd/kubeadm/app/phases/copycerts`` and ``util/crypto``: ``kubeadm init --upload-certs``
encrypts each shared CA and key file with a certificate key (32 random bytes, given as 64 hex
characters) by AES-256-GCM, the 12-byte nonce first (Go's ``gcm.Seal(nonce, nonce, data, nil)``),
and stores them in the Secret ``kube-system/kubeadm-certs``, named as the files are with ``/``
made ``-`` (``etcd/ca.crt`` is ``etcd-ca.crt``). A file that is not there is stored empty, as
kubeadm does for an external etcd's: labkit has no front-proxy CA, so those two are empty; the
service-account key pair travels, so every member understands the others' tokens. The Secret is
owned by a bootstrap token of its own that expires in two hours, so the garbage collector deletes
it then. The Role and RoleBinding
``kubeadm:kubeadm-certs`` let the bootstrap tokens' group get it. ``kubeadm join --control-plane
--certificate-key`` downloads and decrypts them, refusing every file when one does not decrypt.

Left out: an external etcd's client certificate, and ``kubeadm init phase upload-certs`` run again
on a live cluster.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from labkit import bootstrap
from labkit.apimachinery import bootstraptoken as bt
from labkit.apimachinery.meta import Obj
from labkit.client import APIStatusError, Client, resource_path

SECRET = "kubeadm-certs"  # kubeadm's constants.KubeadmCertsSecret
ROLE = "kubeadm:kubeadm-certs"  # constants.KubeadmCertsClusterRoleName
CERTIFICATE_KEY_SIZE = 32  # constants.CertificateKeySize
TOKEN_TTL = dt.timedelta(hours=2)  # constants.DefaultCertTokenDuration
TOKEN_DESCRIPTION = "Proxy for managing TTL for the kubeadm-certs secret"
#: certsToTransfer for a stacked etcd, as paths under the certificates directory
SHARED_FILES = ("ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key",
                "etcd/ca.crt", "etcd/ca.key")
_NONCE_SIZE = 12  # Go's cipher.NewGCM default


class CopyCertsError(Exception):
    """The shared certificates could not be downloaded; the message is kubeadm's."""


def create_certificate_key() -> str:
    """``CreateCertificateKey``: 32 random bytes as hex."""
    return secrets.token_hex(CERTIFICATE_KEY_SIZE)


def _decode_key(key: str) -> bytes:
    """``hex.DecodeString`` with Go's error texts (those of :mod:`labkit.apimachinery.bootstraptoken`)."""
    bad = next((c for c in key if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise ValueError(f"error decoding certificate key: {bt.go_invalid_byte(ord(bad))}")
    if len(key) % 2:
        raise ValueError("error decoding certificate key: encoding/hex: odd length hex string")
    return binascii.unhexlify(key)


def _aes(key: bytes) -> AESGCM:
    if len(key) not in (16, 24, 32):
        raise ValueError(f"crypto/aes: invalid key size {len(key)}")
    return AESGCM(key)


def encrypt_bytes(data: bytes, key: bytes) -> bytes:
    """``EncryptBytes``: a random nonce, then the AES-GCM sealed data and tag."""
    nonce = os.urandom(_NONCE_SIZE)
    return nonce + _aes(key).encrypt(nonce, data, None)


def decrypt_bytes(data: bytes, key: bytes) -> bytes:
    """``DecryptBytes``; ValueError with Go's text when the key or the data is wrong."""
    aes = _aes(key)
    if len(data) < _NONCE_SIZE:
        raise ValueError("size of data is less than the nonce")
    try:
        return aes.decrypt(data[:_NONCE_SIZE], data[_NONCE_SIZE:], None)
    except InvalidTag:
        raise ValueError("cipher: message authentication failed") from None


def secret_key(path: str) -> str:
    """``certOrKeyNameToSecretName``: ``etcd/ca.crt`` is stored as ``etcd-ca.crt``."""
    return path.replace("/", "-")


async def upload_certs(client: Client, certs_dir: Path, key: str) -> None:
    """``UploadCerts``: the shared files of ``certs_dir``, encrypted with ``key``, in ``kube-system/kubeadm-certs``
    owned by a new two-hour token's Secret, and the RBAC that lets the bootstrap tokens' group read it."""
    raw_key = _decode_key(key)
    token = await bootstrap.create_token(client, ttl=TOKEN_TTL, description=TOKEN_DESCRIPTION)
    token_secret = await client.get(resource_path("v1", "secrets", namespace="kube-system",
                                                  name=bt.secret_name(bt.parse_token(token)[0])))
    data = {}
    for name in SHARED_FILES:
        path = certs_dir / name
        data[secret_key(name)] = (base64.b64encode(encrypt_bytes(path.read_bytes(), raw_key)).decode()
                                  if path.exists() else "")
    owner = {"apiVersion": "v1", "kind": "Secret", "name": token_secret["metadata"]["name"],
             "uid": token_secret["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    await bootstrap.create_or_update(client, resource_path("v1", "secrets", namespace="kube-system"), {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": SECRET, "namespace": "kube-system", "ownerReferences": [owner]}, "data": data})
    await bootstrap.grant_get(client, "kube-system", ROLE, "secrets", SECRET,
                              {"kind": "Group", "name": bt.KUBEADM_NODE_GROUP})


async def download_certs(client: Client, key: str, certs_dir: Path) -> list[str]:
    """``DownloadCerts``: decrypt ``kubeadm-certs`` with ``key`` and write each non-empty file under
    ``certs_dir`` (keys 0600); returns the files written. Raises CopyCertsError with kubeadm's message."""
    try:
        raw_key = _decode_key(key)
    except ValueError as e:
        raise CopyCertsError(f"error downloading certs: {e}") from None
    try:
        secret: Obj = await client.get(resource_path("v1", "secrets", namespace="kube-system", name=SECRET))
    except APIStatusError as e:
        why = (f'Secret "{SECRET}" was not found in the "kube-system" Namespace. This Secret might have expired. '
               "Please, run `kubeadm init phase upload-certs --upload-certs` on a control plane to generate a new "
               "one (labkit has no such command: only a new cluster's `labkit init --upload-certs` makes the Secret)"
               if e.code == 404
               else e.status.get("message", str(e)))
        raise CopyCertsError(f"error downloading certs: error downloading the secret: {why}") from None
    files: dict[str, bytes] = {}
    try:
        for name, value in (secret.get("data") or {}).items():
            files[name] = decrypt_bytes(base64.b64decode(value), raw_key) if value else b""
    except ValueError as e:  # one that fails: no partial result
        raise CopyCertsError(f"error downloading certs: error decoding secret data with provided key: {e}") from None
    written = []
    for name in SHARED_FILES:
        if secret_key(name) not in files:
            raise CopyCertsError(f"error downloading certs: the Secret does not include the required certificate "
                                 f"or key - name: {name}, path: {certs_dir / name}")
        content = files[secret_key(name)]
        if not content:
            continue
        path = certs_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(0o600 if name.endswith(".key") else 0o644)
        written.append(name)
    return written
