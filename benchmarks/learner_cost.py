"""What a learner costs: an idle cluster, one notebook worked through, and learners per core and per GB.
Not a test; run it and read the tables:

    .venv/bin/python benchmarks/learner_cost.py [--window S] [--runs N] [--quick]   (from the repository root)

For each runtime (sim, process; docker when a daemon answers):

- an idle 3-node cluster (``labkit.Cluster(nodes=3).start()`` as the notebooks make it, in a Python
  process of its own), left to settle, then measured over ``--window`` seconds (60 unless told): the
  CPU it used as percent of one core, and its memory. Counted: the process and every process it
  started (its own CPU and that of its children it reaped: process-runtime pods, probes, etcd when
  there is one), and the docker containers it owns (each container's cgroup CPU and working set, as
  ``docker stats`` reads them, plus the container's ``containerd-shim``). Docker's daemons
  (dockerd, containerd) serve every user of the machine: their CPU over the same window is shown
  beside, not added, as other people's containers move it too.
- one learner working through notebook 4.2 (``course/03-node/4.2-kube-proxy.ipynb``): the notebook run
  by nbclient in a kernel of this Python (``LABKIT_RUNTIME`` set, the exercise left for the catch-up
  cell to solve), measuring the kernel's CPU seconds (its process tree and its containers), the wall
  time of its cells and the peak memory (sampled every 0.25 s).

Then what a learner's Jupyter costs without a cluster (JupyterLab's server and one bare ipykernel,
idle, no browser attached), and from all of it a Markdown table of learners per core and per GB.
CPU seconds are the process tree's own and hold on a loaded machine; wall times and CPU percent
per wall second move with the machine's other load.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from labkit import owner
from labkit.cluster import docker_available
from labkit.kubelet.runtime import cgroups
from labkit.kubelet.runtime.docker import LABEL_PID, LABEL_PID_START, docker_client

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "course" / "03-node" / "4.2-kube-proxy.ipynb"
MB = 1e6
#: a cluster as a notebook holds it: started, then nothing until the parent closes stdin
IDLE_CLUSTER = """
import sys, labkit
cluster = labkit.Cluster(nodes=int(sys.argv[1])).start()
print("started", flush=True)
sys.stdin.read()
cluster.stop()
"""
#: what every Python process holds before it does anything (counted once per learner, not twice)
BARE = "import sys; print('started', flush=True); sys.stdin.read()"


def cpu_of(proc: psutil.Process) -> float:
    """CPU seconds of ``proc`` and of the children it has reaped."""
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def docker_daemons() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("dockerd", "containerd")]


def daemons_cpu(daemons: list[psutil.Process]) -> float:
    total = 0.0
    for proc in daemons:
        with contextlib.suppress(psutil.Error):
            total += cpu_of(proc)
    return total


@dataclasses.dataclass
class Sample:
    cpu: float  # seconds: the process tree, then the containers' cgroups and their shims
    containers_cpu: float
    rss: int  # bytes: the process tree's RSS, the containers' working sets and shims' RSS
    containers_mem: int
    daemons_cpu: float

    @property
    def total_mem(self) -> int:
        return self.rss + self.containers_mem


class Footprint:
    """A process, everything it started, and the docker containers it owns (labelled with its pid and
    that pid's start time, as pids repeat across PID namespaces and time).

    A process that ends is counted by its parent once reaped; a container's CPU is the last value
    seen, as a removed container's cgroup is gone (``sample`` often while containers come and go)."""

    def __init__(self, pid: int, docker: Any) -> None:
        self.root = psutil.Process(pid)
        self.docker = docker
        self._seen: dict[str, float] = {}
        #: containers whose pid was found outside their cgroup (a pid taken by another process): not counted
        self.skipped: set[str] = set()
        self._owner = [f"{LABEL_PID}={pid}", f"{LABEL_PID_START}={owner.start_time(pid)}"]
        self._daemons = docker_daemons()

    def _tree(self) -> list[psutil.Process]:
        return [self.root, *self.root.children(recursive=True)]

    def pss(self) -> int:
        """The tree's proportional set size (reads every mapping: not for frequent samples)."""
        total = 0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_full_info().pss
        return total

    def sample(self) -> Sample:
        cpu = rss = 0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                cpu += cpu_of(proc)
                rss += proc.memory_info().rss
        containers_mem = 0
        if self.docker is not None:
            for c in self.docker.containers(filters={"label": self._owner}):
                with contextlib.suppress(Exception):  # gone between the list and the reads
                    pid = self.docker.inspect_container(c["Id"])["State"]["Pid"]
                    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                    if any(c["Id"] not in line for line in lines if "cpu" in line or "memory" in line or
                           line.startswith("0::") and len(lines) == 1):  # not (or no longer) its process
                        self.skipped.add(c["Id"])
                        continue
                    usage = cgroups.usage_of_pid(pid)
                    shim = psutil.Process(pid).parent()
                    assert shim is not None
                    shim_times = shim.cpu_times()  # its own: the container's CPU is in the cgroup
                    self._seen[c["Id"]] = usage.cpu_nanoseconds / 1e9 + shim_times.user + shim_times.system
                    containers_mem += usage.working_set_bytes + shim.memory_info().rss
        return Sample(cpu, sum(self._seen.values()), rss, containers_mem, daemons_cpu(self._daemons))


@contextlib.contextmanager
def sampling(footprint: Footprint, every: float = 0.25) -> Iterator[list[Sample]]:
    """Samples of ``footprint`` every ``every`` seconds while the block runs, and one at its end."""
    samples: list[Sample] = [footprint.sample()]
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every):
            samples.append(footprint.sample())
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()
        samples.append(footprint.sample())


