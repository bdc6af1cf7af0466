"""Exercises for the course notebooks: a task, an automatic check, a hint and a hidden solution.

labkit's own (Kubernetes has nothing like it); the shape follows notebook graders such as Kaggle's
learntools and otter-grader, kept to what a chapter needs. A notebook declares one
:class:`Exercise`; the learner works in the cells below it and calls:

- ``ex.check()``: runs the check function, which returns what is still wrong (an empty list means
  done), and shows "✔ done" or that exact list. It never raises, so an unsolved exercise cannot break
  the cells after it; an exception inside the check is reported as one more thing still wrong;
- ``ex.hint()``: shows the next hint. Hints are graded: a nudge, then where to look, then the
  answer in words; each call reveals one more (``ex.hint(n)`` shows hint n again);
- ``ex.solution()``: shows the solution's code, which appears nowhere else until asked for;
- ``ex.solve(globals())``: runs the solution in the notebook's namespace when the check still fails
  (and does nothing when it passes). Notebooks call it after the check so the rest of the chapter
  works whether or not the learner solved the exercise; CI runs the notebooks unsolved this way.

Exercises live in :mod:`labkit.labs`, one module per notebook, out of the notebook's sight; each
belongs to a :class:`~labkit.labs.lesson.Lesson`, and a passed check or an applied solution is kept
in the learner's progress (:mod:`labkit.labs.progress`). With ``LABKIT_PROVE_EXERCISES`` naming a
file, as CI sets it, ``solve()`` proves the exercise: it fails when the check passed before the
solution ran (such a check could not tell an unsolved exercise), and appends the check's verdicts
before and after to that file, which ``python -m labkit.labs.proof`` reads back against every lesson.

Everything these calls return is a small value with a deterministic ``text/plain`` repr (nbval
compares it) plus Markdown/HTML for Jupyter; nothing prints, so no text lands in the wrong cell.
"""

from __future__ import annotations

import html
import json
import os
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Check = Callable[[], "list[str]"]
PROVE_ENV = "LABKIT_PROVE_EXERCISES"
SETTLE_SECONDS = 10.0


class Recorder(Protocol):
    """Where an exercise reports its outcomes: a lesson's progress (``labkit.labs.lesson.Lesson``)."""

    @property
    def lesson_id(self) -> str: ...

    def record_exercise(self, key: str, status: str) -> None: ...


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: the exercise's title and what is still wrong (empty = done)."""

    title: str
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        if self.ok:
            return f"✔ done: {self.title}"
        noun = "thing" if len(self.problems) == 1 else "things"
        lines = [f"✘ {self.title}: {len(self.problems)} {noun} still wrong"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if self.ok:
            return (f'<div class="labkit-check labkit-check-ok" style="color:#2e7d32">'
                    f"✔ done: {html.escape(self.title)}</div>")
        items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
        return (f'<div class="labkit-check labkit-check-todo" style="color:#c62828">'
                f"✘ {html.escape(self.title)}: still wrong<ul>{items}</ul></div>")


@dataclass(frozen=True)
class Reveal:
    """A hint or a solution, shown when asked for (``kind`` is "hint", "hint 2 of 3" ... or "solution")."""

    kind: str
    title: str
    body: str

    def __repr__(self) -> str:
        return f"{self.kind[0].upper()}{self.kind[1:]} ({self.title}):\n{self.body}"

    def _repr_markdown_(self) -> str:
        if self.kind == "solution":
            return f"**Solution** ({self.title}):\n\n```python\n{self.body}\n```"
        return f"**{self.kind[0].upper()}{self.kind[1:]}** ({self.title}): {self.body}"


class Exercise:
    """One exercise. ``check`` returns the list of what is still wrong; ``hints`` go from a nudge to
    the answer in words; ``solution`` is Python code that, run in the notebook's namespace, makes the
    check pass. ``lesson`` and ``key`` name it in the learner's progress."""

    def __init__(self, title: str, task: str, *, check: Check, hint: str | Sequence[str], solution: str,
                 lesson: Recorder | None = None, key: str = "") -> None:
        self.title = title
        self.task = textwrap.dedent(task).strip()
        self._check = check
        self._hints = tuple(textwrap.dedent(h).strip() for h in ([hint] if isinstance(hint, str) else hint))
        self._shown = 0
        self._solution = textwrap.dedent(solution).strip()
        self.lesson, self.key = lesson, key or title

    def check(self) -> CheckResult:
        """Run the check now; never raises (a failing check is reported as a problem)."""
        result = self._run_check()
        if result.ok:
            self._record("passed")
        return result

    def _run_check(self) -> CheckResult:
        try:
            problems = tuple(str(p) for p in self._check())
        except Exception as exc:  # noqa: BLE001 - the learner's half-done state may break the check itself
            problems = (f"the check could not run: {type(exc).__name__}: {exc}",)
        return CheckResult(self.title, problems)

    def hint(self, n: int | None = None) -> Reveal:
        """The next hint (or hint ``n``, counted from 1): each call reveals one more, up to the last."""
        if n is None:
            self._shown = min(self._shown + 1, len(self._hints))
            n = self._shown
        if not 1 <= n <= len(self._hints):
            raise ValueError(f"{self.title} has {len(self._hints)} hint(s): ask for 1 to {len(self._hints)}")
        kind = "hint" if len(self._hints) == 1 else f"hint {n} of {len(self._hints)}"
        return Reveal(kind, self.title, self._hints[n - 1])

    def solution(self) -> Reveal:
        return Reveal("solution", self.title, self._solution)

    def solve(self, namespace: dict[str, Any]) -> CheckResult:
        """Apply the solution in ``namespace`` (a notebook passes ``globals()``) unless the check
        already passes, then check again, for up to ``SETTLE_SECONDS`` while controllers catch up
        (a Deployment can be ready a moment before its EndpointSlice says so). The solution's code
        is not shown."""
        before = self._run_check()
        proof = os.environ.get(PROVE_ENV)
        if proof and before.ok:
            raise AssertionError(f"{PROVE_ENV}: the check of {self.title!r} passed before its solution ran, "
                                 "so it cannot tell an unsolved exercise")
        if before.ok:
            self._record("passed")
            return before
        exec(compile(self._solution, f"<solution: {self.title}>", "exec"), namespace)  # noqa: S102
        after = self._run_check()
        deadline = time.monotonic() + SETTLE_SECONDS
        while not after.ok and time.monotonic() < deadline:  # controllers follow the solution's writes
            time.sleep(0.2)
            after = self._run_check()
        if after.ok:
            self._record("solution applied")
        if proof:
            Path(proof).parent.mkdir(parents=True, exist_ok=True)
            with open(proof, "a", encoding="utf-8") as f:
                f.write(json.dumps({"lesson": self.lesson.lesson_id if self.lesson else "", "exercise": self.key,
                                    "unsolved": list(before.problems), "solved": list(after.problems)}) + "\n")
        return after

    def _record(self, status: str) -> None:
        if self.lesson is not None:
            self.lesson.record_exercise(self.key, status)

    def __repr__(self) -> str:
        return f"Exercise: {self.title}\n{self.task}\n(check() · hint() · solution())"

    def _repr_markdown_(self) -> str:
        hints = "a hint" if len(self._hints) == 1 else f"{len(self._hints)} hints, one per call"
        return (f"**Exercise: {self.title}**\n\n{self.task}\n\n"
                f"_Check your work with `.check()`; `.hint()` gives {hints}, and `.solution()` the answer._")
