"""``labkit join --config``: a kubeadm JoinConfiguration read as kubeadm reads it (labkit.kubeadm.joinconfig)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.kubeadm.joinconfig import JoinConfigError, check_unmixed, load

TOKEN = "abcdef.0123456789abcdef"
HASH = "sha256:" + "ab" * 32


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "join.yaml"
    path.write_text(text)
    return path


def test_v1beta4_control_plane_with_its_timeout(tmp_path: Path) -> None:
    config = load(write(tmp_path, f"""\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken: {{apiServerEndpoint: "127.0.0.1:6443", token: {TOKEN}, caCertHashes: ["{HASH}"]}}
nodeRegistration: {{name: cp-2}}
controlPlane: {{certificateKey: "{'cd' * 32}"}}
timeouts: {{discovery: 1m30s}}
"""))
    assert (config.endpoint, config.token, config.ca_cert_hashes) == ("127.0.0.1:6443", TOKEN, [HASH])
    assert config.control_plane and config.certificate_key == "cd" * 32 and config.node_name == "cp-2"
    assert config.discovery_timeout == 90 and not config.unsafe_skip_ca_verification


def test_v1beta3_worker_among_other_documents(tmp_path: Path) -> None:
    config = load(write(tmp_path, f"""\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: JoinConfiguration
discovery:
  bootstrapToken: {{apiServerEndpoint: "127.0.0.1:6443", token: {TOKEN}, unsafeSkipCAVerification: true}}
  timeout: 20s
"""))
    assert not config.control_plane and config.certificate_key is None and config.node_name is None
    assert config.unsafe_skip_ca_verification and config.ca_cert_hashes == [] and config.discovery_timeout == 20


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
     "no JoinConfiguration kind was found in the YAML file"),
    ("apiVersion: kubeadm.k8s.io/v1beta2\nkind: JoinConfiguration\n", "kubeadm.k8s.io/v1beta2 is not a version"),
    ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery: {file: {kubeConfigPath: x}}\n",
     "discovery.bootstrapToken is required"),
    ("apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\n"
     "discovery: {bootstrapToken: {token: x}, timeout: soon}\n", "'soon' is not a positive duration"),
    ("kind: [", "not YAML"),
])
def test_what_it_cannot_join_with_is_said(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(JoinConfigError, match=message.replace(".", r"\.")):
        load(write(tmp_path, text))


def test_a_missing_file_is_said(tmp_path: Path) -> None:
    with pytest.raises(JoinConfigError, match="unable to read config from"):
        load(tmp_path / "none.yaml")


def test_flags_beside_config_are_refused_as_kubeadm_refuses_them() -> None:
    check_unmixed(["join", "--config", "j.yaml", "--runtime=sim"])
    with pytest.raises(JoinConfigError) as refused:
        check_unmixed(["join", "--config=j.yaml", "--token", TOKEN, "--control-plane", "--certificate-key=k"])
    assert str(refused.value) == "can not mix '--config' with arguments [certificate-key control-plane token]"
