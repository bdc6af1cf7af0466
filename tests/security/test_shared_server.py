"""A shared workshop server (issue #18): two learners' clusters side by side, each with its own CA,
service-account key and tokens. One cluster refuses every credential the other issued with kube's 401
Status, refuses a caller without credentials as kube does with its default ``--anonymous-auth=true``
(403 for ``system:anonymous``, the public ``/version`` open), and keeps every file that carries a
secret to its owner. As root, a second Unix account (``nobody``) tries it all without the files.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from testkit import kubectl_path, need, wait_for

from labkit import Cluster
from labkit.apiserver.pki import EtcdPKI, write_kubeconfig
from labkit.store.sqlite import SQLiteStore

pytestmark = pytest.mark.unprivileged

UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
SECRET_VALUE = "learner-a-secret-4f1d"  # in learner A's pod's environment, from a Secret
OTHER_ACCOUNT = 65534  # nobody: a Unix account that is not the learner's
SECRETS = "/api/v1/namespaces/default/secrets"


class Learner:
    """One learner's cluster and what it handed out, as another learner would try to use it."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.pki_dir = cluster.pki.directory
        self.workdir = self.pki_dir.parent  # tempfile.mkdtemp(prefix="labkit-"): everything the cluster writes

    def cert(self, name: str) -> tuple[str, str]:
        return str(self.pki_dir / f"{name}.crt"), str(self.pki_dir / f"{name}.key")

    def get(self, path: str, *, token: str | None = None, cert: tuple[str, str] | None = None) -> requests.Response:
        """GET ``path`` on this cluster, trusting its CA (public: ``kube-public/cluster-info``)."""
        s = requests.Session()
        s.trust_env = False
        return s.get(self.cluster.url + path, verify=str(self.pki_dir / "ca.crt"), cert=cert, timeout=10,
                     headers={"Authorization": f"Bearer {token}"} if token else {})


@pytest.fixture(scope="module")
def learners() -> Iterator[tuple[Learner, Learner]]:
    """A: the process runtime (what a learner without Docker runs), with one pod that holds a Secret in
    its environment and its service-account token in a file. B: simulated nodes (their kubelets
    authenticate with tokens, A's with certificates)."""
    with Cluster(nodes=1, runtime="process", set_kubeconfig_env=False) as a, \
            Cluster(nodes=1, runtime="sim", set_kubeconfig_env=False) as b:
        admin = a.admin()
        a.run(admin.create("/api/v1/namespaces/default/secrets", {
            "metadata": {"name": "mine"}, "stringData": {"value": SECRET_VALUE}}))
        a.run(admin.create("/api/v1/namespaces/default/pods", {
            "metadata": {"name": "holder"},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                "name": "main", "image": "busybox", "command": ["sleep", "3600"],
                "env": [{"name": "LEARNER_SECRET",
                         "valueFrom": {"secretKeyRef": {"name": "mine", "key": "value"}}}]}]}}))
        wait_for(lambda: _pod_pid(SECRET_VALUE), timeout=20, what="learner A's pod running")
        yield Learner(a), Learner(b)


def _pod_pid(marker: str) -> int | None:
    """The process of this account whose environment holds ``marker``."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == os.getuid() and marker.encode() in (entry / "environ").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    return None


def _token_in_pod_files(a: Learner) -> Path:
    """The service-account token the kubelet wrote for A's pod (its projected volume)."""
    found = [p for p in a.workdir.rglob("token") if "kube-api-access" in str(p)]
    assert found, "no projected service-account token under A's workdir"
    return found[0]


# --- every credential A issued is refused by B, and B's by A -----------------------------------------


