"""kubeadm's bootstrap-token flow, both ends: what ``kubeadm init`` publishes, ``kubeadm token create``,
the join command it prints, and ``kubeadm join``'s token discovery.

Mirrors ``cmd/kubeadm/app``:

- ``phases/bootstraptoken/clusterinfo``: :func:`upload_cluster_info` writes ``kube-public/cluster-info``
  whose ``kubeconfig`` names only the cluster (server and CA, under the cluster name ``""``, the YAML
  ``clientcmd.Write`` makes), and the Role and RoleBinding ``kubeadm:bootstrap-signer-clusterinfo``
  that let ``system:anonymous`` get that one ConfigMap; each is created, or updated when it exists.
- ``phases/bootstraptoken/node`` and ``apis/bootstraptoken/v1``: :func:`create_token` writes the
  token's Secret (24 h, both usages, kubeadm's node group by default).
- ``util/join.go``: :func:`join_command`, one ``--discovery-token-ca-cert-hash`` per CA certificate,
  on one line (kubeadm breaks it with ``\\``), naming ``labkit join``.
- ``apis/kubeadm/validation``: :func:`validate_discovery` refuses token discovery without a CA pin
  unless told to skip the check (``--discovery-token-unsafe-skip-ca-verification``).
- ``discovery/token/token.go``: :func:`discover` parses the pins, then fetches ``cluster-info``
  anonymously without checking the server's certificate, retrying every 5 s
  (``DiscoveryRetryInterval``) until the signature of the token's id is there or ``timeout`` has
  passed (an answer that is not JSON counts as a failed request); checks that signature with the
  token secret, reads the kubeconfig, checks the CA's public key against the pins, then fetches
  ``cluster-info`` again trusting that CA and requires the same kubeconfig. Errors are
  :class:`JoinError` with kubeadm's messages.

Requests go out on :class:`labkit.transport.Pool` (a :class:`labkit.client.Client` always carries
an identity and checks the server's certificate; discovery needs neither). Left out: dry runs,
discovery from a file or URL, the messages of kubeadm's ``GetClusterFromKubeConfig`` (a kubeconfig
without a cluster is reported as one that cannot be parsed), and Go's wording of network errors
(Python's is given).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import ssl
from collections.abc import Sequence

import yaml
from cryptography import x509

from labkit import codec, transport
from labkit.apimachinery import bootstraptoken as bt
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import now_utc
from labkit.client import APIStatusError, Client, resource_path

#: kubeadm's Role and RoleBinding that expose cluster-info to anonymous users
CLUSTER_INFO_ROLE = "kubeadm:bootstrap-signer-clusterinfo"
PUBLIC = "kube-public"
DISCOVERY_RETRY_INTERVAL = 5.0  # kubeadm's constants.DiscoveryRetryInterval
DISCOVERY_TIMEOUT = 300.0  # kubeadm's default timeouts.discovery
DEFAULT_TTL = dt.timedelta(hours=24)  # kubeadm's constants.DefaultTokenDuration
USER_AGENT = "labkit-join"
NO_CA_HASHES = ('discovery.bootstrapToken.caCertHashes: Invalid value: "": using token-based discovery without '
                "caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or "
                "pass --discovery-token-unsafe-skip-ca-verification flag to continue")
CLUSTER_INFO_PATH = resource_path("v1", "configmaps", namespace=PUBLIC, name=bt.CLUSTER_INFO)


class JoinError(Exception):
    """Discovery failed; the message is kubeadm's."""


@dataclasses.dataclass(frozen=True)
class DiscoveryResult:
    """What token discovery learned and now trusts: the API server named in ``cluster-info`` and the CA."""

    server: str
    ca_pem: bytes
    kubeconfig: str  # cluster-info's kubeconfig, as published


# --- kubeadm init / kubeadm token create -------------------------------------------------------------


def cluster_info_kubeconfig(server: str, ca_pem: bytes) -> str:
    """The ``kubeconfig`` of cluster-info, as ``clientcmd.Write`` writes a config with one cluster named ""."""
    return ("apiVersion: v1\nclusters:\n- cluster:\n"
            f"    certificate-authority-data: {base64.b64encode(ca_pem).decode()}\n"
            f"    server: {server}\n"
            '  name: ""\ncontexts: null\ncurrent-context: ""\nkind: Config\npreferences: {}\nusers: null\n')


async def create_or_update(client: Client, path: str, obj: Obj) -> None:
    """``apiclient.CreateOrUpdate*``: create, and on AlreadyExists replace what is there."""
    try:
        await client.create(path, obj)
    except APIStatusError as e:
        if e.code != 409:
            raise
        await client.update(f"{path}/{obj['metadata']['name']}", obj)


