"""Ask TLS clients for a certificate without letting the handshake judge it: Go's ``tls.RequestClientCert``.

kube-apiserver's secure serving (``k8s.io/apiserver/pkg/server/secure_serving.go``) sets
``ClientAuth = tls.RequestClientCert`` whenever it has a client CA: the handshake takes whatever
certificate a client offers, and the x509 authenticator verifies it against the CA afterwards. So a
certificate signed by another cluster's CA gets an HTTP 401 ``Unauthorized`` Status (``kubectl``:
"You must be logged in to the server"), not a broken connection.

Python's ``ssl`` has no such mode: ``CERT_OPTIONAL`` verifies an offered certificate during the handshake
and drops the connection when it fails (``kubectl`` then retries for 40 s and prints ``EOF``). On
CPython with the OpenSSL its ``_ssl`` module links, :func:`request_client_cert` installs OpenSSL's
verify callback on the context (``SSL_CTX_set_verify``) answering "accept" for every certificate; the
handshake still checks that the client holds the certificate's key (TLS ``CertificateVerify``).
Every certificate is then unverified as far as the TLS layer goes: ``getpeercert()`` decodes it all
the same, and :class:`labkit.apiserver.authn.Authenticator` verifies its DER bytes against the CA.

Where the callback cannot be installed (another Python, another layout), the context stays as it was:
OpenSSL verifies at the handshake and a foreign certificate ends the connection; both ways it never
authenticates.
"""

from __future__ import annotations

import ctypes
import ssl
import sys

_SSL_VERIFY_PEER = 1
_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept(preverify_ok: int, store_ctx: int | None) -> int:
    return 1


_ACCEPT = _VerifyCallback(_accept)  # kept alive as long as the module: OpenSSL holds a pointer to it


def _libssl() -> ctypes.CDLL | None:
    """OpenSSL as ``_ssl`` links it (dlsym on the module searches its dependencies too)."""
    if sys.implementation.name != "cpython":
        return None
    try:
        import _ssl

        lib = ctypes.CDLL(_ssl.__file__)
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    except (ImportError, OSError, AttributeError):
        return None
    return lib


_LIB = _libssl()


def request_client_cert(context: ssl.SSLContext) -> bool:
    """Make the server ``context`` (``CERT_OPTIONAL``) request a client certificate and accept any, as Go's
    ``tls.RequestClientCert``; False (and ``context`` unchanged) where that is not possible here."""
    if _LIB is None or context.verify_mode != ssl.CERT_OPTIONAL:
        return False
    # CPython's SSLContext object: its PyObject header, then the SSL_CTX pointer
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    # the pointer is the context's own only if OpenSSL reads back what Python set on it
    if (not pointer or _LIB.SSL_CTX_get_verify_mode(pointer) != _SSL_VERIFY_PEER
            or _LIB.SSL_CTX_get_options(pointer) != context.options):
        return False
    _LIB.SSL_CTX_set_verify(pointer, _SSL_VERIFY_PEER, _ACCEPT)
    return True
