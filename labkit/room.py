"""A rehearsal of a room: N learners running the same course notebooks at once on this machine.

An instructor's question before a workshop is whether the server holds the room. ``labkit room
--learners 16 course/03-node/4.2-kube-proxy.ipynb`` answers it the way the room will use it: each
learner is a process of its own that runs the notebooks in a Jupyter kernel of its own (as a
learner's JupyterLab does, through ``nbclient``), top to bottom, failing on the first cell that
raises, as CI's nbval-lax does. Each learner keeps its progress in a folder of its own. The
printout is one line per learner and a summary; :func:`run` gives the same to tests and benchmarks.

While it runs, :class:`Room` says which kernel each learner is in (``kernel_pid``), so a test can
kill one abruptly, as a crashed kernel dies, and check the others go on untouched.

Nothing in Kubernetes or Jupyter does this; load tests of a JupyterHub (``jupyterhub/hubtraf``)
simulate learners over HTTP. This one skips the hub and its servers and runs the kernels directly:
what it measures is the clusters', which are what a labkit room adds. Left out: learners' think time
(every learner runs every cell at once, a harder load than a room's).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CELL_TIMEOUT = 120  # seconds, as CI's nbval runs the course


@dataclass
class Learner:
    """One learner's process and what it reported so far."""

    index: int
    process: subprocess.Popen[str]
    data_dir: Path
    kernel_pid: int = 0
    notebook: str = ""
    cell: int = -1
    passed: list[str] = field(default_factory=list)
    failure: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.process.returncode == 0 and not self.failure

    def line(self) -> str:
        if self.ok:
            return f"learner {self.index:2}: passed {len(self.passed)} notebook(s) in {self.seconds:.0f} s"
        where = Path(self.notebook).name or "before its first notebook"
        return f"learner {self.index:2}: FAILED in {where}: {self.failure}"

    def last_words(self) -> str:
        """How the process ended, with the last line it wrote to stderr."""
        lines = (self.data_dir / "stderr.txt").read_text(errors="replace").strip().splitlines()
        return f"exited with {self.process.returncode}" + (f": {lines[-1][:300]}" if lines else "")


class Room:
    """``learners`` learner processes, each running ``notebooks`` in order; ``env`` is added to theirs
    (``LABKIT_RUNTIME``, say). Stop with :meth:`wait`; the learners' folders are under ``root``."""

    def __init__(self, learners: int, notebooks: Sequence[str | Path], *, root: Path,
                 env: dict[str, str] | None = None) -> None:
        self.notebooks = [str(Path(n).resolve()) for n in notebooks]
        self.learners: list[Learner] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self._started = time.monotonic()
        for index in range(learners):
            data_dir = root / f"learner-{index}"
            data_dir.mkdir(parents=True, exist_ok=True)
            process = subprocess.Popen(
                [sys.executable, "-m", "labkit.room", "--learner", *self.notebooks],
                env={**os.environ, **(env or {}), "LABKIT_DATA_DIR": str(data_dir)},
                stdout=subprocess.PIPE, stderr=(data_dir / "stderr.txt").open("w"), text=True,
                start_new_session=True)
            learner = Learner(index, process, data_dir)
            self.learners.append(learner)
            reader = threading.Thread(target=self._follow, args=(learner,), daemon=True)
            reader.start()
            self._readers.append(reader)

    def _follow(self, learner: Learner) -> None:
        assert learner.process.stdout is not None
        for line in learner.process.stdout:
            event: dict[str, Any] = json.loads(line)
            with self._lock:
                learner.notebook = event.get("notebook", learner.notebook)
                if event["event"] == "kernel":
                    learner.kernel_pid, learner.cell = event["pid"], -1
                elif event["event"] == "cell":
                    learner.cell = event["index"]
                elif event["event"] == "passed":
                    learner.passed.append(event["notebook"])
                elif event["event"] == "failed":
                    learner.failure = event["error"]
        learner.seconds = time.monotonic() - self._started

    def at(self, index: int) -> tuple[str, int, int]:
        """Where learner ``index`` is: (notebook, cell index, kernel pid)."""
        with self._lock:
            learner = self.learners[index]
            return learner.notebook, learner.cell, learner.kernel_pid

    def kill_kernel(self, index: int) -> int:
        """SIGKILL learner ``index``'s kernel, as a kernel dies of a crash; its pid."""
        _, _, pid = self.at(index)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait(self, timeout: float) -> list[Learner]:
        """Every learner, once all have ended (those still running at ``timeout`` are killed, their
        process group too, and count as failed)."""
        deadline = time.monotonic() + timeout
        for learner in self.learners:
            try:
                learner.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(learner.process.pid, signal.SIGKILL)
                learner.process.wait()
                learner.failure = learner.failure or f"still running after {timeout:.0f} s"
        for reader in self._readers:
            reader.join(timeout=5)
        for learner in self.learners:
            if learner.process.returncode != 0 and not learner.failure:
                learner.failure = learner.last_words()
        return self.learners


def run(learners: int, notebooks: Sequence[str | Path], *, timeout: float = 900,
        env: dict[str, str] | None = None) -> list[Learner]:
    """Run a room to its end (in a temporary folder) and return its learners."""
    with tempfile.TemporaryDirectory(prefix="labkit-room-") as root:
        return Room(learners, notebooks, root=Path(root), env=env).wait(timeout)


def _emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


def _learner(notebooks: Sequence[str]) -> int:
    """One learner: each notebook in a new kernel, from its own folder; an event per step on stdout."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    for path in notebooks:
        index = -1
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(Path(path).parent)}})
        try:
            with client.setup_kernel():
                assert client.km is not None and client.kc is not None
                _emit(event="kernel", notebook=path, pid=client.km.provisioner.pid)  # type: ignore[union-attr]
                for index, cell in enumerate(nb.cells):
                    _emit(event="cell", notebook=path, index=index)
                    client.execute_cell(cell, index)
        except CellExecutionError as e:
            _emit(event="failed", notebook=path, error=f"cell {index}: {e.ename}: {e.evalue}"[:300])
            return 1
        except DeadKernelError:
            _emit(event="failed", notebook=path, error=f"the kernel died in cell {index}")
            return 1
        _emit(event="passed", notebook=path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit room", description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=16, help="learners at once (default 16)")
    parser.add_argument("--runtime", choices=("sim", "process", "docker"), default=None,
                        help="LABKIT_RUNTIME of every learner (default: as a notebook chooses)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole room (default 900)")
    parser.add_argument("--learner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("notebooks", nargs="+", help="notebooks each learner runs, in order")
    args = parser.parse_args(argv)
    if args.learner:
        return _learner(args.notebooks)
    print(f"{args.learners} learners, each running {', '.join(Path(n).name for n in args.notebooks)}", flush=True)
    started = time.monotonic()
    learners = run(args.learners, args.notebooks, timeout=args.timeout,
                   env={"LABKIT_RUNTIME": args.runtime} if args.runtime else None)
    for learner in learners:
        print(learner.line())
    passed = sum(learner.ok for learner in learners)
    print(f"{passed} of {len(learners)} learners passed in {time.monotonic() - started:.0f} s")
    return 0 if passed == len(learners) else 1


if __name__ == "__main__":
    sys.exit(main())