def _credentials_of(a: Learner) -> dict[str, str]:
    """A bearer token of every kind cluster A issues."""
    c = a.cluster
    return {
        "service account token (TokenRequest)": c.run(c.admin().create(
            "/api/v1/namespaces/default/serviceaccounts/default/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}))["status"]["token"],
        "service account token in a pod's files": _token_in_pod_files(a).read_text(),
        "bootstrap token": c.create_token(),
        "PKI.issue_token, system:masters": c.pki.issue_token(user="kubernetes-admin", groups=["system:masters"]),
    }


def test_each_cluster_has_its_own_ca_and_keys(learners):
    a, b = learners
    for name in ("ca.crt", "ca.key", "sa.key", "sa.pub"):
        assert (a.pki_dir / name).read_bytes() != (b.pki_dir / name).read_bytes(), name


def test_tokens_of_one_cluster_get_401_from_the_other(learners):
    a, b = learners
    for kind, token in _credentials_of(a).items():
        assert a.get(SECRETS, token=token).status_code in (200, 403), kind  # authenticated at home
        answer = b.get(SECRETS, token=token)
        assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED), kind


def test_sim_node_token_gets_401_from_the_other_cluster(learners):
    """A simulated node's kubelet authenticates with a token its cluster signed (``system:node:NAME``)."""
    a, b = learners
    node_token = b.cluster.pki.issue_token(user="system:node:node-1", groups=["system:nodes"])
    assert b.get("/api/v1/nodes/node-1", token=node_token).status_code == 200
    answer = a.get("/api/v1/nodes/node-1", token=node_token)
    assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("name", ["admin", "system-node-node-1", "system-kube-controller-manager"])
def test_client_certificates_of_one_cluster_get_401_from_the_other(learners, name):
    a, b = learners
    assert a.get(SECRETS, cert=a.cert(name)).status_code in (200, 403)  # authenticated at home
    answer = b.get(SECRETS, cert=a.cert(name))
    assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED)


def test_kubectl_with_the_other_clusters_credentials(learners, tmp_path):
    """The real kubectl, pointed at B with B's CA, authenticating with A's token or A's certificate."""
    a, b = learners
    kubectl = kubectl_path("1.33")
    for name, credentials in (("token", {"token": a.cluster.pki.issue_token(user="kubernetes-admin",
                                                                           groups=["system:masters"])}),
                              ("cert", dict(zip(("client_cert", "client_key"), map(Path, a.cert("admin")),
                                                strict=True)))):
        kubeconfig = tmp_path / name
        write_kubeconfig(kubeconfig, server=b.cluster.url, ca_pem=b.cluster.pki.ca_cert_pem, **credentials)
        done = subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", "get", "secrets"],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 1 and "error: You must be logged in to the server" in done.stderr, \
            (name, done.stderr[-500:])


def test_a_kubeconfig_pointed_at_the_other_server_distrusts_it(learners):
    """A's kubeconfig trusts A's CA only: B's serving certificate fails the client's check first."""
    a, b = learners
    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        requests.get(b.cluster.url + "/version", verify=str(a.pki_dir / "ca.crt"), timeout=10)


# --- no credentials: kube's defaults ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/version", "/healthz", "/livez", "/readyz",
                                  "/api", "/apis", "/openapi/v2", "/metrics", SECRETS])
def test_anonymous_sees_public_info_only(learners, path):
    """kube-apiserver's default --anonymous-auth=true with RBAC: no credentials is system:anonymous,
    which system:public-info-viewer lets read the version and health endpoints (and kubeadm's Role
    kube-public/cluster-info), and nothing else: 403, discovery included."""
    a, _ = learners
    answer = a.get(path)
    if path in ("/version", "/healthz", "/livez", "/readyz"):
        assert answer.status_code == 200
    else:
        assert answer.status_code == 403 and answer.json()["reason"] == "Forbidden"
        assert 'User "system:anonymous" cannot' in answer.json()["message"]