async def grant_get(client: Client, namespace: str, name: str, resource: str, resource_name: str,
                    *subjects: Obj) -> None:
    """A Role ``name`` that may get one object (``resource``/``resource_name``) and a RoleBinding of the
    same name granting it to ``subjects`` (``{"kind": "User"|"Group", "name": ...}``), as kubeadm's
    ``CreateOrUpdateRole`` and ``CreateOrUpdateRoleBinding`` calls make them."""
    rbac = "rbac.authorization.k8s.io/v1"
    meta = {"name": name, "namespace": namespace}
    await create_or_update(client, resource_path(rbac, "roles", namespace=namespace), {
        "apiVersion": rbac, "kind": "Role", "metadata": meta,
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": [resource], "resourceNames": [resource_name]}]})
    await create_or_update(client, resource_path(rbac, "rolebindings", namespace=namespace), {
        "apiVersion": rbac, "kind": "RoleBinding", "metadata": dict(meta),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", **s} for s in subjects]})


async def upload_cluster_info(client: Client, server: str, ca_pem: bytes) -> None:
    """Publish ``kube-public/cluster-info`` for ``server`` and ``ca_pem``, readable anonymously
    (``CreateBootstrapConfigMapIfNotExists`` and ``CreateClusterInfoRBACRules``)."""
    meta = {"name": bt.CLUSTER_INFO, "namespace": PUBLIC}
    await create_or_update(client, resource_path("v1", "configmaps", namespace=PUBLIC), {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
        "data": {bt.KUBECONFIG_KEY: cluster_info_kubeconfig(server, ca_pem)}})
    await grant_get(client, PUBLIC, CLUSTER_INFO_ROLE, "configmaps", bt.CLUSTER_INFO,
                    {"kind": "User", "name": "system:anonymous"})


async def create_token(client: Client, *, ttl: dt.timedelta | None = DEFAULT_TTL,
                       description: str = "",
                       usages: Sequence[str] = ("signing", "authentication"),
                       groups: Sequence[str] = (bt.KUBEADM_NODE_GROUP,)) -> str:
    """Create a new random token's Secret in kube-system and return the token (``kubeadm token
    create``); a ``ttl`` of None or zero never expires."""
    token = bt.generate_token()
    await client.create(resource_path("v1", "secrets", namespace="kube-system"),
                        bt.token_secret(token, now=now_utc(), ttl=ttl, description=description, usages=usages,
                                        groups=groups))
    return token


def _ca_certs(ca_pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(ca_pem)


def _host_port(endpoint: str) -> str:
    """``HOST:PORT`` of an endpoint given with or without ``https://`` (kubeadm strips it from the server)."""
    return endpoint.removeprefix("https://").rstrip("/")


def join_command(endpoint: str, token: str, ca_pem: bytes, control_plane: bool = False,
                 certificate_key: str | None = None) -> str:
    """``labkit join HOST:PORT --token <t> --discovery-token-ca-cert-hash sha256:<hex>`` (one hash per
    CA certificate), with ``--control-plane [--certificate-key <key>]`` for a control-plane node."""
    parts = ["labkit join", _host_port(endpoint), "--token", token]
    for cert in _ca_certs(ca_pem):
        parts += ["--discovery-token-ca-cert-hash", bt.ca_cert_hash(cert)]
    if control_plane:
        parts.append("--control-plane")
        if certificate_key:
            parts += ["--certificate-key", certificate_key]
    return " ".join(parts)


# --- kubeadm join: token discovery --------------------------------------------------------------------


def _insecure_tls() -> ssl.SSLContext:
    """``InsecureSkipTLSVerify``: any certificate, any name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _get_cluster_info(server: str, tls: ssl.SSLContext) -> Obj:
    """One anonymous GET of cluster-info; raises OSError, APIStatusError or ValueError (not an API server's answer)."""
    pool = transport.Pool(server, tls, limit=1)
    try:
        status, payload = await pool.request(
            "GET", CLUSTER_INFO_PATH, headers=f"User-Agent: {USER_AGENT}\r\nAccept: application/json\r\n".encode())
    finally:
        await pool.close()
    try:
        obj = codec.loads(payload) if payload else {}
    except ValueError:
        obj = None
    if not isinstance(obj, dict):  # not an API server's answer (a proxy's error page, another server)
        raise ValueError(f"the answer (HTTP {status}) is not a JSON object")
    if status >= 300:
        raise APIStatusError(status, obj)
    return obj


async def _poll_cluster_info(server: str, tls: ssl.SSLContext, token_id: str, interval: float,
                             timeout: float) -> Obj:
    """``getClusterInfo``: ask until cluster-info carries ``jws-kubeconfig-<id>``, at most ``timeout``
    seconds, every ``interval``; JoinError with the last failure's message when time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                cm = await _get_cluster_info(server, tls)
        except APIStatusError as e:
            last = f"failed to request the cluster-info ConfigMap: {e.status.get('message', '')}"
        except (OSError, TimeoutError, ValueError) as e:  # ssl.SSLError is an OSError
            last = f"failed to request the cluster-info ConfigMap: {e or type(e).__name__}"
        else:
            if bt.JWS_PREFIX + token_id in (cm.get("data") or {}):
                return cm
            last = f'could not find a JWS signature in the cluster-info ConfigMap for token ID "{token_id}"'
        if loop.time() + interval > deadline:
            raise JoinError(last)
        await asyncio.sleep(interval)


def _verified_kubeconfig(cm: Obj, token_id: str, token_secret: str) -> str:
    """``validateClusterInfoToken``: the kubeconfig, once its signature by this token checks out."""
    data = cm.get("data") or {}
    content = data.get(bt.KUBECONFIG_KEY)
    if not content:
        raise JoinError(f"there is no {bt.KUBECONFIG_KEY} key in the {bt.CLUSTER_INFO} ConfigMap. This API Server "
                        "isn't set up for token bootstrapping, can't connect")
    signature = data.get(bt.JWS_PREFIX + token_id)
    if not signature:
        raise JoinError(f'token id "{token_id}" is invalid for this cluster or it has expired. Use "kubeadm token '
                        'create" on the control-plane node to create a new valid token')
    if not bt.detached_signature_valid(signature, content, token_id, token_secret):
        raise JoinError("failed to verify JWS signature of received cluster info object, can't trust this API Server")
    return str(content)


def _cluster_of(kubeconfig: str) -> Obj:
    """The (last) cluster of a kubeconfig, as ``validateClusterCA`` reads it."""
    try:
        config = yaml.safe_load(kubeconfig)
        cluster = [c["cluster"] for c in config["clusters"]][-1]
        if not isinstance(cluster, dict):
            raise TypeError("a cluster is not a mapping")
        return cluster
    except (yaml.YAMLError, LookupError, TypeError) as e:
        raise JoinError(f"couldn't parse the kubeconfig file in the {bt.CLUSTER_INFO} ConfigMap: {e}") from None


def _ca_of(cluster: Obj) -> tuple[bytes, list[x509.Certificate]]:
    """The cluster's CA bundle and its certificates."""
    try:
        ca_pem = base64.b64decode(cluster.get("certificate-authority-data") or "", validate=True)
        return ca_pem, _ca_certs(ca_pem)
    except ValueError as e:
        raise JoinError(f"failed to parse cluster CA from the {bt.CLUSTER_INFO} ConfigMap: {e}") from None


def validate_discovery(ca_hashes: list[str], unsafe_skip_ca_verification: bool) -> None:
    """``ValidateDiscoveryBootstrapToken``'s CA check: JoinError without a pin, unless skipping it is asked."""
    if not ca_hashes and not unsafe_skip_ca_verification:
        raise JoinError(NO_CA_HASHES)


async def discover(endpoint: str, token: str, ca_hashes: list[str], timeout: float, *,
                   unsafe_skip_ca_verification: bool = False,
                   interval: float = DISCOVERY_RETRY_INTERVAL) -> DiscoveryResult:
    """kubeadm's token discovery against ``endpoint`` (``HOST:PORT``) with ``token``, trusting the CA
    whose public key is one of ``ca_hashes`` (``sha256:<hex>``; none only with
    ``unsafe_skip_ca_verification``: any CA). Raises JoinError, for bad arguments before any request."""
    validate_discovery(ca_hashes, unsafe_skip_ca_verification)
    try:
        token_id, token_secret = bt.parse_token(token)
    except ValueError as e:
        raise JoinError(f"could not construct token string for token: {token}: {e}") from None
    try:
        pins = bt.parse_pins(ca_hashes)
    except ValueError as e:
        raise JoinError(f"invalid discovery token CA certificate hash: {e}") from None
    server = f"https://{_host_port(endpoint)}"
    interval = min(interval, timeout)
    insecure = await _poll_cluster_info(server, _insecure_tls(), token_id, interval, timeout)
    kubeconfig = _verified_kubeconfig(insecure, token_id, token_secret)
    cluster = _cluster_of(kubeconfig)
    ca_pem, certs = _ca_of(cluster)
    result = DiscoveryResult(server=str(cluster.get("server", "")), ca_pem=ca_pem, kubeconfig=kubeconfig)
    if not pins:
        return result
    try:  # validateClusterCA
        bt.check_pinned(pins, certs)
    except ValueError as e:
        raise JoinError(f"cluster CA found in {bt.CLUSTER_INFO} ConfigMap is invalid: {e}") from None
    secure = await _poll_cluster_info(server, ssl.create_default_context(cadata=ca_pem.decode()), token_id,
                                      interval, timeout)
    if (secure.get("data") or {}).get(bt.KUBECONFIG_KEY) != kubeconfig:
        raise JoinError(f"the second kubeconfig from the {bt.CLUSTER_INFO} ConfigMap (using validated TLS) was "
                        "different from the first")
    return result