@dataclasses.dataclass
class Idle:
    start_s: float  # wall seconds until start() returned
    start_cpu: float  # CPU seconds until then
    cores: float  # mean cores used over the window, tree + containers
    containers_cores: float
    daemons_cores: float
    daemons_before: float  # the same, over a window as long just before the cluster started
    mem: int  # bytes at the window's end, tree + containers
    containers_mem: int
    pss: int  # the same with the tree's proportional set size: pages shared with others counted by share


@contextlib.contextmanager
def child(code: str, *args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """A Python process running ``code``, once it printed "started"; ended by closing its stdin."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # labkit says which runtime it chose first
            if line.strip() == "started":
                break
        else:
            raise RuntimeError(f"{code.strip().splitlines()[1]!r} {args} did not start (exit {proc.poll()})")
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def idle_cluster(runtime: str, nodes: int, settle: float, window: float, data_dir: str) -> Idle:
    docker = docker_client() if runtime == "docker" else None
    daemons, before = docker_daemons(), 0.0
    if docker is not None:
        cpu, wall = daemons_cpu(daemons), time.monotonic()
        time.sleep(window)
        before = (daemons_cpu(daemons) - cpu) / (time.monotonic() - wall)
    started = time.monotonic()
    with child(IDLE_CLUSTER, str(nodes), env={"LABKIT_RUNTIME": runtime, "LABKIT_DATA_DIR": data_dir}) as proc:
        start_s = time.monotonic() - started
        footprint = Footprint(proc.pid, docker)
        start_cpu = footprint.sample().cpu
        time.sleep(settle)
        with sampling(footprint, every=1.0) as samples:
            wall = time.monotonic()
            time.sleep(window)
        wall = time.monotonic() - wall
        first, last = samples[0], samples[-1]
        return Idle(start_s, start_cpu, (last.cpu + last.containers_cpu - first.cpu - first.containers_cpu) / wall,
                    (last.containers_cpu - first.containers_cpu) / wall,
                    (last.daemons_cpu - first.daemons_cpu) / wall, before,
                    last.total_mem, last.containers_mem, footprint.pss() + last.containers_mem)


@dataclasses.dataclass
class Worked:
    cpu: float  # CPU seconds, kernel tree + containers, from the kernel's start
    containers_cpu: float
    wall: float  # seconds from the first cell's start to the last cell's end
    peak_mem: int  # bytes, the largest sample of tree + containers
    kernel_hwm: int  # the kernel process's own peak RSS (VmHWM)
    skipped: int  # containers not counted (Footprint.skipped)
    error: str = ""


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def work_notebook(runtime: str, notebook: Path, data_dir: str) -> Worked:
    """``notebook`` run top to bottom in a fresh kernel of this Python, as a learner who solves nothing."""
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    saved = {k: os.environ.get(k) for k in ("LABKIT_RUNTIME", "LABKIT_DATA_DIR")}
    os.environ.update(LABKIT_RUNTIME=runtime, LABKIT_DATA_DIR=data_dir)
    error = ""
    try:
        with client.setup_kernel(stderr=subprocess.DEVNULL):  # its warning about TCP without encryption
            kernel_pid = client.km.provisioner.process.pid  # type: ignore[union-attr]
            footprint = Footprint(kernel_pid, docker_client() if runtime == "docker" else None)
            with sampling(footprint) as samples:
                started = time.monotonic()
                try:
                    for index, cell in enumerate(nb.cells):
                        client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    error = f"{exc.ename}: {exc.evalue}"[:200]
                wall = time.monotonic() - started
            hwm = _hwm(kernel_pid)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    last = samples[-1]
    return Worked(last.cpu + last.containers_cpu, last.containers_cpu, wall, max(s.total_mem for s in samples),
                  hwm, len(footprint.skipped), error)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Jupyter:
    server_mem: int
    kernel_mem: int
    cores: float  # idle, server + kernel
    bare_python: int  # an interpreter that has done nothing


def jupyter_overhead(window: float, workdir: str) -> Jupyter:
    """JupyterLab's server with one bare ipykernel (what each learner has besides the cluster), idle."""
    port, token = free_port(), secrets.token_hex(16)
    argv = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}", "--allow-root"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": workdir, "JUPYTER_CONFIG_DIR": workdir}
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{base}/status?token={token}"), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("jupyter lab did not answer in 60 s") from None
                time.sleep(0.5)
        urllib.request.urlopen(urllib.request.Request(f"{base}/kernels?token={token}", data=b"{}", method="POST"))
        proc = psutil.Process(server.pid)
        deadline = time.monotonic() + 60
        while not proc.children() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(5)  # the kernel's imports
        footprint = Footprint(server.pid, None)
        with sampling(footprint, every=1.0) as samples:
            wall = time.monotonic()
            time.sleep(window)
        wall = time.monotonic() - wall
        kernel = sum(p.memory_info().rss for p in proc.children(recursive=True))
        cores = (samples[-1].cpu - samples[0].cpu) / wall
        server_mem = proc.memory_info().rss
    finally:
        server.terminate()
        server.wait(timeout=30)
    with child(BARE) as bare:
        bare_python = psutil.Process(bare.pid).memory_info().rss
    return Jupyter(server_mem, kernel, cores, bare_python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds to measure an idle cluster over (60)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after start() before measuring (10)")
    parser.add_argument("--runs", type=int, default=2, help="idle windows per runtime, each a fresh cluster (2)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runtimes", default="", help="comma-separated (default: sim, process, docker if it answers)")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    parser.add_argument("--no-notebook", action="store_true", help="only the idle clusters")
    parser.add_argument("--minutes", type=float, default=15.0,
                        help="minutes a learner spends on the notebook, for the mixed row of the table (15)")
    parser.add_argument("--quick", action="store_true", help="10 s windows, one run each")
    args = parser.parse_args()
    if args.quick:
        args.window, args.settle, args.runs = 10.0, 5.0, 1
    runtimes = args.runtimes.split(",") if args.runtimes else ["sim", "process"] + (
        ["docker"] if docker_available() else [])
    print(f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 1e9:.1f} GB, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    with tempfile.TemporaryDirectory(prefix="learner-cost-") as data_dir:
        idle = {r: [idle_cluster(r, args.nodes, args.settle, args.window, data_dir) for _ in range(args.runs)]
                for r in runtimes}
        print_idle(idle, args.nodes, args.window)
        worked: dict[str, Worked] = {}
        if not args.no_notebook:
            for runtime in runtimes:
                worked[runtime] = work_notebook(runtime, args.notebook.resolve(), data_dir)
            print_worked(worked, args.notebook)
        jupyter = jupyter_overhead(min(args.window, 30.0), data_dir)
    print_jupyter(jupyter)
    print_capacity(idle, worked, jupyter, args.minutes)


def print_idle(idle: dict[str, list[Idle]], nodes: int, window: float) -> None:
    print(f"\nIdle {nodes}-node cluster, {window:g} s window after settling; one row per run (a fresh cluster)")
    print(f"{'runtime':8} {'start s':>8} {'start CPU s':>11} {'% of a core':>11} {'of it containers':>16} "
          f"{'MB':>6} {'PSS MB':>7} {'of it containers':>16} {'docker daemons % (before)':>27}")
    for runtime, runs in idle.items():
        for r in runs:
            daemons = f"{r.daemons_cores:.2%} ({r.daemons_before:.2%})" if runtime == "docker" else ""
            print(f"{runtime:8} {r.start_s:8.2f} {r.start_cpu:11.2f} {r.cores:11.2%} {r.containers_cores:16.2%} "
                  f"{r.mem / MB:6.0f} {r.pss / MB:7.0f} {r.containers_mem / MB:16.0f} {daemons:>27}", flush=True)
    print("MB: RSS of the process tree plus the containers' working sets; PSS counts pages shared with other "
          "processes by share.\ndocker daemons: dockerd + containerd over the window, and over one as long just "
          "before the cluster started;\nthey serve every user of the machine, so they are shown, not added")


def print_worked(worked: dict[str, Worked], notebook: Path) -> None:
    print(f"\nOne learner working through {notebook.name} (nbclient, fresh kernel; kernel start included in CPU)")
    print(f"{'runtime':8} {'CPU s':>6} {'of it containers':>16} {'wall s':>7} {'peak MB':>8} {'kernel peak MB':>15}")
    for runtime, w in worked.items():
        print(f"{runtime:8} {w.cpu:6.1f} {w.containers_cpu:16.1f} {w.wall:7.1f} {w.peak_mem / MB:8.0f} "
              f"{w.kernel_hwm / MB:15.0f}" + (f"  failed: {w.error}" if w.error else ""), flush=True)
    skipped = sum(w.skipped for w in worked.values())
    if skipped:
        print(f"{skipped} container(s) not counted: their pid was found outside their cgroup")
    print("CPU seconds are the kernel's own process tree and containers and hold on a loaded machine; "
          "wall time moves with the machine's other load (this one is shared)")


def print_jupyter(j: Jupyter) -> None:
    print(f"\nA learner's Jupyter, idle, no browser attached: server {j.server_mem / MB:.0f} MB, bare ipykernel "
          f"{j.kernel_mem / MB:.0f} MB, {j.cores:.3%} of a core together; a bare Python process "
          f"{j.bare_python / MB:.0f} MB")


def print_capacity(idle: dict[str, list[Idle]], worked: dict[str, Worked], j: Jupyter, minutes: float) -> None:
    print(f"""
Learners per core and per GB (paste into the instructor's guide). A learner is JupyterLab's server,
one kernel and the kernel's cluster; the cluster's runs here had an interpreter of their own, so one
bare Python process ({j.bare_python / MB:.0f} MB) is taken off once; memory is RSS, so libraries shared
between learners are counted for each (conservative). Idle: every learner has a cluster up and is
reading (the mean of the idle runs plus Jupyter's idle). Mixed: each learner runs 4.2's cells once
in {minutes:g} minutes and is idle otherwise. Peak: every learner at 4.2's peak memory at once. All at
once: a room running the same cells together needs the CPU seconds of one run per learner, so N
learners on C cores wait about N x CPU s / C for them. No browser is counted; the operating system,
Docker's daemons and the machine's headroom are not either.
""")
    print("| runtime | idle, % of a core | idle, MB | learners per core, idle / mixed | CPU s of one run of 4.2 "
          "| learners per GB, idle / peak |")
    print("|---|---|---|---|---|---|")
    for runtime, runs in idle.items():
        cores = sum(r.cores for r in runs) / len(runs) + j.cores
        mem = sum(r.mem for r in runs) / len(runs) + j.server_mem + j.kernel_mem - j.bare_python
        w = worked.get(runtime)
        if w is None or w.error:
            mixed = cpu = peak = "—"
        else:
            mixed, cpu = f"{1 / (cores + w.cpu / (minutes * 60)):.0f}", f"{w.cpu:.1f}"
            peak = f"{1e9 / (w.peak_mem + j.server_mem):.1f}"
        print(f"| {runtime} | {cores:.2%} | {mem / MB:.0f} | {1 / cores:.0f} / {mixed} | {cpu} "
              f"| {1e9 / mem:.1f} / {peak} |")


if __name__ == "__main__":
    main()