def test_cluster_info_is_public_and_a_bad_token_is_never_anonymous(learners):
    a, _ = learners
    info = a.get("/api/v1/namespaces/kube-public/configmaps/cluster-info")  # what `kubeadm join` discovers
    assert info.status_code == 200
    kubeconfig = yaml.safe_load(info.json()["data"]["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == a.cluster.url and not kubeconfig.get("users")
    answer = a.get(SECRETS, token="not-a-token")
    assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED)


# --- files: owner only ------------------------------------------------------------------------------


def _others_can_read(path: Path, top: Path) -> bool:
    """Whether an account other than the owner could read ``path``: the file readable by group or
    others, and every folder from ``top`` down to it open to them."""
    folders = [top / d for d in path.relative_to(top).parents]
    return bool(stat.S_IMODE(path.stat().st_mode) & 0o044) and all(
        stat.S_IMODE(d.stat().st_mode) & 0o011 for d in folders)


def _secret_bearing(workdir: Path) -> list[Path]:
    keys = [p for p in workdir.rglob("*") if p.is_file() and (p.suffix in (".key", ".pem") or p.name in (
        "kubeconfig", "token"))]
    assert any(p.name == "token" for p in keys) and any(p.name == "sa.key" for p in keys)
    return keys


def test_workdir_and_every_secret_file_are_the_owners_only(learners):
    for learner in learners:
        c, workdir = learner.cluster, learner.workdir
        assert c.kubeconfig is not None
        mode = workdir.stat()
        assert (mode.st_uid, stat.S_IMODE(mode.st_mode)) == (os.getuid(), 0o700), workdir
        for path in _secret_bearing(workdir) if c.runtime == "process" else [c.kubeconfig]:
            assert not _others_can_read(path, workdir), path
        # keys and kubeconfigs are 0600 themselves, as kubeadm writes them; a pod's token keeps kube's
        # defaultMode 0644 in a kubelet folder closed to others (kube's is /var/lib/kubelet/pods)
        for path in [c.kubeconfig, *learner.pki_dir.glob("*.key")]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_etcd_keys_and_sqlite_store_are_the_owners_only(tmp_path):
    pki = EtcdPKI.create(tmp_path / "pki", node_name="cp")
    for name in ("server", "peer", "healthcheck-client", "apiserver-etcd-client"):
        assert stat.S_IMODE(pki.pair(name)[1].stat().st_mode) == 0o600, name
    store = SQLiteStore(str(tmp_path / "state.db"))  # holds every Secret of a cluster started on it
    store.put("/registry/secrets/default/s", b"x")
    for path in tmp_path.glob("state.db*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    store.close()


def test_pods_run_as_the_learner_with_a_private_environment(learners):
    pid = _pod_pid(SECRET_VALUE)
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").stat()
    assert (environ.st_uid, stat.S_IMODE(environ.st_mode)) == (os.getuid(), 0o400)


# --- another Unix account, without the files ----------------------------------------------------------

_STRANGER = r"""
import json, ssl, sys, urllib.error, urllib.request
args = json.loads(sys.argv[1])
seen = {}
for what, path in args["files"].items():
    try:
        open(path, "rb").read(1)
        seen[what] = "read"
    except OSError as e:
        seen[what] = type(e).__name__
context = ssl.create_default_context(cadata=args["ca"])  # the CA is public (cluster-info)
for what, token in args["tokens"].items():
    request = urllib.request.Request(args["url"] + "/api/v1/namespaces/default/secrets",
                                     headers={"Authorization": "Bearer " + token} if token else {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            seen[what] = [answer.status, json.load(answer)]
    except urllib.error.HTTPError as e:
        seen[what] = [e.code, json.load(e)]
print(json.dumps(seen))
"""


def test_another_account_reads_nothing_and_is_refused(learners):
    """As root: ``nobody`` can open none of A's secret files nor its pod's environment, and A's API
    server refuses it without credentials (403, anonymous) and with B's (401)."""
    if os.getuid() != 0:
        pytest.skip("switching to another account needs root (CI's `make test` runs as root)")
    need(Path("/usr/bin/python3").exists() and Path("/usr/bin/setpriv").exists(),
         "/usr/bin/python3 and setpriv (another account runs the stranger's script with them)")
    a, b = learners
    assert a.cluster.kubeconfig is not None
    files = {"kubeconfig": a.cluster.kubeconfig, "admin key": a.pki_dir / "admin.key",
             "service account key": a.pki_dir / "sa.key", "pod token": _token_in_pod_files(a),
             "pod environment": Path(f"/proc/{_pod_pid(SECRET_VALUE)}/environ")}
    args = {"url": a.cluster.url, "ca": a.cluster.pki.ca_cert_pem.decode(),
            "files": {k: str(v) for k, v in files.items()},
            "tokens": {"no credentials": "", "B's admin token": b.cluster.pki.issue_token(
                user="kubernetes-admin", groups=["system:masters"])}}
    done = subprocess.run(["setpriv", f"--reuid={OTHER_ACCOUNT}", f"--regid={OTHER_ACCOUNT}", "--clear-groups",
                           "/usr/bin/python3", "-I", "-c", _STRANGER, json.dumps(args)],
                          capture_output=True, text=True, timeout=30, cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert {k: seen[k] for k in files} == dict.fromkeys(files, "PermissionError")
    code, body = seen["no credentials"]
    assert code == 403 and body["reason"] == "Forbidden" and "system:anonymous" in body["message"]
    assert seen["B's admin token"] == [401, UNAUTHORIZED]
