"""A room on one machine: N learners working through notebook 4.2 at once. Not a test; run it and read:

    .venv/bin/python benchmarks/room.py [--learners N] [--runtime process|docker]   (from the repository root)

Issue 18's goal: 16 learners running the 4.2 lab at once on this 2-core machine, all passing. Each
learner is a process running the notebook in a kernel of its own (:mod:`labkit.room`; every learner
runs every cell at once, a harder load than a room's). Prints how many passed, each learner's time,
and the machine's memory at its lowest during the run.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

from labkit.cluster import docker_available
from labkit.room import run

NOTEBOOK = Path(__file__).resolve().parents[1] / "course/03-node/4.2-kube-proxy.ipynb"


def mem_available_mb() -> int:
    line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable:"))
    return int(line.split()[1]) // 1024


def room(learners: int, runtime: str) -> None:
    lowest = [mem_available_mb()]
    before = lowest[0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            lowest[0] = min(lowest[0], mem_available_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    result = run(learners, [NOTEBOOK], env={"LABKIT_RUNTIME": runtime})
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    times = sorted(learner.seconds for learner in result if learner.ok)
    passed = len(times)
    print(f"{runtime}: {passed} of {learners} learners passed 4.2 at once in {wall:.0f} s"
          + (f"; each took {times[0]:.0f} / {statistics.median(times):.0f} / {times[-1]:.0f} s (min / median / max)"
             if times else ""))
    print(f"{runtime}: memory available {before} MB before, {lowest[0]} MB at the lowest "
          f"(~{(before - lowest[0]) / learners:.0f} MB per learner at the peak)")
    for learner in result:
        if not learner.ok:
            print("  " + learner.line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=16)
    parser.add_argument("--runtime", choices=("process", "docker"), action="append",
                        help="default: process, and docker when a daemon answers")
    args = parser.parse_args()
    for runtime in args.runtime or ["process", *(["docker"] if docker_available() else [])]:
        room(args.learners, runtime)


if __name__ == "__main__":
    main()
