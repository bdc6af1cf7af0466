"""A room on one machine (issue 18): six learners run the 3.1 and 4.2 labs at once, each in a kernel of
its own, on clusters side by side; two kernels are killed abruptly and the four others pass untouched.

On docker when a daemon answers (bridges, subnets and containers per cluster), else on process."""

from __future__ import annotations

import json
import time
from pathlib import Path

from labkit import clean, owner
from labkit.cluster import docker_available
from labkit.room import Room

COURSE = Path(__file__).resolve().parents[2] / "course"
LABS = [COURSE / "02-master/3.1-api-server.ipynb", COURSE / "03-node/4.2-kube-proxy.ipynb"]
KILLED = (0, 1)


def first_cell(notebook: Path, text: str) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return next(i for i, c in enumerate(cells) if text in "".join(c["source"]))


def test_six_learners_side_by_side_and_two_kernels_killed(tmp_path: Path) -> None:
    runtime = "docker" if docker_available() else "process"
    kill_at = first_cell(LABS[1], "ex.solve(")  # 4.2's pods run and serve by then
    room = Room(6, LABS, root=tmp_path, env={"LABKIT_RUNTIME": runtime})
    killed = {}
    deadline = time.monotonic() + 200  # then the learners' lines say where each is, before pytest's timeout
    while len(killed) < len(KILLED) and time.monotonic() < deadline:
        for index in KILLED:
            notebook, cell, _ = room.at(index)
            if index not in killed and notebook == str(LABS[1]) and cell >= kill_at:
                killed[index] = room.kill_kernel(index)
        if any(room.learners[i].process.poll() is not None for i in KILLED if i not in killed):
            break  # one ended before its kernel could be killed: the assertion below says how
        time.sleep(0.1)
    learners = room.wait(timeout=max(30.0, deadline - time.monotonic()))
    assert sorted(killed) == list(KILLED), [learner.line() for learner in learners]
    for learner in learners:
        if learner.index in KILLED:
            assert learner.failure.startswith("the kernel died in cell"), learner.line()
            assert learner.passed == [str(LABS[0])]
        else:
            assert learner.ok and learner.passed == [str(lab) for lab in LABS], learner.line()

    def left_by_the_killed() -> list[owner.Leftover]:
        return [x for x in clean.leftovers()[0] if int(x.owner.partition(":")[0]) in killed.values()]

    left = left_by_the_killed()  # labkit clean finds what the two killed kernels left, and removes it
    assert sum(x.kind == "work directory" for x in left) == len(KILLED), [str(x) for x in left]
    assert owner.remove_all(left) == len(left)
    assert left_by_the_killed() == []


def test_a_failing_cell_is_named_and_fails_the_room(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import nbformat

    from labkit.room import main

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("assert x == 2, 'x is still 1'")])
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    assert main(["--learners", "2", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1:3] == ["learner  0: FAILED in broken.ipynb: cell 1: AssertionError: x is still 1",
                        "learner  1: FAILED in broken.ipynb: cell 1: AssertionError: x is still 1"]
    assert out[3].startswith("0 of 2 learners passed in ")
