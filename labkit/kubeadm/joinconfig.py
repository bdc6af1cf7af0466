"""``kubeadm join --config FILE``: a JoinConfiguration in place of the join flags.

Mirrors ``cmd/kubeadm/app/cmd/join.go`` with ``util/config/joinconfiguration.go`` (reading the file)
and ``apis/kubeadm/validation``'s ``ValidateMixedArguments`` (``--config`` takes no join flag
beside it), for the ``kubeadm.k8s.io/v1beta3`` and ``v1beta4`` JoinConfiguration: discovery by
bootstrap token (``apiServerEndpoint``, ``token``, ``caCertHashes``, ``unsafeSkipCAVerification``),
``nodeRegistration.name``, ``controlPlane`` (set: a control-plane join) with its
``certificateKey``, and the discovery timeout (v1beta3 ``discovery.timeout``, v1beta4
``timeouts.discovery``). As in kubeadm, a positional endpoint is not read when a file is given.

Why a learner meets it: a command line is readable by every account on the machine
(``/proc/PID/cmdline``, ``ps``), so ``kubeadm join --token T --certificate-key K`` shows another
account what it needs to join, and with the key, to read the cluster's CAs; a 0600 file does not.

Left out: file discovery (``discovery.file``), ``tlsBootstrapToken`` apart from ``token``,
``nodeRegistration``'s other fields (CRI socket, taints, kubelet flags), ``localAPIEndpoint`` (labkit
picks a member's address), ``patches``, ``skipPhases``, strict decoding of unknown fields.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from labkit.apimachinery.timeutil import parse_duration

GROUP = "kubeadm.k8s.io"
VERSIONS = ("v1beta3", "v1beta4")
#: the join flags that may stand beside --config: kubeadm's allowed ones that labkit has, and labkit's own
ALLOWED_FLAGS = frozenset({"config", "runtime"})


class JoinConfigError(ValueError):
    """The file is not a JoinConfiguration labkit can join with, or flags were mixed with it."""


@dataclasses.dataclass(frozen=True)
class JoinConfiguration:
    """What ``labkit join`` takes from the file, named as its flags are."""

    endpoint: str
    token: str
    ca_cert_hashes: list[str]
    unsafe_skip_ca_verification: bool
    control_plane: bool
    certificate_key: str | None
    node_name: str | None
    discovery_timeout: float | None  # seconds; None: the flag's default


def mixed_flags(argv: list[str]) -> list[str]:
    """The flags given beside ``--config`` that kubeadm refuses, by name, sorted as Go's pflag visits them."""
    names = {arg[2:].partition("=")[0] for arg in argv if arg.startswith("--") and len(arg) > 2}
    return sorted(names - ALLOWED_FLAGS)


def check_unmixed(argv: list[str]) -> None:
    """kubeadm's ``ValidateMixedArguments``."""
    if mixed := mixed_flags(argv):
        raise JoinConfigError(f"can not mix '--config' with arguments [{' '.join(mixed)}]")


def load(path: Path) -> JoinConfiguration:
    """The JoinConfiguration document of the YAML file at ``path`` (other documents are ignored, as
    kubeadm ignores them with a warning)."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except OSError as e:
        raise JoinConfigError(f"unable to read config from {str(path)!r} : {e.strerror}") from e
    except yaml.YAMLError as e:
        raise JoinConfigError(f"{path}: not YAML: {e}") from e
    found = [d for d in documents if d.get("kind") == "JoinConfiguration"
             and str(d.get("apiVersion", "")).partition("/")[0] == GROUP]
    if not found:
        raise JoinConfigError("no JoinConfiguration kind was found in the YAML file")
    doc = found[0]
    version = str(doc["apiVersion"]).partition("/")[2]
    if version not in VERSIONS:
        raise JoinConfigError(f"{path}: {GROUP}/{version} is not a version labkit reads "
                              f"(it reads {', '.join(f'{GROUP}/{v}' for v in VERSIONS)})")
    discovery = _mapping(doc, "discovery")
    token_discovery = _mapping(discovery, "bootstrapToken")
    if not token_discovery:
        raise JoinConfigError(f"{path}: discovery.bootstrapToken is required (labkit joins by bootstrap token "
                              "only; discovery.file is left out)")
    control_plane = doc.get("controlPlane")
    timeout = _mapping(doc, "timeouts").get("discovery") if version == "v1beta4" else discovery.get("timeout")
    if timeout and parse_duration(str(timeout)) <= 0:
        raise JoinConfigError(f"{path}: the discovery timeout {timeout!r} is not a positive duration such as 5m0s")
    return JoinConfiguration(
        endpoint=str(token_discovery.get("apiServerEndpoint") or ""),
        token=str(token_discovery.get("token") or discovery.get("tlsBootstrapToken") or ""),
        ca_cert_hashes=[str(h) for h in token_discovery.get("caCertHashes") or []],
        unsafe_skip_ca_verification=bool(token_discovery.get("unsafeSkipCAVerification")),
        control_plane=control_plane is not None,
        certificate_key=str((control_plane or {}).get("certificateKey") or "") or None,
        node_name=str(_mapping(doc, "nodeRegistration").get("name") or "") or None,
        discovery_timeout=parse_duration(str(timeout)) if timeout else None)


def _mapping(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}
