"""The learner's progress: exercises passed and recap questions answered, per lesson.

labkit's own (Kubernetes has nothing like it). Kept in one JSON file in the learner's data directory,
never in a notebook: ``$LABKIT_DATA_DIR/progress.json``, else ``$XDG_DATA_HOME/labkit/progress.json``,
else ``~/.local/share/labkit/progress.json``. Several kernels may write at once: each write takes an
exclusive ``flock`` on the file's lock, reads, updates and replaces the file whole, so a crash never
leaves half a file. ``labkit progress`` and :func:`view` show it against every lesson of the course.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: exercise statuses, best last: a solution applied by the catch-up cell is not a pass
STATUSES = ("solution applied", "passed")


def data_dir() -> Path:
    if os.environ.get("LABKIT_DATA_DIR"):
        return Path(os.environ["LABKIT_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "labkit"


def path() -> Path:
    return data_dir() / "progress.json"


def load() -> dict[str, Any]:
    """``{lesson id: {"exercises": {key: {"status", "at"}}, "questions": {n: {"right", "at"}}}}``."""
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):  # unreadable: start afresh rather than break a notebook
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def _updating() -> Iterator[dict[str, Any]]:
    file = path()
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load()
        yield data
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, file)


def record_exercise(lesson: str, key: str, status: str) -> None:
    """Keep the best status an exercise reached (a pass is never downgraded)."""
    with _updating() as data:
        exercises = data.setdefault(lesson, {}).setdefault("exercises", {})
        old = exercises.get(key, {}).get("status")
        if old in STATUSES and STATUSES.index(old) >= STATUSES.index(status):
            return
        exercises[key] = {"status": status, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def record_answer(lesson: str, number: int, right: bool) -> None:
    """Keep the latest answer to recap question ``number`` (from 1)."""
    with _updating() as data:
        data.setdefault(lesson, {}).setdefault("questions", {})[str(number)] = {
            "right": right, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def rows() -> list[tuple[str, str, str, str]]:
    """One row per lesson: notebook, title, exercises passed of all, questions right of all."""
    from labkit.labs import lessons

    data = load()
    out = []
    for lesson in lessons():
        mine = data.get(lesson.id, {})
        exercises = mine.get("exercises", {})
        passed = sum(1 for k in lesson.exercises if exercises.get(k, {}).get("status") == "passed")
        applied = sum(1 for k in lesson.exercises if exercises.get(k, {}).get("status") == "solution applied")
        questions = mine.get("questions", {})
        right = sum(1 for n in range(1, len(lesson.questions) + 1) if questions.get(str(n), {}).get("right"))
        ex = f"{passed}/{len(lesson.exercises)}" + (f" (+{applied} from the solution)" if applied else "")
        out.append((lesson.notebook, lesson.title, ex, f"{right}/{len(lesson.questions)}"))
    return out


def text() -> str:
    header = ("notebook", "lesson", "exercises passed", "questions right")
    table = [header, *rows()]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    return "\n".join([*lines, f"(kept in {path()})"])


class Progress:
    """The progress table in a notebook: ``labkit.labs.progress.view()``."""

    def __repr__(self) -> str:
        return text()

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("notebook", "lesson", "exercises passed", "questions right"))
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows())
        return (f'<table class="labkit-progress"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                f"<small>kept in {html.escape(str(path()))}</small>")


def view() -> Progress:
    return Progress()
